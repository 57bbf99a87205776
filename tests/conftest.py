"""One parametrized fixture gives every integration and HTTP test each storage backend."""

import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from fastapi.testclient import TestClient

from support.servers import POSTGRES_URL
from vegsales.api import create_app
from vegsales.rows import BronzeRow, RejectedRow
from vegsales.storage import Store
from vegsales.storage.csv import CsvStore
from vegsales.storage.postgres import PostgresStore
from vegsales.storage.sqlite import SqliteStore

pytest.register_assert_rewrite("tests.oracle")  # so that a failed assert_gold_equals shows what differs


@cache
def postgres_missing() -> str | None:
    """Why no PostgreSQL server answers at POSTGRES_URL (None when one does); asked once per run."""
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.Error as error:
        return f"PostgreSQL not reachable at {POSTGRES_URL} ({str(error).strip()})"
    return None


def needs_postgres(item: pytest.Item) -> bool:
    backend = getattr(item, "callspec", None) and item.callspec.params.get("make_store")
    return "postgres_url" in item.fixturenames or backend == "postgres"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Outside CI, PostgreSQL tests are skipped, with the reason, when no server answers; in CI
    they run and fail (see require_postgres)."""
    postgres_items = [item for item in items if needs_postgres(item)]
    if os.environ.get("CI") or not postgres_items or not (reason := postgres_missing()):
        return
    for item in postgres_items:
        item.add_marker(pytest.mark.skip(reason=f"{reason}; these tests run in CI"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI nothing may skip: a test that needs PostgreSQL, Chromium or an extra must run there, so
    a skipped test fails the run (outside CI it is reported, with its reason, by -ra)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("CI") and skipped and exitstatus == pytest.ExitCode.OK:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; in CI every test must run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def require_postgres() -> None:
    if reason := postgres_missing():
        pytest.fail(f"{reason}: CI must run the PostgreSQL tests")


class Backend(ABC):
    """Where one test keeps its data for one backend; `open()` again is a restart."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path

    @abstractmethod
    def open(self) -> Store: ...

    def remove(self) -> None:  # noqa: B027 - files go with tmp_path; only a database needs removing
        """Delete what the test left."""


class SqliteBackend(Backend):
    def open(self) -> Store:
        return SqliteStore(self.tmp_path / "sales.db")


class CsvBackend(Backend):
    def open(self) -> Store:
        return CsvStore(self.tmp_path / "csv")


class PostgresBackend(Backend):
    """A fresh schema per test in the test database."""

    def __init__(self, tmp_path: Path):
        super().__init__(tmp_path)
        require_postgres()
        self.schema = f"vegsales_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{self.schema}"')

    def open(self) -> Store:
        return PostgresStore(POSTGRES_URL, schema=self.schema)

    def remove(self) -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{self.schema}" CASCADE')


BACKENDS: dict[str, type[Backend]] = {"csv": CsvBackend, "postgres": PostgresBackend, "sqlite": SqliteBackend}


@pytest.fixture(params=sorted(BACKENDS))
def make_store(request, tmp_path) -> Iterator[Callable[[], Store]]:
    """Opens the backend on this test's own location; call again to reopen it (a restart)."""
    backend = BACKENDS[request.param](tmp_path)
    opened: list[Store] = []

    def make() -> Store:
        store = backend.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
    backend.remove()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The test database, in a schema of its own, as a URL that a server takes with --db."""
    require_postgres()
    schema = f"vegsales_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options={quote(f'-c search_path={schema}')}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def store(make_store) -> Store:
    return make_store()


@pytest.fixture
def client(make_store) -> Iterator[TestClient]:
    with TestClient(create_app(make_store())) as test_client:
        yield test_client


def sale(date: str, vegetable: str, kilo_sold) -> dict:
    return {"date": date, "vegetable": vegetable, "kilo_sold": kilo_sold}


RECEIVED = "2026-01-01T00:00:00.000000Z"


def bronze(date: str, vegetable: str, kilo_sold: float, week_start: str | None = None, received_at: str = RECEIVED):
    """A bronze row as a calendar date names it by default: the first day of its week."""
    return BronzeRow(date, vegetable, kilo_sold, week_start or date, received_at)


RECEIVED_AT = "2026-01-01T00:00:"


def kept_rejected(number: int, record: str, errors: str, truncated: bool = False) -> RejectedRow:
    """A quarantined row written straight into a store (as an earlier version would have kept it),
    the `number`th of a few: its own hash, received once, in that order."""
    return RejectedRow(
        f"{number:032x}", record, truncated, errors, f"{RECEIVED_AT}00.000000Z", f"{RECEIVED_AT}0{number}.000000Z", 1
    )


def one_sale_a_month(vegetable: str, months: int, last: float = 100_000.0) -> list[dict]:
    """A 100 kg week on the 1st of each of `months` months from 2010-01 (each week wholly in its
    month), the last one `last` kg. The other months being equal, a bigger last month
    sits (n - 1)/√n sample standard deviations above the vegetable's mean of n months, whatever its
    size: 27 months or more make it an outlier (5.004 at 27, 5.39 at 31), 26 or fewer do not (4.48
    at 22, which 4 standard deviations would flag). Equal months (last=100) are none of them above."""
    dates = [f"{2010 + month // 12}-{month % 12 + 1:02d}-01" for month in range(months)]
    return [sale(date, vegetable, last if date == dates[-1] else 100.0) for date in dates]
