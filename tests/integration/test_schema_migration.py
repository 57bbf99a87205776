"""Stores written by older schema versions open with this release and serve the same rows (fixtures
written by the releases of those versions)."""

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

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VERSIONS = (1, 2)


def fixture(version: int) -> Path:
    return FIXTURES / f"store-v{version}"


def expected(version: int) -> dict:
    return json.loads((fixture(version) / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture
def postgres_schema(version):
    require_postgres()
    schema = f"vegsales_v{version}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
        connection.execute(f'SET search_path TO "{schema}"')
        connection.execute((fixture(version) / "postgres.sql").read_text(encoding="utf-8"))
    yield schema
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def open_old_store(version: int, backend: str, tmp_path: Path, schema: str | None):
    if backend == "sqlite":
        shutil.copy(fixture(version) / "sales.db", tmp_path / "sales.db")
        return lambda: SqliteStore(tmp_path / "sales.db")
    if backend == "csv":
        shutil.copytree(fixture(version) / "csv", tmp_path / "csv")
        return lambda: CsvStore(tmp_path / "csv")
    return lambda: PostgresStore(POSTGRES_URL, schema=schema)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("backend", ["csv", "postgres", "sqlite"])
def test_an_older_store_opens_and_serves_the_same_rows(version, backend, tmp_path, request):
    schema = request.getfixturevalue("postgres_schema") if backend == "postgres" else None
    open_store = open_old_store(version, backend, tmp_path, schema)
    rows = expected(version)
    with TestClient(create_app(open_store())) as client:
        assert client.get("/get_raw_sales").json() == rows["raw"]
        assert client.get("/get_monthly_sales").json() == rows["monthly"]
        # the migrated store takes new posts under the same keys
        first = rows["raw"][0]
        again = client.post("/post_sales", json=[first, sale(first["date"], first["vegetable"], 1.5)]).json()
        assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 1, 1)
    store = open_store()  # a second start finds the current version and changes nothing
    try:
        assert {key: value for key, value in store.meta().items() if key != "rules"} == {
            "schema_version": "3",
            "week_date": "start",
        }
        assert len(store.bronze_changes(None).rows) == len(rows["raw"])
    finally:
        store.close()


def test_the_version_1_fixture_really_is_version_1():
    connection = sqlite3.connect(fixture(1) / "sales.db")
    columns = [row[1] for row in connection.execute("PRAGMA table_info(bronze_sales)")]
    tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    connection.close()
    assert columns == ["date", "vegetable", "kilo_sold", "change_seq"]
    assert "store_meta" not in tables
    assert (fixture(1) / "csv" / "bronze.csv").read_text().startswith("date,vegetable,kilo_sold\n")
    assert len(expected(1)["raw"]) == 149


def test_the_version_2_fixture_really_is_version_2():
    connection = sqlite3.connect(fixture(2) / "sales.db")
    (key,) = connection.execute("SELECT sql FROM sqlite_master WHERE name = 'bronze_sales'").fetchone()
    (version,) = connection.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
    connection.close()
    assert "PRIMARY KEY (week_start, vegetable)" in key
    assert version == "2"
    assert "schema_version,2\n" in (fixture(2) / "csv" / "meta.csv").read_text()
    assert "PRIMARY KEY (week_start, raw_vegetable)" in (fixture(2) / "postgres.sql").read_text()
    assert len(expected(2)["raw"]) == 324


def test_a_store_from_a_newer_release_is_refused(tmp_path):
    SqliteStore(tmp_path / "sales.db").close()
    connection = sqlite3.connect(tmp_path / "sales.db")
    connection.execute("UPDATE store_meta SET value = '4' WHERE key = 'schema_version'")
    connection.commit()
    connection.close()
    with pytest.raises(StorageError, match=r"written by a newer vegsales \(schema version 4, this one knows 3\)"):
        SqliteStore(tmp_path / "sales.db")
    CsvStore(tmp_path / "csv").close()
    (tmp_path / "csv" / "meta.csv").write_text("key,value\nschema_version,4\n")
    with pytest.raises(BadFile, match="schema version 4, this vegsales knows 3"):
        CsvStore(tmp_path / "csv")
