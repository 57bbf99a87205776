"""vegsales migrate: bronze copied, silver and gold rebuilt on the target, non-empty targets refused."""

import pytest
from click.testing import CliRunner

from tests.e2e.test_cli import SAMPLE
from vegsales.cli import main, read_sales_csv
from vegsales.pipeline import ingest
from vegsales.silver import FeedRules
from vegsales.storage.registry import open_store
from vegsales.storage.sqlite import SqliteStore


@pytest.fixture
def sample_database(tmp_path) -> str:
    path = str(tmp_path / "sales.db")
    store = SqliteStore(path)
    _, records = read_sales_csv(SAMPLE, console=None)
    ingest(store, FeedRules(), records)
    store.close()
    return path


def tables(backend: str, location: str) -> tuple[list, list]:
    store = open_store(location, backend)
    try:
        key = lambda row: row.key  # noqa: E731
        return sorted(store.bronze_changes(None).rows, key=key), sorted(store.gold_changes(None).rows, key=key)
    finally:
        store.close()


def migrate(*args: str):
    return CliRunner().invoke(main, ["migrate", *args])


def test_migrate_from_sqlite_to_postgresql_copies_bronze_and_rebuilds_gold(sample_database, postgres_url):
    result = migrate("--from", sample_database, "--to", postgres_url)
    assert result.exit_code == 0, result.output
    assert "copied 2,569 sales" in result.stdout
    assert "inserted 2,569, updated 0, unchanged 0, rejected 0" in result.stdout
    assert tables("postgres", postgres_url) == tables("sqlite", sample_database)


def test_migrate_refuses_a_target_that_holds_sales_unless_forced(sample_database, postgres_url):
    assert migrate("--from", sample_database, "--to", postgres_url).exit_code == 0
    refused = migrate("--from", sample_database, "--to", postgres_url)
    assert refused.exit_code == 1
    assert "already holds 2,569 sales; use --force to write into it anyway" in refused.stderr
    forced = migrate("--from", sample_database, "--to", postgres_url, "--force")
    assert forced.exit_code == 0
    assert "inserted 0, updated 0, unchanged 2,569, rejected 0" in forced.stdout


def test_migrate_into_a_csv_folder(sample_database, tmp_path):
    folder = tmp_path / "csv"
    result = migrate("--from", sample_database, "--to", f"{folder}/")
    assert result.exit_code == 0, result.output
    assert tables("csv", str(folder)) == tables("sqlite", sample_database)


def test_migrate_from_an_unreachable_database_is_a_clear_error(tmp_path):
    result = migrate("--from", "postgresql://nobody@127.0.0.1:9/none", "--to", str(tmp_path / "x.db"))
    assert result.exit_code == 1
    assert "error: cannot open PostgreSQL database" in result.stderr
