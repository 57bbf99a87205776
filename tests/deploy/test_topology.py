"""compose.postgres.yaml without containers: two app_sql.py replicas on one fresh PostgreSQL database behind
Debian's nginx running deploy/nginx.conf, only its `# topology-test:` lines rewritten for local processes."""

import re
import shutil
import subprocess
import time
from contextlib import ExitStack
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.conftest import INIT, MONTHLY, RAW, RECORDS, REJECTED, REPORT, gold, report, sale, sales
from tests.servers import ROOT, Server, answers, exchange, free_port, wait_for

pytestmark = pytest.mark.deploy
NGINX_CONF, FAIL_TIMEOUT = ROOT / "deploy/nginx.conf", 2  # nginx.conf's 10 s: shortened, the checks are the same


class Topology:
    """Two replicas, and nginx before them in the foreground; `expect` also says which replicas nginx tried."""

    def __init__(self, database: str, folder, stack: ExitStack):
        self.database, self.stack = database, stack
        self.replicas = [replica.wait_ready() for replica in (self.start_replica(), self.start_replica())]
        self.names, self.port = [f"127.0.0.1:{replica.port}" for replica in self.replicas], free_port()
        self.url, conf = f"http://127.0.0.1:{self.port}", NGINX_CONF.read_text()
        fails = f"max_fails=1 fail_timeout={FAIL_TIMEOUT}s"
        for marker, old, new in [
            ("replica 1", "api1:8000 max_fails=1 fail_timeout=10s", f"{self.names[0]} {fails}"),
            ("replica 2", "api2:8000 max_fails=1 fail_timeout=10s", f"{self.names[1]} {fails}"),
            ("listen", "listen 8000;", f"listen 127.0.0.1:{self.port};"),
            ("access log", "/var/log/nginx/access.log", str(folder / "access.log")),
        ]:
            lines = [line for line in conf.splitlines() if line.endswith(f"# topology-test: {marker}") and old in line]
            assert len(lines) == 1, f"deploy/nginx.conf: no line marked `# topology-test: {marker}` holds {old!r}"
            conf = conf.replace(lines[0], lines[0].replace(old, new))
        # The test's own lines: nginx's temporary files in `folder`; the replicas it tried, in two headers.
        own = [f"{kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")]
        own += ["add_header X-Upstream $upstream_addr always;", "add_header X-Upstream-Status $upstream_status always;"]
        (folder / "nginx.conf").write_text(conf.replace("http {", "\n    ".join(["http {", *own]), 1))
        options = ["-p", f"{folder}/", "-c", "nginx.conf", "-e", "error.log", "-g", "daemon off; pid nginx.pid;"]
        self.nginx = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", *options])
        stack.callback(self.nginx.wait, timeout=10)
        stack.callback(self.nginx.terminate)
        wait_for(lambda: answers(self.url) or self.nginx.poll() is not None, "nginx answering /health", 10)
        assert self.nginx.poll() is None, (folder / "error.log").read_text()

    def start_replica(self, port: int | None = None) -> Server:
        server = Server("app_sql.py", "--db", self.database, port=port)
        self.stack.callback(server.stop)
        return server

    def expect(self, method: str, path: str, answer, body=None, status=200, **options) -> list[tuple[str, str]]:
        """This exact answer through nginx; the [(replica, its status)] nginx tried. Its headers: `headers`."""
        got_status, got, self.headers = exchange(self.url + path, method, body, timeout=30, **options)
        tried = [re.findall(r"[^, ]+", self.headers.get(name, "")) for name in ("X-Upstream", "X-Upstream-Status")]
        assert (got_status, got) == (status, answer), tried
        return list(zip(*tried, strict=True))


@pytest.fixture(scope="module")
def topology(database, tmp_path_factory):
    with ExitStack() as stack:  # stops nginx and every replica, also when one of them fails to start
        yield Topology(database, tmp_path_factory.mktemp("nginx"), stack)


