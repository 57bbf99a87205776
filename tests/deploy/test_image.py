"""The image built from the Dockerfile: its configuration, and each backend run from it."""

import time

import psycopg
import pytest
import yaml

from support.servers import ROOT, answers, free_port, request, wait_for
from tests.deploy.conftest import IMAGE, INIT, MONTHLY, RAW, RECORDS, REPORT, sales

pytestmark = pytest.mark.deploy
SERVER = "/opt/venv/bin/python\0/opt/venv/bin/vegsales\0serve\0"  # PID 1's command line: the CMD, exec form
CSV_FILES = [f"/data/csv/{name}.csv" for name in ("bronze", "gold", "meta", "rejected", "silver")]


class Container:
    """The image, detached, on the host network (loopback only) with a free VEGSALES_PORT; returns once healthy."""

    def __init__(self, engine, *options: str):
        self.engine, self.name, self.port = engine, engine.new("container"), free_port()
        self.url, health = f"http://127.0.0.1:{self.port}", ["--health-interval=1s"] if engine.name == "docker" else []
        env = ["-e", "VEGSALES_HOST=127.0.0.1", "-e", f"VEGSALES_PORT={self.port}"]
        engine("run", "-d", "--name", self.name, "--network=host", *env, *health, *options, IMAGE)
        wait_for(lambda: self.state() and answers(self.url), f"{self.name} answering /health")
        if engine.name == "podman":  # podman runs health checks from systemd timers, absent here
            engine("healthcheck", "run", self.name)
        wait_for(lambda: self.state()["Health"]["Status"] == "healthy", f"{self.name} healthy (its HEALTHCHECK)")

    def state(self) -> dict:
        state = self.engine.inspect(self.name)["State"]
        assert state["Status"] == "running", f"{self.name} {state['Status']}: {self.engine('logs', self.name).stderr}"
        return state

    def exec(self, *command: str) -> str:
        return self.engine("exec", self.name, *command).stdout

    def stop(self) -> None:
        """SIGTERM (`stop`) reaches the server, PID 1, which exits at once with status 0."""
        started = time.monotonic()
        self.engine("stop", "-t", "20", self.name)
        assert (self.engine.inspect(self.name)["State"]["ExitCode"], time.monotonic() - started < 5) == (0, True)


@pytest.fixture(scope="module")
def sqlite_volume(engine, image) -> str:
    """A volume once a first SQLite container took RECORDS and stopped."""
    engine("volume", "create", volume := engine.new("volume"))
    first = Container(engine, "-v", f"{volume}:/data")
    assert request(f"{first.url}/init_database", "POST") == (200, INIT)
    assert request(f"{first.url}/post_sales", "POST", RECORDS) == (200, REPORT)
    first.stop()
    return volume


def test_the_image_runs_vegsales_serve_as_a_non_root_user_configured_by_environment(image):
    config = image["Config"]
    assert (config["User"], config["Cmd"], config.get("Entrypoint")) == ("10001:10001", ["vegsales", "serve"], None)
    assert (config["Volumes"], config["ExposedPorts"]) == ({"/data": {}}, {"8000/tcp": {}})
    # The SQLite default is in VEGSALES_DATABASE_URL: a VEGSALES_DB would win over a VEGSALES_DATABASE_URL given.
    defaults = {"VEGSALES_BACKEND": "sqlite", "VEGSALES_HOST": "0.0.0.0", "VEGSALES_PORT": "8000"}
    defaults |= {"VEGSALES_DATABASE_URL": "/data/sales.db", "VEGSALES_DATA_DIR": "/data/csv"}
    defaults |= {"VEGSALES_LOG_FORMAT": "json"}
    assert dict(item.split("=", 1) for item in config["Env"] if item.startswith("VEGSALES_")) == defaults
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["vegsales"]["healthcheck"]
    assert (config.get("Healthcheck") or image["Healthcheck"])["Test"] == compose["test"]  # Docker's place, podman's


def test_sqlite_sales_survive_a_restart_on_the_same_volume(engine, sqlite_volume):
    server = Container(engine, "-v", f"{sqlite_volume}:/data")
    assert sales(server.url) == (RAW, MONTHLY)
    assert (server.exec("id", "-u"), server.exec("cat", "/proc/1/cmdline")) == ("10001\n", SERVER)
    assert server.exec("stat", "-c", "%U %n", "/data/sales.db") == "vegsales /data/sales.db\n"
    server.stop()


def test_the_csv_app_keeps_its_files_in_data_csv_beside_the_untouched_sqlite_file(engine, sqlite_volume):
    server = Container(engine, "-v", f"{sqlite_volume}:/data", "-e", "VEGSALES_BACKEND=csv")
    sqlite_file = server.exec("sha256sum", "/data/sales.db")
    assert sales(server.url) == ([], [])
    assert request(f"{server.url}/post_sales", "POST", RECORDS) == (200, REPORT)
    assert (sales(server.url), server.exec("cat", "/proc/1/cmdline")) == ((RAW, MONTHLY), SERVER)
    assert server.exec("stat", "-c", "%U %n", *CSV_FILES).splitlines() == [f"vegsales {file}" for file in CSV_FILES]
    rows = "2020-01-27,Poire,14.0,2020-01-27\n2020-01-27,Tomate,70.0,2020-01-27\n"  # received_at (a time) cut off
    assert server.exec("cut", "-d,", "-f1-4", CSV_FILES[0]) == "date,vegetable,kilo_sold,week_start\n" + rows
    assert server.exec("ls", "-A", "/data") == "csv\nsales.db\n"
    assert server.exec("sha256sum", "/data/sales.db") == sqlite_file
    server.stop()


def test_a_postgresql_url_selects_postgresql(engine, image, database):
    url = "postgresql://vegsales:secret@127.0.0.1:1/vegsales"  # nothing listens: the start fails, naming it
    name, env = engine.new("container"), f"VEGSALES_DATABASE_URL={url}"
    done = engine("run", "--name", name, "--network=host", "--no-healthcheck", "-e", env, IMAGE, check=False)
    message = "error: cannot open PostgreSQL database user=vegsales dbname=vegsales host=127.0.0.1 port=1: connection"
    assert (done.returncode, done.stderr[: len(message)]) == (1, message)
    server = Container(engine, "-e", f"VEGSALES_DATABASE_URL={database}")
    assert request(f"{server.url}/post_sales", "POST", RECORDS) == (200, REPORT)
    assert sales(server.url) == (RAW, MONTHLY)
    with psycopg.connect(database) as connection:
        rows = connection.execute("SELECT date, vegetable, kilo_sold FROM bronze_sales ORDER BY date, vegetable")
        assert rows.fetchall() == [("2020-01-27", "Poire", 14.0), ("2020-01-27", "Tomate", 70.0)]
    server.stop()


def test_an_invalid_variable_stops_the_container_naming_it(engine, image):
    done = engine("run", "--rm", "-e", "VEGSALES_WEEK_DATE=bogus", "-e", "VEGSALES_WORKERS=2", IMAGE, check=False)
    assert (done.returncode, done.stderr.splitlines()[-1]) == (
        2,
        "Error: VEGSALES_WEEK_DATE='bogus': Input should be 'start' or 'end'",
    )
