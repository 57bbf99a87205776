"""What only the SQLite backend promises."""

import sqlite3
import time

import pytest

from tests.conftest import bronze
from vegsales.storage import StoreBusy
from vegsales.storage.sqlite import SqliteStore


def test_the_database_file_and_its_folders_are_created(tmp_path):
    path = tmp_path / "a" / "b" / "sales.db"
    store = SqliteStore(path)
    store.close()
    tables = {name for (name,) in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"bronze_sales", "silver_sales", "gold_sales", "rejected_sales", "store_meta"} <= tables


def test_two_stores_on_one_file_see_each_others_writes(tmp_path):
    first, second = SqliteStore(tmp_path / "sales.db"), SqliteStore(tmp_path / "sales.db")
    cursor = second.bronze_changes(None).cursor
    with first.write() as transaction:
        transaction.put_bronze([bronze("2020-01-06", "Tomate", 7.0)])
    assert second.bronze_changes(cursor).rows == [bronze("2020-01-06", "Tomate", 7.0)]
    first.init()
    assert second.bronze_changes(cursor).reset
    first.close()
    second.close()


def test_a_second_process_is_told_the_database_is_busy_instead_of_waiting(tmp_path):
    first, second = SqliteStore(tmp_path / "sales.db"), SqliteStore(tmp_path / "sales.db")
    with first.write() as transaction:
        transaction.put_bronze([bronze("2020-01-06", "Tomate", 7.0)])
        with pytest.raises(StoreBusy), second.write(wait=False):
            pass
    with second.write(wait=False) as transaction:
        transaction.put_bronze([bronze("2020-01-13", "Tomate", 7.0)])
    first.close()
    second.close()


def wal_bytes(path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_the_wal_is_truncated_once_writes_pause_and_init_gives_the_space_back(tmp_path):
    empty = SqliteStore(tmp_path / "empty.db")
    empty.close()
    path = tmp_path / "sales.db"
    store = SqliteStore(path)
    rows = [bronze(f"2020-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}", f"name{i}", float(i)) for i in range(60_000)]
    with store.write() as transaction:
        transaction.put_bronze(rows)
    assert wal_bytes(path) > 4 * 1024 * 1024
    deadline = time.monotonic() + 10
    while wal_bytes(path) > 4 * 1024 * 1024 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert wal_bytes(path) <= 4 * 1024 * 1024
    assert path.stat().st_size > 4 * (tmp_path / "empty.db").stat().st_size
    store.init()
    assert path.stat().st_size == (tmp_path / "empty.db").stat().st_size
    assert wal_bytes(path) == 0
    store.close()
