"""Micro-benchmarks (pytest-benchmark), off by default: `make bench` runs them, the service at each commit of
VEGSALES_BENCH_BEFORE beside this one, and writes a report beside its --benchmark-json. Growth: one-record
posts that update a stored row, and reads right after such a post, by rows stored. Bulk: one POST of 50,000
new records or of 100,000 (the limit) after the sample. From sending the request to the whole answer."""

import datetime as dt
import http.client
import json
import os
import random
import statistics

import pytest

from bench.common import cpu_seconds, heading, import_sample, publish, versions
from bench.sample import weekly_rows
from support.servers import backend_server

BEFORE = os.environ.get("VEGSALES_BENCH_BEFORE", "").split()
VERSIONS = ["this one", *(f"@{commit}" for commit in BEFORE)]
STORED = [("sqlite", 3_000), ("sqlite", 30_000), ("sqlite", 300_000), ("csv", 3_000), ("csv", 30_000)]  # rows
GROWTH = [(backend, rows, version) for backend, rows in STORED for version in VERSIONS]
FIGURES: list[tuple[str, str, list[float], float]] = []  # what, version, seconds of each round, server CPU s a round


class Connection(http.client.HTTPConnection):
    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        self.request(method, path, body, {"Content-Type": "application/json"} if body else {})
        response = self.getresponse()
        return response.status, response.read()


def measure(benchmark, server, what: str, version: str, target, setup, rounds: int) -> None:
    """`target` timed in `rounds` rounds, each after an untimed `setup`; the server's CPU time a round, less
    what it spent during the setups."""
    pid, in_setups = server.process.pid, [0.0]

    def measured_setup():
        start, arguments = cpu_seconds(pid), setup()
        in_setups[0] += cpu_seconds(pid) - start
        return arguments

    benchmark.group, start = what, cpu_seconds(pid)
    benchmark.pedantic(target, setup=measured_setup, rounds=rounds)
    cpu = (cpu_seconds(pid) - start - in_setups[0]) / rounds
    benchmark.extra_info["server_cpu_us"] = round(cpu * 1e6)
    if benchmark.stats:  # none under --benchmark-disable
        FIGURES.append((what, version, benchmark.stats.stats.data, cpu))


@pytest.fixture(scope="session")
def trees(tmp_path_factory):
    return versions(BEFORE, tmp_path_factory.mktemp("trees"))


@pytest.fixture(scope="module", autouse=True)
def report(request):
    yield
    lines = [
        "# Micro-benchmarks",
        "",
        heading("test_micro") + " Milliseconds from sending the request to the whole answer; server CPU µs a request.",
        "",
        "| request | version | median ms | p95 ms | rounds | server CPU µs |",
        "|---|---|---:|---:|---:|---:|",
    ]
    whats = [figure[0] for figure in FIGURES]
    for what, version, data, cpu in sorted(FIGURES, key=lambda figure: whats.index(figure[0])):
        median, p95 = statistics.median(data) * 1e3, statistics.quantiles(data, n=20, method="inclusive")[-1] * 1e3
        lines.append(f"| {what} | {version} | {median:.2f} | {p95:.2f} | {len(data)} | {cpu * 1e6:,.0f} |")
    out = request.config.getoption("benchmark_json", None)
    publish(lines, out and out.with_suffix(".md"))


@pytest.fixture(scope="module", params=GROWTH, ids=lambda param: "-".join(map(str, param)))
def loaded(request, trees, tmp_path_factory):
    """A server on `count` stored rows, its connection, what it is, one-record bodies that update one of the
    rows, and their post."""
    backend, count, version = request.param
    rows, rng = weekly_rows(count, 10, dt.date(2000, 1, 3)), random.Random(2)  # 300 spellings a week
    with backend_server(backend, tmp_path_factory.mktemp("growth"), trees[version]) as server:
        connection = Connection("127.0.0.1", server.port, timeout=120)
        for start in range(0, count, 50_000):
            status, answer = connection.call("POST", "/post_sales", json.dumps(rows[start : start + 50_000]).encode())
            assert status == 200, answer[:300]
        status, answer = connection.call("GET", "/get_raw_sales")  # the cached bodies built before any timing
        assert status == 200 and len(json.loads(answer)) == count
        assert connection.call("GET", "/get_monthly_sales")[0] == 200

        def one_record() -> bytes:
            return json.dumps([dict(rng.choice(rows), kilo_sold=round(rng.uniform(10, 2000), 1))]).encode()

        def post(body: bytes) -> None:
            status, answer = connection.call("POST", "/post_sales", body)
            assert status == 200 and json.loads(answer)["updated"] == 1, answer

        yield server, connection, f"{backend}, {count:,} rows", version, one_record, post
        connection.close()


def test_post_one_record(benchmark, loaded):
    server, _, stored, version, one_record, post = loaded
    measure(benchmark, server, f"{stored}: POST one record", version, post, lambda: ((one_record(),), {}), 400)


@pytest.mark.parametrize("path", ["/get_raw_sales", "/get_monthly_sales"])
def test_read_after_a_post(benchmark, loaded, path):
    server, connection, stored, version, one_record, post = loaded

    def read() -> None:
        assert connection.call("GET", path)[0] == 200

    measure(benchmark, server, f"{stored}: GET {path} after a post", version, read, lambda: post(one_record()), 100)


@pytest.fixture(scope="module", params=VERSIONS)
def sqlite_server(request, trees, tmp_path_factory):
    with backend_server("sqlite", tmp_path_factory.mktemp("bulk"), trees[request.param]) as server:
        yield server, request.param


@pytest.mark.parametrize("size", [50_000, 100_000])
def test_bulk_post(benchmark, sqlite_server, size):
    server, version = sqlite_server
    body = json.dumps(weekly_rows(size, 32, dt.date(2030, 1, 7))).encode()  # after the sample's years
    connection = Connection("127.0.0.1", server.port, timeout=120)

    def emptied() -> None:
        assert connection.call("POST", "/init_database")[0] == 200
        import_sample(server.url)
        connection.close()  # the next request opens a new one: this one went idle during the import

    def bulk_post() -> None:
        status, answer = connection.call("POST", "/post_sales", body)
        assert status == 200 and json.loads(answer)["inserted"] == size, answer[:300]

    measure(benchmark, server, f"sqlite: POST {size:,} new records", version, bulk_post, emptied, 5)
    connection.close()
