"""What only the SQLite backend promises."""

import sqlite3

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
