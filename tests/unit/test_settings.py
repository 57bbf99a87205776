import os
import subprocess
import sys

import pytest

from support.servers import ROOT
from vegsales.connections import ConnectionLimits
from vegsales.guards import Security
from vegsales.server import app_from_environment
from vegsales.settings import InvalidSettings, Settings
from vegsales.storage.timeouts import DatabaseTimeouts

URL = "postgresql://user@db.example:5432/sales"


@pytest.fixture(autouse=True)
def no_settings_in_the_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("VEGSALES_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        pytest.param({}, ("sqlite", "data/sales.db"), id="defaults"),
        pytest.param({"backend": "csv"}, ("csv", "data/csv"), id="csv_default_folder"),
        pytest.param({"location": "/srv/sales.db"}, ("sqlite", "/srv/sales.db"), id="a_file_is_sqlite"),
        pytest.param({"location": URL}, ("postgres", URL), id="a_url_is_postgres"),
        pytest.param({"location": "/srv/new-folder/"}, ("csv", "/srv/new-folder/"), id="a_trailing_slash_is_csv"),
        pytest.param({"backend": "sqlite", "db": URL}, ("postgres", URL), id="app_sql_py_with_a_url"),
        pytest.param({"backend": "csv", "db": "/d/s.db", "data_dir": "/d/csv"}, ("csv", "/d/csv"), id="image_csv"),
        pytest.param({"backend": "sqlite", "db": "/d/s.db", "data_dir": "/d/csv"}, ("sqlite", "/d/s.db"), id="image"),
        pytest.param({"location": "/a.db", "db": "/b.db"}, ("sqlite", "/a.db"), id="location_wins_over_alias"),
        pytest.param({"backend": "postgres"}, ("postgres", "postgresql://127.0.0.1:5432/vegsales"), id="postgres"),
    ],
)
def test_the_backend_and_location_chosen_from_the_settings(flags, expected):
    settings = Settings.load(**flags).resolved()
    assert (settings.backend, settings.location) == expected


def test_an_existing_folder_is_a_csv_store(tmp_path):
    settings = Settings.load(location=str(tmp_path)).resolved()
    assert (settings.backend, settings.location) == ("csv", str(tmp_path))


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        pytest.param({"VEGSALES_DB": "/d/a.db", "VEGSALES_DATABASE_URL": URL}, "/d/a.db", id="db_wins_over_url"),
        pytest.param({"VEGSALES_DATABASE_URL": URL}, URL, id="database_url"),
    ],
)
def test_the_database_variables_of_the_image(environment, expected, monkeypatch):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert Settings.load().resolved().location == expected


def test_a_flag_wins_over_its_variable(monkeypatch):
    monkeypatch.setenv("VEGSALES_PORT", "9001")
    monkeypatch.setenv("VEGSALES_METRICS", "0")
    assert (Settings.load().port, Settings.load().metrics) == (9001, False)
    assert (Settings.load(port="9002", metrics=True).port, Settings.load(metrics=True).metrics) == (9002, True)


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
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    assert Settings.load().database_timeouts() == expected


def test_connection_limits_from_the_environment(monkeypatch):
    monkeypatch.setenv("VEGSALES_HEADER_TIMEOUT", "2.5")
    monkeypatch.setenv("VEGSALES_MAX_HEADER_BYTES", "1024")
    assert Settings.load(max_connections="7").connection_limits() == ConnectionLimits(7, 2.5, 30.0, 5.0, 1024)


@pytest.mark.parametrize(
    ("hosts", "bind", "expected"),
    [
        pytest.param(None, "127.0.0.1", ("127.0.0.1", "localhost", "[::1]"), id="loopback_names_on_loopback"),
        pytest.param(None, "0.0.0.0", None, id="any_on_a_public_address"),
        pytest.param("*", "127.0.0.1", None, id="star_is_any"),
        pytest.param(" api.example , b.example,", "0.0.0.0", ("api.example", "b.example"), id="listed"),
    ],
)
def test_the_allowed_hosts(hosts, bind, expected):
    assert Settings.load(allowed_hosts=hosts, host=bind).security().allowed_hosts == expected


def test_tokens_come_from_the_environment_only(monkeypatch):
    monkeypatch.setenv("VEGSALES_ADMIN_TOKEN", "a-secret")
    settings = Settings.load()
    assert settings.security() == Security(Security.default_hosts("127.0.0.1"), (), None, "a-secret")
    assert "a-secret" not in repr(settings)


