"""A commit that fails (disk full) leaves the store as it left its files or database, on every backend:
every read answers what a store reopened from disk answers, and the next commit stores exactly
what it acknowledges."""

import errno
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.conftest import POSTGRES_URL, bronze, sale
from vegsales.api import Limits, create_app
from vegsales.pipeline import ingest
from vegsales.rows import GoldRow
from vegsales.silver import FeedRules
from vegsales.storage import StorageError, Store
from vegsales.storage import folder_commit as folder_commit_module
from vegsales.storage.csv import LOCK_FILE, CsvStore
from vegsales.storage.folder_commit import COMMIT, NEW_COMMIT
from vegsales.storage.postgres import PostgresStore
from vegsales.storage.sqlite import SqliteStore

RULES = FeedRules()
FIRST, SECOND = "2026-01-01T00:00:00.000000Z", "2026-01-02T00:00:00.000000Z"
MAX_REJECTED = 3
STORED = [
    sale("2020-01-06", "Tomate", 70),
    sale("2020-01-13", "Poire", 7),
    sale("2020-01-06", "mango", 1),  # quarantined: unknown vegetable
    sale("not a date", "Tomate", 1),  # quarantined: bad date
]
FAILING = [  # new bronze rows, an updated one, new gold months, quarantined records (one already kept)
    sale("2020-01-20", "Tomate", 30),
    sale("2020-01-13", "Poire", 9),
    sale("2020-02-03", "Poire", 14),
    sale("2020-01-06", "mango", 1),
    sale("2020-01-06", "xyzzy", 2),
    sale("2020-01-27", "Tomate", -5),
]
BRONZE_STORED = [
    bronze("2020-01-06", "Tomate", 70.0, received_at=FIRST),
    bronze("2020-01-13", "Poire", 7.0, received_at=FIRST),
]
BRONZE_FAILING = [  # what the failing post writes, in key order (week, vegetable)
    bronze("2020-01-13", "Poire", 9.0, received_at=SECOND),
    bronze("2020-01-20", "Tomate", 30.0, received_at=SECOND),
    bronze("2020-02-03", "Poire", 14.0, received_at=SECOND),
]
GOLD_STORED = [GoldRow("2020-01", "pear", 7.0, False), GoldRow("2020-01", "tomato", 70.0, False)]
GOLD_FAILING = [
    GoldRow("2020-01", "pear", 9.0, False),
    GoldRow("2020-01", "tomato", 100.0, False),
    GoldRow("2020-02", "pear", 14.0, False),
]
SILVER_VEGETABLES = ("pear", "tomato")


def by_key(rows: list[Any]) -> list[Any]:
    return sorted(rows, key=lambda row: row.key)


ALL_VERSIONS = 2**62


def reads(store: Store) -> dict[str, Any]:
    """Everything the store answers: tables, quarantine, settings and counters, sizes, data versions
    and the row history."""
    with store.write() as transaction:  # silver is read only inside a transaction; this one writes nothing
        silver = {
            vegetable: transaction.silver_rows(vegetable, "0001-01-01", "9999-12-31") for vegetable in SILVER_VEGETABLES
        }
    return {
        "bronze": by_key(store.bronze_changes(None).rows),
        "silver": silver,
        "gold": by_key(store.gold_changes(None).rows),
        "rejected": store.rejected_sales(limit=1000),
        "meta": store.meta(),
        "sizes": store.table_sizes(),
        "data_version": store.data_version(),
        "versions": store.versions(ALL_VERSIONS),
        "history": by_key(store.history(ALL_VERSIONS)),
    }


@contextmanager
def reopened(make_store, store: Store, tmp_path) -> Iterator[Store]:
    """Another store on what `store` has on disk now, as a restart would open it (a CSV folder is
    copied: it takes one process at a time)."""
    if isinstance(store, CsvStore):
        copy = tmp_path / f"copy-{len(list(tmp_path.iterdir()))}"
        shutil.copytree(store.folder, copy, ignore=shutil.ignore_patterns(LOCK_FILE))
        fresh: Store = CsvStore(copy)
    else:
        fresh = make_store()  # closed by the fixture
    try:
        yield fresh
    finally:
        if isinstance(fresh, CsvStore):
            fresh.close()