def test_compose_postgres_yaml_and_deploy_nginx_conf_describe_the_same_topology():
    compose = yaml.safe_load((ROOT / "compose.postgres.yaml").read_text())
    services, healthy, nginx_conf = compose["services"], {"condition": "service_healthy"}, NGINX_CONF.read_text()
    postgres, nginx, env = services["postgres"], services["nginx"], services["postgres"]["environment"]
    assert sorted(services) == ["api1", "api2", "nginx", "postgres"]
    assert (postgres["image"][:9], postgres["healthcheck"]["test"][1]) == ("postgres:", "pg_isready")
    assert postgres["volumes"] == ["postgres-data:/var/lib/postgresql/data"] and "postgres-data" in compose["volumes"]
    for api in (services["api1"], services["api2"]):
        url = urlsplit(api["environment"]["VEGSALES_DATABASE_URL"])
        assert (url.hostname, url.port, url.username) == ("postgres", 5432, env["POSTGRES_USER"])
        assert (api["build"], api["depends_on"], url.path) == (".", {"postgres": healthy}, f"/{env['POSTGRES_DB']}")
    assert (nginx["volumes"], nginx["ports"]) == (["./deploy/nginx.conf:/etc/nginx/nginx.conf:ro"], ["8000:8000"])
    assert nginx["depends_on"] == {"api1": healthy, "api2": healthy}
    assert re.findall(r"^ *server (\S+) ", nginx_conf, re.M) == ["api1:8000", "api2:8000"]
    assert re.findall(r"^ *listen (.*);", nginx_conf, re.M) == ["8000"]


def test_a_post_through_nginx_is_read_at_once_on_the_other_replica(topology):
    topology.expect("POST", "/init_database", INIT)
    topology.expect("POST", "/post_sales", REPORT, RECORDS)
    topology.expect("GET", "/get_monthly_sales", MONTHLY)
    topology.expect("POST", "/post_sales", report(3, unchanged=2, rejected=REJECTED), RECORDS)
    # ETags come from the database's sequence: one replica's ETag is current on the other.
    [(first, _)], etag = topology.expect("GET", "/get_raw_sales", RAW), {"If-None-Match": topology.headers["ETag"]}
    [(second, _)] = topology.expect("GET", "/get_raw_sales", None, status=304, headers=etag)
    assert sorted([first, second]) == sorted(topology.names)

    for step in range(20):  # round robin: each read goes to the other replica than the post before it
        record = sale("2021-03-01", "Carotte", step + 1)  # inserted, then updated 19 times
        counts = report(inserted=1) if step == 0 else report(updated=1)
        posted = topology.expect("POST", "/post_sales", counts, [record])
        read = topology.expect("GET", "/get_raw_sales", [*RAW, record])
        assert sorted(replica for replica, _ in posted + read) == sorted(topology.names)  # one each: both used
    monthly = [*MONTHLY, gold("2021-03", "carrot", 20)]
    topology.expect("GET", "/get_monthly_sales", monthly)
    for replica in topology.replicas:
        assert sales(replica.url) == ([*RAW, record], monthly)


def test_nginx_answers_a_body_over_16_mib_with_the_service_413_before_any_replica(topology):
    error = {"error": "body_too_large", "message": "the body exceeds 16777216 bytes"}
    assert topology.expect("POST", "/post_sales", error, status=413, data=b" " * (16 * 1024 * 1024 + 1)) == []


def test_with_a_replica_killed_gets_and_posts_still_answer_and_it_restarts_with_them(topology):
    replicas, june = topology.replicas, [sale("2021-06-07", "Carotte", 5), sale("2021-06-14", "Carotte", 6)]
    topology.expect("POST", "/init_database", INIT)
    topology.expect("POST", "/post_sales", REPORT, RECORDS)
    # SIGKILL (a crash) for the replica round robin picks next, so that the next request meets it.
    victim = 1 - topology.names.index(topology.expect("GET", "/health", {"status": "ok"})[0][0])
    replicas[victim].kill()
    time.sleep(0.3)  # nginx sees its idle keep-alive connections to the dead replica close
    dead, live = [(topology.names[victim], "502"), (topology.names[1 - victim], "200")]
    assert topology.expect("GET", "/get_raw_sales", RAW) == [dead, live]
    for _ in range(4):  # the dead replica is left out for fail_timeout
        assert topology.expect("GET", "/get_monthly_sales", MONTHLY) == [live]
    assert topology.expect("POST", "/post_sales", report(inserted=1), june[:1]) == [live]

    # After fail_timeout nginx tries the dead replica again: a POST that meets it (refused: nothing sent) goes to
    # the other one and is stored once. The same record is posted until one does.
    deadline = time.monotonic() + FAIL_TIMEOUT + 5
    tried = topology.expect("POST", "/post_sales", report(inserted=1), june[1:])
    while tried != [dead, live]:
        assert tried == [live] and time.monotonic() < deadline, tried
        time.sleep(0.1)
        tried = topology.expect("POST", "/post_sales", report(unchanged=1), june[1:])
    monthly = [*MONTHLY, gold("2021-06", "carrot", 11)]
    topology.expect("GET", "/get_raw_sales", RAW + june)
    topology.expect("GET", "/get_monthly_sales", monthly)

    replicas[victim] = topology.start_replica(port=replicas[victim].port).wait_ready()
    for replica in replicas:
        assert sales(replica.url) == (RAW + june, monthly)
