"""Serve the API with uvicorn, in one process or several on one database."""

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from .api import Limits, SalesApp, create_app
from .pipeline import SyncReport, sync_with_rules
from .quarantine import MAX_REJECTED
from .records import WeekDate
from .silver import FeedRules
from .storage import Store
from .vegetables import Vocabulary

log = logging.getLogger("vegsales")
DEFAULT_LOCATIONS = {"sqlite": "data/sales.db", "csv": "data/csv", "postgres": "postgresql://127.0.0.1:5432/vegsales"}
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SINGLE_PROCESS_BACKENDS = {"csv"}
"""Backends whose data live in one process's memory: they cannot be served by several workers."""


@dataclass(frozen=True)
class Settings:
    """What a server process needs to build its app; passed to worker processes as VEGSALES_* variables."""

    backend: str = "sqlite"
    location: str | None = None
    vocabulary: Path | None = None
    week_date: WeekDate = "start"
    max_rejected: int = MAX_REJECTED

    @property
    def store_location(self) -> str:
        return self.location or DEFAULT_LOCATIONS[self.backend]

    def to_environment(self) -> dict[str, str]:
        variables = {
            "VEGSALES_BACKEND": self.backend,
            "VEGSALES_LOCATION": self.store_location,
            "VEGSALES_WEEK_DATE": self.week_date,
            "VEGSALES_MAX_REJECTED": str(self.max_rejected),
        }
        if self.vocabulary:
            variables["VEGSALES_VOCABULARY"] = str(self.vocabulary)
        return variables

    @classmethod
    def from_environment(cls) -> "Settings":
        vocabulary = os.environ.get("VEGSALES_VOCABULARY")
        return cls(
            backend=os.environ.get("VEGSALES_BACKEND", "sqlite"),
            location=os.environ.get("VEGSALES_LOCATION"),
            vocabulary=Path(vocabulary) if vocabulary else None,
            week_date="end" if os.environ.get("VEGSALES_WEEK_DATE") == "end" else "start",
            max_rejected=int(os.environ.get("VEGSALES_MAX_REJECTED", MAX_REJECTED)),
        )


def backend_for(backend: str, location: str | None) -> str:
    """`--db postgresql://...` on the default (sqlite) backend means PostgreSQL."""
    is_url = location is not None and location.startswith(POSTGRES_SCHEMES)
    return "postgres" if backend == "sqlite" and is_url else backend


def open_store(backend: str, location: str) -> Store:
    """The one place that picks the storage backend."""
    if backend == "csv":
        from .storage.csv import CsvStore

        return CsvStore(location)
    if backend == "postgres":
        from .storage.postgres import PostgresStore

        return PostgresStore(location)
    from .storage.sqlite import SqliteStore

    return SqliteStore(location)


def build_app(settings: Settings) -> SalesApp:
    """The app over the configured store, its data first brought in line with the rules."""
    rules = FeedRules(Vocabulary.load(settings.vocabulary), settings.week_date)
    store = open_store(settings.backend, settings.store_location)
    try:
        log_sync(sync_with_rules(store, rules))
    except BaseException:
        store.close()
        raise
    return create_app(store, rules, Limits(max_rejected=settings.max_rejected))


def log_sync(report: SyncReport) -> None:
    if report.week_date_changed:
        log.warning(
            "week date changed (%s): bronze re-keyed, silver and gold rebuilt from bronze; %d rows superseded",
            report.week_date_changed,
            len(report.superseded),
        )
        for row in report.superseded:
            log.warning("superseded by a later record of the same week: %s", row)
    if report.renamed:
        log.warning("vocabulary changed for %d stored names: silver and gold rebuilt from bronze", len(report.renamed))
    if report.replay and (report.replay.replayed or report.replay.still_rejected):
        log.warning(
            "rules changed: quarantine replayed %d, still rejected %d",
            report.replay.replayed,
            report.replay.still_rejected,
        )


def app_from_environment() -> SalesApp:
    """App factory for worker processes (uvicorn --factory)."""
    return build_app(Settings.from_environment())


def serve(app: SalesApp, settings: Settings, host: str, port: int, workers: int = 1, access_log: bool = False) -> None:
    """Run `app` until interrupted; with several workers, each builds its own from `settings`
    and they share the port (the store serialises their writes)."""
    options = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": access_log,
        "log_level": "info",
    }
    if workers == 1:
        uvicorn.run(app, **options)
        return
    app.close()
    os.environ.update(settings.to_environment())
    uvicorn.run("vegsales.server:app_from_environment", factory=True, workers=workers, **options)