class FullDisk:
    """A file of the folder commit whose first write fails: no space left on the device."""

    def __init__(self, file: Any):
        self._file = file

    def __enter__(self) -> "FullDisk":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._file.close()

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


class CommitFails:
    """A SQLite connection whose next COMMIT fails as on a full disk."""

    def __init__(self, connection: sqlite3.Connection):
        self._connection = connection
        self.failed = False

    def execute(self, sql: str, *parameters: Any) -> Any:
        if sql == "COMMIT" and not self.failed:
            self.failed = True
            raise sqlite3.OperationalError("database or disk is full")
        return self._connection.execute(sql, *parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


@contextmanager
def next_commit_fails(store: Store, monkeypatch) -> Iterator[None]:
    """The store's next commit fails as on a full disk, at the point where each backend commits:
    the CSV folder commit's file write, SQLite's COMMIT, PostgreSQL's COMMIT (a deferred trigger)."""
    if isinstance(store, CsvStore):
        real_open, calls = open, []

        def open_on_full_disk(*args: Any, **kwargs: Any) -> Any:
            calls.append(args[0])
            file = real_open(*args, **kwargs)
            return FullDisk(file) if len(calls) == 1 else file

        with monkeypatch.context() as patch:
            patch.setattr(folder_commit_module, "open", open_on_full_disk, raising=False)
            yield
        assert calls, "the folder commit wrote no file"
    elif isinstance(store, SqliteStore):
        proxy = CommitFails(store._writer)
        with monkeypatch.context() as patch:
            patch.setattr(store, "_writer", proxy)
            yield
        assert proxy.failed, "no COMMIT was attempted"
    else:
        assert isinstance(store, PostgresStore)
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'SET search_path = "{store.schema}"')
            connection.execute(
                "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; "
                "END $$"
            )
            connection.execute(
                "CREATE CONSTRAINT TRIGGER disk_full AFTER INSERT OR UPDATE ON bronze_sales "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION disk_full()"
            )
            try:
                yield
            finally:
                connection.execute("DROP TRIGGER disk_full ON bronze_sales")
                connection.execute("DROP FUNCTION disk_full()")


def test_a_failed_commit_leaves_every_read_as_the_store_reopened_from_disk_reads_it(make_store, tmp_path, monkeypatch):
    store = make_store()
    ingest(store, RULES, STORED, received_at=FIRST, max_rejected=MAX_REJECTED)
    bronze_cursor, gold_cursor = store.bronze_changes(None).cursor, store.gold_changes(None).cursor
    before = reads(store)
    assert (before["bronze"], before["gold"]) == (BRONZE_STORED, GOLD_STORED)
    assert sorted((row.record, row.times) for row in before["rejected"][0]) == [
        ('{"date":"2020-01-06","vegetable":"mango","kilo_sold":1}', 1),
        ('{"date":"not a date","vegetable":"Tomate","kilo_sold":1}', 1),
    ]

    with (
        next_commit_fails(store, monkeypatch),
        pytest.raises(StorageError, match=r"No space left on device|database or disk is full"),
    ):
        ingest(store, RULES, FAILING, received_at=SECOND, max_rejected=MAX_REJECTED)

    after = reads(store)
    with reopened(make_store, store, tmp_path) as fresh:
        assert reads(fresh) == after
    assert after == before
    assert "rejected_dropped" not in after["meta"]
    bronze_changes, gold_changes = store.bronze_changes(bronze_cursor), store.gold_changes(gold_cursor)
    assert (bronze_changes.cursor, bronze_changes.rows, bronze_changes.reset) == (bronze_cursor, [], False)
    assert (gold_changes.cursor, gold_changes.rows, gold_changes.reset) == (gold_cursor, [], False)

    # The store goes on: the same post again is stored whole, and is all that changed since the cursors.
    report = ingest(store, RULES, FAILING, received_at=SECOND, max_rejected=MAX_REJECTED)
    assert (report.inserted, report.updated, report.unchanged, len(report.rejected)) == (2, 1, 0, 3)
    assert by_key(store.bronze_changes(bronze_cursor).rows) == BRONZE_FAILING
    assert by_key(store.gold_changes(gold_cursor).rows) == GOLD_FAILING
    stored = reads(store)
    assert stored["bronze"] == by_key([BRONZE_STORED[0], *BRONZE_FAILING])
    assert stored["gold"] == GOLD_FAILING
    rows, total = stored["rejected"]
    assert total == MAX_REJECTED
    assert sorted((row.record, row.times, row.last_received) for row in rows) == [
        ('{"date":"2020-01-06","vegetable":"mango","kilo_sold":1}', 2, SECOND),
        ('{"date":"2020-01-06","vegetable":"xyzzy","kilo_sold":2}', 1, SECOND),
        ('{"date":"2020-01-27","vegetable":"Tomate","kilo_sold":-5}', 1, SECOND),
    ]
    assert stored["meta"]["rejected_dropped"] == "1"  # the bad date, least recently received
    # the row history holds the rows of the first post's version and of this one, none of the failed one
    first, second = before["data_version"], before["data_version"] + 1
    assert stored["data_version"] == second
    states = sorted(
        (row.data_version, table, key)
        for row in stored["history"]
        for table, rows in orjson.loads(row.row_values).items()
        for key in rows
    )
    assert states == [
        (first, "bronze_sales", "2020-01-06\x1fTomate"),
        (first, "bronze_sales", "2020-01-13\x1fPoire"),
        (first, "gold_sales", "2020-01\x1fpear"),
        (first, "gold_sales", "2020-01\x1ftomato"),
        (second, "bronze_sales", "2020-01-13\x1fPoire"),
        (second, "bronze_sales", "2020-01-20\x1fTomate"),
        (second, "bronze_sales", "2020-02-03\x1fPoire"),
        (second, "gold_sales", "2020-01\x1fpear"),
        (second, "gold_sales", "2020-01\x1ftomato"),
        (second, "gold_sales", "2020-02\x1fpear"),
    ]
    store.close()
    with reopened(make_store, store, tmp_path) as fresh:
        assert reads(fresh) == stored


