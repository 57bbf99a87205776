"""Stores written by schema version 1 open with this release and serve the same rows (fixtures from v1)."""

import json
import shutil
import sqlite3
import uuid
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.conftest import POSTGRES_URL, require_postgres, sale
from vegsales.api import create_app
from vegsales.storage import StorageError
from vegsales.storage.csv import CsvStore
from vegsales.storage.csv_format import BadFile
from vegsales.storage.postgres import PostgresStore
from vegsales.storage.sqlite import SqliteStore

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "store-v1"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture
def postgres_schema():
    require_postgres()
    schema = f"vegsales_v1_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
        connection.execute(f'SET search_path TO "{schema}"')
        connection.execute((FIXTURES / "postgres.sql").read_text(encoding="utf-8"))
    yield schema
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def open_version_1(backend: str, tmp_path: Path, schema: str | None):
    if backend == "sqlite":
        shutil.copy(FIXTURES / "sales.db", tmp_path / "sales.db")
        return lambda: SqliteStore(tmp_path / "sales.db")
    if backend == "csv":
        shutil.copytree(FIXTURES / "csv", tmp_path / "csv")
        return lambda: CsvStore(tmp_path / "csv")
    return lambda: PostgresStore(POSTGRES_URL, schema=schema)


@pytest.mark.parametrize("backend", ["csv", "postgres", "sqlite"])
def test_a_version_1_store_opens_and_serves_the_same_rows(backend, tmp_path, request):
    schema = request.getfixturevalue("postgres_schema") if backend == "postgres" else None
    open_store = open_version_1(backend, tmp_path, schema)
    with TestClient(create_app(open_store())) as client:
        assert client.get("/get_raw_sales").json() == EXPECTED["raw"]
        assert client.get("/get_monthly_sales").json() == EXPECTED["monthly"]
        # the migrated store takes new posts under the same keys
        first = EXPECTED["raw"][0]
        again = client.post("/post_sales", json=[first, sale(first["date"], first["vegetable"], 1.5)]).json()
        assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 1, 1)
    store = open_store()  # a second start finds version 2 and changes nothing
    try:
        assert {key: value for key, value in store.meta().items() if key != "rules"} == {
            "schema_version": "2",
            "week_date": "start",
        }
        assert len(store.bronze_changes(None).rows) == len(EXPECTED["raw"])
    finally:
        store.close()


def test_the_version_1_fixture_really_is_version_1():
    connection = sqlite3.connect(FIXTURES / "sales.db")
    columns = [row[1] for row in connection.execute("PRAGMA table_info(bronze_sales)")]
    tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    connection.close()
    assert columns == ["date", "vegetable", "kilo_sold", "change_seq"]
    assert "store_meta" not in tables
    assert (FIXTURES / "csv" / "bronze.csv").read_text().startswith("date,vegetable,kilo_sold\n")
    assert len(EXPECTED["raw"]) == 149


def test_a_store_from_a_newer_release_is_refused(tmp_path):
    SqliteStore(tmp_path / "sales.db").close()
    connection = sqlite3.connect(tmp_path / "sales.db")
    connection.execute("UPDATE store_meta SET value = '3' WHERE key = 'schema_version'")
    connection.commit()
    connection.close()
    with pytest.raises(StorageError, match=r"written by a newer vegsales \(schema version 3, this one knows 2\)"):
        SqliteStore(tmp_path / "sales.db")
    CsvStore(tmp_path / "csv").close()
    (tmp_path / "csv" / "meta.csv").write_text("key,value\nschema_version,3\n")
    with pytest.raises(BadFile, match="schema version 3, this vegsales knows 2"):
        CsvStore(tmp_path / "csv")
