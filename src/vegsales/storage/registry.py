"""Every storage backend in one place: its name, how to open it, where it lives by default,
whether several processes may serve it, and how to recognise its location.

A new backend is one class implementing `Store` and one entry here: the command line, `migrate`,
the worker processes and the contract suite's fixtures read this registry.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .base import Store
from .timeouts import DEFAULT_TIMEOUTS, DatabaseTimeouts

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def _open_sqlite(location: str, timeouts: DatabaseTimeouts) -> Store:
    from .sqlite import SqliteStore

    return SqliteStore(location)


def _open_csv(location: str, timeouts: DatabaseTimeouts) -> Store:
    from .csv import CsvStore

    return CsvStore(location)


def _open_postgres(location: str, timeouts: DatabaseTimeouts) -> Store:
    from .postgres import PostgresStore  # imported only when used: psycopg is an optional extra

    return PostgresStore(location, timeouts=timeouts)


@dataclass(frozen=True)
class Backend:
    name: str
    open: Callable[[str, DatabaseTimeouts], Store]
    """(location, the PostgreSQL waits: the other backends never wait on a server) -> the store."""
    default_location: str
    several_processes: bool
    """False when the data live in one process's memory: it cannot be served by several workers."""
    recognises: Callable[[str], bool]
    location_flag: str
    """The older flag that names this backend's location (`--location` names any)."""


BACKENDS = {
    backend.name: backend
    for backend in (
        Backend(
            "sqlite",
            _open_sqlite,
            "data/sales.db",
            several_processes=True,
            recognises=lambda location: not location.startswith(POSTGRES_SCHEMES),
            location_flag="--db",
        ),
        Backend(
            "csv",
            _open_csv,
            "data/csv",
            several_processes=False,
            recognises=lambda location: Path(location).is_dir() or location.endswith("/"),
            location_flag="--data-dir",
        ),
        Backend(
            "postgres",
            _open_postgres,
            "postgresql://127.0.0.1:5432/vegsales",
            several_processes=True,
            recognises=lambda location: location.startswith(POSTGRES_SCHEMES),
            location_flag="--db",
        ),
    )
}


def backend_of(location: str) -> Backend:
    """The backend a location names: a PostgreSQL URL, a CSV folder (existing, or ending in /), else a SQLite file."""
    for name in ("postgres", "csv", "sqlite"):
        if BACKENDS[name].recognises(location):
            return BACKENDS[name]
    raise AssertionError("the sqlite backend recognises every other location")


def open_store(location: str, backend: str | None = None, timeouts: DatabaseTimeouts = DEFAULT_TIMEOUTS) -> Store:
    """The one place that opens a store: `backend` by name, or the one `location` names."""
    return (BACKENDS[backend] if backend else backend_of(location)).open(location, timeouts)