def test_a_post_whose_commit_fails_answers_503_and_every_get_answers_what_is_on_disk(make_store, tmp_path, monkeypatch):
    store = make_store()
    paths = ["/get_raw_sales", "/get_monthly_sales", "/get_monthly_sales?remove_outliers=true", "/get_rejected_sales"]

    def answers(client: TestClient) -> dict[str, Any]:
        responses = {path: client.get(path) for path in paths}
        assert all(response.status_code == 200 for response in responses.values()), responses
        return {path: response.json() for path, response in responses.items()}

    def answers_from_disk() -> dict[str, Any]:
        with reopened(make_store, store, tmp_path) as fresh, TestClient(create_app(fresh)) as client:
            return answers(client)

    limits = Limits(max_rejected=MAX_REJECTED)
    with TestClient(create_app(store, limits=limits)) as client:
        assert client.post("/post_sales", json=STORED).status_code == 200
        served = answers(client)  # the app's cached bodies now hold the stored version
        assert len(served["/get_rejected_sales"]["rows"]) == 2

        with next_commit_fails(store, monkeypatch):
            response = client.post("/post_sales", json=FAILING)
        assert response.status_code == 503
        assert response.json()["error"] == "storage_unavailable"
        assert answers(client) == answers_from_disk() == served

        again = client.post("/post_sales", json=FAILING)
        assert again.status_code == 200
        assert (again.json()["inserted"], again.json()["updated"], len(again.json()["rejected"])) == (2, 1, 3)
        served = answers(client)
        assert served == answers_from_disk()
        assert served["/get_raw_sales"] == [
            sale("2020-01-06", "Tomate", 70.0),
            sale("2020-01-13", "Poire", 9.0),
            sale("2020-01-20", "Tomate", 30.0),
            sale("2020-02-03", "Poire", 14.0),
        ]
        assert served["/get_monthly_sales"] == [
            {"year_month": "2020-01", "vegetable": "pear", "kilo_sold": 9.0, "is_outlier": False},
            {"year_month": "2020-01", "vegetable": "tomato", "kilo_sold": 100.0, "is_outlier": False},
            {"year_month": "2020-02", "vegetable": "pear", "kilo_sold": 14.0, "is_outlier": False},
        ]
        rejected = served["/get_rejected_sales"]
        assert (rejected["total"], rejected["dropped"]) == (3, 1)
        assert sorted((row["record"]["vegetable"], row["times"]) for row in rejected["rows"]) == [
            ("Tomate", 1),
            ("mango", 2),
            ("xyzzy", 1),
        ]


