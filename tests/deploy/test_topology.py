"""compose.postgres.yaml without containers (support/topology.py): two app_sql.py replicas on one fresh PostgreSQL
database behind Debian's nginx running deploy/nginx.conf, only its `# topology-test:` lines rewritten."""

import re
import time
from contextlib import ExitStack
from urllib.parse import urlsplit

import pytest
import yaml

from support.servers import ROOT
from support.topology import FAIL_TIMEOUT, NGINX_CONF, Topology
from tests.deploy.conftest import INIT, MONTHLY, RAW, RECORDS, REJECTED, REPORT, gold, report, sale, sales

pytestmark = pytest.mark.deploy


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
