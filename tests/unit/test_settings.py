import os
import subprocess
import sys

import pytest

from support.servers import ROOT
from vegsales.server import chosen_store
from vegsales.storage import StorageError
from vegsales.storage.postgres import DatabaseTimeouts
from vegsales.storage.registry import open_store

URL = "postgresql://user@db.example:5432/sales"


@pytest.mark.parametrize(
    ("backend", "location", "aliases", "expected"),
    [
        pytest.param(None, None, {}, ("sqlite", "data/sales.db"), id="defaults"),
        pytest.param("csv", None, {}, ("csv", "data/csv"), id="csv_default_folder"),
        pytest.param(None, "/srv/sales.db", {}, ("sqlite", "/srv/sales.db"), id="a_file_is_sqlite"),
        pytest.param(None, URL, {}, ("postgres", URL), id="a_url_is_postgres"),
        pytest.param(None, "/srv/new-folder/", {}, ("csv", "/srv/new-folder/"), id="a_trailing_slash_is_csv"),
        pytest.param("sqlite", None, {"--db": URL}, ("postgres", URL), id="app_sql_py_with_a_url"),
        pytest.param("csv", None, {"--db": "/d/s.db", "--data-dir": "/d/csv"}, ("csv", "/d/csv"), id="image_csv"),
        pytest.param("sqlite", None, {"--db": "/d/s.db", "--data-dir": "/d/csv"}, ("sqlite", "/d/s.db"), id="image"),
        pytest.param("sqlite", "/a.db", {"--db": "/b.db"}, ("sqlite", "/a.db"), id="location_wins_over_alias"),
        pytest.param("postgres", None, {}, ("postgres", "postgresql://127.0.0.1:5432/vegsales"), id="postgres_default"),
    ],
)
def test_the_backend_and_location_chosen_from_the_settings(backend, location, aliases, expected):
    assert chosen_store(backend, location, aliases) == expected


def test_an_existing_folder_is_a_csv_store(tmp_path):
    assert chosen_store(None, str(tmp_path), {}) == ("csv", str(tmp_path))


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        pytest.param({}, DatabaseTimeouts(connect=3.0, statement=60.0, lock=10.0), id="defaults"),
        pytest.param({"VEGSALES_DATABASE_TIMEOUT": "1.5"}, DatabaseTimeouts(1.5, 60.0, 10.0), id="connect"),
        pytest.param({"VEGSALES_STATEMENT_TIMEOUT": "300"}, DatabaseTimeouts(3.0, 300.0, 10.0), id="statement"),
        pytest.param({"VEGSALES_LOCK_TIMEOUT": " 0.25 "}, DatabaseTimeouts(3.0, 60.0, 0.25), id="lock_spaces_around"),
        pytest.param({"VEGSALES_LOCK_TIMEOUT": ""}, DatabaseTimeouts(3.0, 60.0, 10.0), id="empty_is_default"),
    ],
)
def test_database_timeouts_from_the_environment(environment, expected, monkeypatch):
    for variable in ("VEGSALES_DATABASE_TIMEOUT", "VEGSALES_STATEMENT_TIMEOUT", "VEGSALES_LOCK_TIMEOUT"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    assert DatabaseTimeouts.from_environment() == expected


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        pytest.param("VEGSALES_DATABASE_TIMEOUT", "3s", "must be a number of seconds, got '3s'", id="unit_given"),
        pytest.param("VEGSALES_DATABASE_TIMEOUT", "0", "must be more than 0 seconds, got 0.0", id="zero"),
        pytest.param("VEGSALES_STATEMENT_TIMEOUT", "-1", "must be more than 0 seconds, got -1.0", id="negative"),
        pytest.param("VEGSALES_LOCK_TIMEOUT", "inf", "must be more than 0 seconds, got inf", id="infinite"),
        pytest.param("VEGSALES_LOCK_TIMEOUT", "nan", "must be more than 0 seconds, got nan", id="not_a_number"),
    ],
)
def test_an_invalid_database_timeout_stops_the_server_at_start_naming_the_variable(
    variable, value, message, monkeypatch
):
    monkeypatch.setenv(variable, value)
    message = f"{variable} {message}"
    with pytest.raises(ValueError) as raised:
        DatabaseTimeouts.from_environment()
    assert str(raised.value) == message
    with pytest.raises(StorageError) as raised_at_open:  # before any connection is tried
        open_store("postgresql://nobody@127.0.0.1:1/nothing")
    assert str(raised_at_open.value) == message


def test_the_server_does_not_start_with_an_invalid_database_timeout():
    result = subprocess.run(
        [sys.executable, "app_sql.py", "--db", "postgresql://nobody@127.0.0.1:1/nothing"],
        cwd=ROOT,
        env={**os.environ, "VEGSALES_DATABASE_TIMEOUT": "3s"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (
        1,
        "error: VEGSALES_DATABASE_TIMEOUT must be a number of seconds, got '3s'\n",
    )


@pytest.mark.parametrize(
    ("connect", "expected"),
    [
        pytest.param(3.0, {"connect_timeout": 3, "keepalives_idle": 3, "tcp_user_timeout": 6000}, id="default"),
        pytest.param(1.0, {"connect_timeout": 2, "keepalives_idle": 1, "tcp_user_timeout": 4000}, id="libpq_minimum"),
        pytest.param(2.5, {"connect_timeout": 3, "keepalives_idle": 3, "tcp_user_timeout": 6000}, id="rounded_up"),
    ],
)
def test_connection_parameters_bound_connecting_and_notice_a_vanished_host(connect, expected):
    assert DatabaseTimeouts(connect=connect).connection_parameters() == {
        **expected,
        "keepalives": 1,
        "keepalives_interval": 1,
        "keepalives_count": 3,
    }