# -- CSV: a real failed file write at each step before the commit point ----------------------------


def full_disk_on_first_call(function: Any) -> Any:
    calls = []

    def fail_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return function(*args, **kwargs)

    return fail_once


def fail_file_write(monkeypatch) -> None:
    real_open = open
    monkeypatch.setattr(
        folder_commit_module, "open", lambda *args, **kwargs: FullDisk(real_open(*args, **kwargs)), raising=False
    )


def fail_fsync(monkeypatch) -> None:
    monkeypatch.setattr(os, "fsync", full_disk_on_first_call(os.fsync))


def fail_rename(monkeypatch) -> None:
    monkeypatch.setattr(os, "rename", full_disk_on_first_call(os.rename))


def files(folder) -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.iterdir()) if path.name != LOCK_FILE}


@pytest.mark.parametrize("fail", [fail_file_write, fail_fsync, fail_rename], ids=["write", "fsync", "rename"])
def test_a_csv_commit_that_fails_before_its_commit_point_changes_no_file_and_no_read(tmp_path, monkeypatch, fail):
    folder = tmp_path / "csv"
    store = CsvStore(folder)
    ingest(store, RULES, STORED, received_at=FIRST, max_rejected=MAX_REJECTED)
    on_disk, before = files(folder), reads(store)

    with monkeypatch.context() as patch:
        fail(patch)
        with pytest.raises(StorageError, match="No space left on device"):
            ingest(store, RULES, FAILING, received_at=SECOND, max_rejected=MAX_REJECTED)
    assert files(folder) == on_disk  # no table rewritten, no .commit-new/ left taking space
    assert reads(store) == before
    store.check()

    assert ingest(store, RULES, FAILING, received_at=SECOND, max_rejected=MAX_REJECTED).inserted == 2
    assert files(folder)["bronze.csv"] == (
        "date,vegetable,kilo_sold,week_start,received_at\n"
        f"2020-01-06,Tomate,70.0,2020-01-06,{FIRST}\n"
        f"2020-01-13,Poire,9.0,2020-01-13,{SECOND}\n"
        f"2020-01-20,Tomate,30.0,2020-01-20,{SECOND}\n"
        f"2020-02-03,Poire,14.0,2020-02-03,{SECOND}\n"
    )
    assert files(folder)["gold.csv"] == (
        "year_month,vegetable,kilo_sold,is_outlier\n"
        "2020-01,pear,9.0,false\n2020-01,tomato,100.0,false\n2020-02,pear,14.0,false\n"
    )
    assert files(folder)["meta.csv"] == "key,value\nrejected_dropped,1\nschema_version,5\n"
    assert len(files(folder)["rejected.csv"].splitlines()) == 1 + MAX_REJECTED
    stored = reads(store)
    store.close()
    reopened_store = CsvStore(folder)
    assert reads(reopened_store) == stored
    reopened_store.close()


def test_a_csv_commit_whose_rename_reports_an_error_after_renaming_is_committed(tmp_path, monkeypatch):
    folder = tmp_path / "csv"
    store = CsvStore(folder)
    real_rename = os.rename

    def rename_then_fail(source: Any, target: Any) -> None:
        real_rename(source, target)
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    with monkeypatch.context() as patch:
        patch.setattr(os, "rename", rename_then_fail)
        assert ingest(store, RULES, STORED[:1], received_at=FIRST).inserted == 1  # on disk, in .commit/
    assert (folder / COMMIT).is_dir()
    assert store.bronze_changes(None).rows == BRONZE_STORED[:1]
    with reopened(None, store, tmp_path) as fresh:
        assert reads(fresh) == reads(store)
    assert ingest(store, RULES, STORED[1:2], received_at=FIRST).inserted == 1
    assert not (folder / COMMIT).exists() and not (folder / NEW_COMMIT).exists()
    assert files(folder)["bronze.csv"] == (
        "date,vegetable,kilo_sold,week_start,received_at\n"
        f"2020-01-06,Tomate,70.0,2020-01-06,{FIRST}\n2020-01-13,Poire,7.0,2020-01-13,{FIRST}\n"
    )
    store.close()
