"""Deployment checks (`make docker-test`, marker `deploy`); the exact answers the e2e tests expect."""

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from unittest.mock import ANY
from urllib.parse import urlsplit

import psycopg
import pytest

from support.servers import ROOT, request
from tests.conftest import POSTGRES_URL, sale

IMAGE, LOCAL_PYTHON_IMAGE = "vegsales:test", "localhost/vegsales-python:3.11"
CONTAINERS_CONF = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "vegsales-podman/containers.conf")


def report(received=1, inserted=0, updated=0, unchanged=0, rejected=()) -> dict:
    counts = {"received": received, "inserted": inserted, "updated": updated, "unchanged": unchanged}
    # Which data version a post makes depends on what ran before it here: tests/e2e/test_data_versions.py
    # checks the numbers.
    return {**counts, "rejected": [*rejected], "warnings": [], "data_version": ANY}


def gold(year_month: str, vegetable: str, kilo_sold: float) -> dict:
    return {"year_month": year_month, "vegetable": vegetable, "kilo_sold": kilo_sold, "is_outlier": False}


TABLES = ["bronze_sales", "silver_sales", "gold_sales", "rejected_sales", "data_versions", "row_history"]
INIT = {"status": "ok", "tables": TABLES}
RECORDS = [sale("2020-01-27", "Tomate", 70), sale("2020-01-27", "Poire", 14), sale("2021-02-29", "Tomate", 1)]
REJECTED = [
    {
        "index": 2,
        "errors": [{"field": "date", "code": "bad_date", "message": "'2021-02-29' is not a real calendar date"}],
    }
]
REPORT = report(3, inserted=2, rejected=REJECTED)
RAW = [sale("2020-01-27", "Poire", 14), sale("2020-01-27", "Tomate", 70)]
# The week of 2020-01-27 has 5 days in January and 2 in February; names are cleaned to English.
MONTHLY = [gold("2020-01", "pear", 10), gold("2020-01", "tomato", 50), gold("2020-02", "pear", 4)]
MONTHLY += [gold("2020-02", "tomato", 20)]


def sales(url: str) -> tuple[object, object]:
    """(raw, monthly) as one server answers them."""
    return request(f"{url}/get_raw_sales")[1], request(f"{url}/get_monthly_sales")[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: "image" in item.fixturenames)  # the others first, while the image builds


class Engine:
    """`docker` when a Docker engine answers, else `podman`; a failed command fails the test with its output."""

    def __init__(self):
        docker = shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True, timeout=20)
        self.name, self.created, self.build = "docker" if docker and docker.returncode == 0 else "podman", [], None
        # containers.conf: runc and ulimits (CONTAINERS.md); BUILDAH_FORMAT: OCI, podman's default, drops HEALTHCHECK.
        self.env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF), "BUILDAH_FORMAT": "docker"}

    def __call__(self, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([self.name, *args], capture_output=True, text=True, timeout=timeout, env=self.env)
        assert done.returncode == 0 or not check, f"{self.name} {' '.join(args)}: {done.stdout}{done.stderr}"
        return done

    def inspect(self, name: str) -> dict:
        return json.loads(self("inspect", name).stdout)[0]

    def new(self, kind: str) -> str:
        """A name for a new container or volume, removed at the end of the session."""
        self.created.append((kind, f"vegsales-test-{uuid.uuid4().hex[:8]}"))
        return self.created[-1][1]

    def start_build(self, log: Path) -> None:
        """Builds vegsales:test in the background, on the local Python base when podman has one (no registry)."""
        local = self.name == "podman" and self("image", "exists", LOCAL_PYTHON_IMAGE, check=False).returncode == 0
        base = ["--build-arg", f"PYTHON_IMAGE={LOCAL_PYTHON_IMAGE}"] if local else []  # .ci/provision-containers
        self.log, self.previous = log, self("image", "inspect", "-f", "{{.Id}}", IMAGE, check=False).stdout.strip()
        with log.open("w") as output:
            command = [self.name, "build", "--network=host", *base, "-t", IMAGE, str(ROOT)]
            self.build = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=self.env)


@pytest.fixture(scope="session", autouse=True)
def engine(request, tmp_path_factory):
    """The engine; when a test needs the image, its build starts at once and the other tests run meanwhile."""
    engine = Engine()
    if any("image" in item.fixturenames for item in request.session.items):
        engine.start_build(tmp_path_factory.mktemp("build") / "build.log")
        request.addfinalizer(lambda: engine.build.kill() or engine.build.wait())
    yield engine
    for kind, name in reversed(engine.created):
        engine(kind, "rm", "-f", *(["-v"] if kind == "container" else []), name, check=False)


@pytest.fixture(scope="session")
def image(engine) -> dict:
    """The built image's inspection; the image it replaced is removed (its layers stay in the cache)."""
    assert engine.build.wait(timeout=900) == 0, engine.log.read_text()[-5000:]
    inspected = engine.inspect(IMAGE)
    if engine.previous not in ("", inspected["Id"]):
        engine("rmi", engine.previous, check=False)
    return inspected


@pytest.fixture(scope="module")
def database():
    """A fresh database on the test PostgreSQL server, dropped at the end; its URL."""
    name = f"vegsales_deploy_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
        yield urlsplit(POSTGRES_URL)._replace(path=f"/{name}").geturl()
        connection.execute(f"DROP DATABASE {name} WITH (FORCE)")