def test_a_worker_process_gets_the_same_settings(monkeypatch):
    monkeypatch.setenv("VEGSALES_WRITE_TOKEN", "w-secret")
    given = Settings.load(
        backend="csv",
        location="/srv/csv/",
        vocabulary="/srv/words.toml",
        week_date="end",
        max_rejected="5",
        allowed_hosts="api.example",
        allowed_origins="https://dash.example",
        access_log=True,
        log_format="text",
        metrics=False,
        max_connections="9",
        header_timeout="1.5",
        lock_timeout="0.5",
    ).resolved()
    environment = given.to_environment()
    monkeypatch.delenv("VEGSALES_WRITE_TOKEN")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert Settings.load().resolved() == given
    assert environment["VEGSALES_WRITE_TOKEN"] == "w-secret"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        pytest.param("VEGSALES_WEEK_DATE", "bogus", "Input should be 'start' or 'end'", id="week_date"),
        pytest.param("VEGSALES_LOG_FORMAT", "xml", "Input should be 'json' or 'text'", id="log_format"),
        pytest.param(
            "VEGSALES_BACKEND", "mysql", "Input should be 'sqlite', 'csv' or 'postgres'", id="unknown_backend"
        ),
        pytest.param("VEGSALES_METRICS", "maybe", "Input should be a valid boolean, unable to interpret input", id="b"),
        pytest.param("VEGSALES_PORT", "0", "Input should be greater than or equal to 1", id="port_zero"),
        pytest.param("VEGSALES_WORKERS", "65", "Input should be less than or equal to 64", id="too_many_workers"),
        pytest.param(
            "VEGSALES_MAX_REJECTED",
            "lots",
            "Input should be a valid integer, unable to parse string as an integer",
            id="max_rejected",
        ),
        pytest.param(
            "VEGSALES_DATABASE_TIMEOUT",
            "3s",
            "Input should be a valid number, unable to parse string as a number",
            id="unit_given",
        ),
        pytest.param("VEGSALES_DATABASE_TIMEOUT", "0", "Input should be greater than 0", id="zero"),
        pytest.param("VEGSALES_STATEMENT_TIMEOUT", "-1", "Input should be greater than 0", id="negative"),
        pytest.param("VEGSALES_LOCK_TIMEOUT", "inf", "Input should be a finite number", id="infinite"),
        pytest.param("VEGSALES_LOCK_TIMEOUT", "nan", "Input should be a finite number", id="not_a_number"),
        pytest.param("VEGSALES_HEADER_TIMEOUT", "soon", "Input should be a valid number, unable to parse", id="hdr"),
        pytest.param("VEGSALES_MAX_CONNECTIONS", "-3", "Input should be greater than or equal to 1", id="conns"),
    ],
)
def test_an_invalid_variable_is_named_with_what_it_may_be(variable, value, message, monkeypatch):
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidSettings) as raised:
        Settings.load()
    assert str(raised.value).startswith(f"{variable}={value!r}: {message}")


def test_an_invalid_flag_is_named_as_a_flag():
    with pytest.raises(InvalidSettings) as raised:
        Settings.load(week_date="middle", port="http")
    assert str(raised.value).splitlines() == [
        "--port='http': Input should be a valid integer, unable to parse string as an integer",
        "--week-date='middle': Input should be 'start' or 'end'",
    ]


def test_a_worker_process_stops_on_an_invalid_variable(monkeypatch):
    monkeypatch.setenv("VEGSALES_WEEK_DATE", "bogus")
    with pytest.raises(SystemExit) as raised:
        app_from_environment()
    assert raised.value.code == "error: VEGSALES_WEEK_DATE='bogus': Input should be 'start' or 'end'"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_server_does_not_start_with_an_invalid_variable(workers, tmp_path):
    environment = {name: value for name, value in os.environ.items() if not name.startswith("VEGSALES_")}
    result = subprocess.run(
        [sys.executable, "-m", "vegsales.cli", "serve", "--db", str(tmp_path / "s.db"), "--workers", workers],
        cwd=ROOT,
        env={**environment, "VEGSALES_WEEK_DATE": "bogus", "VEGSALES_DATABASE_TIMEOUT": "3s"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr.splitlines()[-2:]) == (
        2,
        [
            "Error: VEGSALES_WEEK_DATE='bogus': Input should be 'start' or 'end'",
            "VEGSALES_DATABASE_TIMEOUT='3s': Input should be a valid number, unable to parse string as a number",
        ],
    )
    assert not (tmp_path / "s.db").exists()


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
