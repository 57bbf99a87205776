"""Stores written by older schema versions open with this release and serve the same rows (fixtures
written by the releases of those versions)."""

import json
import re
import shutil
import sqlite3
import uuid
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.conftest import POSTGRES_URL, require_postgres, sale
from tests.integration.catalog import postgres_schema as postgres_schema_of
from tests.integration.catalog import sqlite_schema
from vegsales.api import create_app
from vegsales.storage import StorageError, migrations
from vegsales.storage.csv import CsvStore
from vegsales.storage.migrations import to_v2, to_v3, to_v4, to_v5
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
        raw = client.get("/get_raw_sales")
        assert raw.json() == rows["raw"]
        assert client.get("/get_monthly_sales").json() == rows["monthly"]
        started_at = raw.headers["X-Data-Version"]
        # the migrated store takes new posts under the same keys
        first = rows["raw"][0]
        again = client.post("/post_sales", json=[first, sale(first["date"], first["vegetable"], 1.5)]).json()
        assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 1, 1)
        assert again["data_version"] == int(started_at) + 1
        # its row history starts with the rows it had when it was first served
        assert client.get("/get_raw_sales", params={"as_of": started_at}).json() == rows["raw"]
        assert client.get("/get_monthly_sales", params={"as_of": started_at}).json() == rows["monthly"]
    store = open_store()  # a second start finds the current version and changes nothing
    try:
        assert {key: value for key, value in store.meta().items() if key != "rules"} == {
            "schema_version": "5",
            "week_date": "start",
            "history_from": started_at,
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


NEWER = "it was written by a newer vegsales (schema version 6, this one knows 5)"


@pytest.mark.parametrize(
    "backend, refused_as",
    [
        ("csv", r"cannot use data folder \S+/csv: "),
        ("postgres", r"cannot open PostgreSQL database .*dbname=test.*: "),
        ("sqlite", r"cannot open SQLite database \S+/sales\.db: "),
    ],
)
def test_a_store_from_a_newer_release_is_refused_with_the_same_message(backend, refused_as, tmp_path, request):
    if backend == "sqlite":
        SqliteStore(tmp_path / "sales.db").close()
        with sqlite3.connect(tmp_path / "sales.db") as connection:
            connection.execute("UPDATE store_meta SET value = '6' WHERE key = 'schema_version'")
        connection.close()
        reopen = lambda: SqliteStore(tmp_path / "sales.db")  # noqa: E731
    elif backend == "csv":
        CsvStore(tmp_path / "csv").close()
        (tmp_path / "csv" / "meta.csv").write_text("key,value\nschema_version,6\n")
        reopen = lambda: CsvStore(tmp_path / "csv")  # noqa: E731
    else:
        schema = request.getfixturevalue("empty_schema")
        PostgresStore(POSTGRES_URL, schema=schema).close()
        with psycopg.connect(POSTGRES_URL, autocommit=True, options=f"-c search_path={schema}") as connection:
            connection.execute("UPDATE store_meta SET value = '6' WHERE key = 'schema_version'")
        reopen = lambda: PostgresStore(POSTGRES_URL, schema=schema)  # noqa: E731
    with pytest.raises(StorageError) as refused:
        reopen()
    assert re.fullmatch(refused_as + re.escape(NEWER), str(refused.value))


def test_an_older_store_is_migrated_one_version_at_a_time():
    assert migrations.steps_from(1) == [(1, to_v2.STEP), (2, to_v3.STEP), (3, to_v4.STEP), (4, to_v5.STEP)]
    assert migrations.steps_from(2) == [(2, to_v3.STEP), (3, to_v4.STEP), (4, to_v5.STEP)]
    assert migrations.steps_from(3) == [(3, to_v4.STEP), (4, to_v5.STEP)]
    assert migrations.steps_from(4) == [(4, to_v5.STEP)]
    assert migrations.steps_from(5) == []
    with pytest.raises(StorageError, match=re.escape(NEWER)):
        migrations.steps_from(6)


# -- a new store's schema is the one the previous release created; a migrated store's too ----------

CURRENT = fixture(5)


@pytest.fixture
def empty_schema():
    require_postgres()
    schema = f"vegsales_schema_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    yield schema
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def reference(name: str):
    return json.loads((CURRENT / name).read_text(encoding="utf-8"))


def csv_headers(folder: Path) -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8").splitlines(keepends=True)[0] for path in folder.glob("*.csv")}


def test_a_new_sqlite_store_has_the_schema_the_previous_release_created(tmp_path):
    SqliteStore(tmp_path / "sales.db").close()
    assert sqlite_schema(tmp_path / "sales.db") == reference("sqlite_master.json")


def test_a_new_postgres_store_has_the_schema_the_previous_release_created(empty_schema):
    PostgresStore(POSTGRES_URL, schema=empty_schema).close()
    assert postgres_schema_of(POSTGRES_URL, empty_schema) == reference("postgres_catalog.json")


def test_a_new_csv_folder_has_the_files_the_previous_release_created(tmp_path):
    CsvStore(tmp_path / "csv").close()
    written = {path.name: path.read_text(encoding="utf-8") for path in (tmp_path / "csv").glob("*.csv")}
    assert written == {path.name: path.read_text(encoding="utf-8") for path in (CURRENT / "csv").glob("*.csv")}


@pytest.mark.parametrize("version", VERSIONS)
def test_a_migrated_sqlite_store_has_the_schema_of_a_new_one(version, tmp_path):
    open_old_store(version, "sqlite", tmp_path, None)().close()
    assert sqlite_schema(tmp_path / "sales.db") == reference("sqlite_master.json")


@pytest.mark.parametrize("version", VERSIONS)
def test_a_migrated_postgres_store_has_the_schema_of_a_new_one(version, postgres_schema):
    PostgresStore(POSTGRES_URL, schema=postgres_schema).close()
    assert postgres_schema_of(POSTGRES_URL, postgres_schema) == reference("postgres_catalog.json")


@pytest.mark.parametrize("version", VERSIONS)
def test_a_migrated_csv_folder_has_the_headers_of_a_new_one(version, tmp_path):
    open_old_store(version, "csv", tmp_path, None)().close()
    assert csv_headers(tmp_path / "csv") == csv_headers(CURRENT / "csv")


@pytest.mark.parametrize("version", [3, 4])
def test_a_new_csv_folder_of_an_older_release_is_migrated_to_the_files_a_new_one_has(version, tmp_path):
    shutil.copytree(fixture(version) / "csv", tmp_path / "csv")
    CsvStore(tmp_path / "csv").close()
    written = {path.name: path.read_text(encoding="utf-8") for path in (tmp_path / "csv").glob("*.csv")}
    assert written == {path.name: path.read_text(encoding="utf-8") for path in (CURRENT / "csv").glob("*.csv")}
