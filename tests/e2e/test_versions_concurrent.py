"""Data versions under concurrent writers: two SQLite worker processes on one file, and two
PostgreSQL replicas on one database. Every post's version is in the history, under its request
id and only there; the history has no gap; every version kept answers `as_of`."""

import threading
import uuid
from collections.abc import Iterator

import pytest

from support.servers import Server, exchange
from support.servers import request as http

POSTS_PER_THREAD = 25


@pytest.fixture
def sqlite_workers(tmp_path) -> Iterator[list[Server]]:
    with Server("app_sql.py", "--db", str(tmp_path / "sales.db"), "--workers", "2") as server:
        yield [server, server]  # the kernel spreads the connections over the two processes


@pytest.fixture
def postgres_replicas(postgres_url) -> Iterator[list[Server]]:
    with Server("app_sql.py", "--db", postgres_url) as first, Server("app_sql.py", "--db", postgres_url) as second:
        yield [first, second]


@pytest.mark.parametrize("servers", ["sqlite_workers", "postgres_replicas"])
def test_versions_of_concurrent_posts_grow_without_gap_and_each_post_is_in_the_history(servers, request):
    servers = request.getfixturevalue(servers)
    status, emptied = http(f"{servers[0].url}/init_database", "POST")
    assert status == 200, emptied
    start = int(exchange(f"{servers[0].url}/get_raw_sales")[2]["X-Data-Version"])
    posted: dict[str, int] = {}  # request id -> the version its report named
    lock = threading.Lock()

    def post_many(server: Server, thread: int) -> None:
        for number in range(POSTS_PER_THREAD):
            request_id = uuid.uuid4().hex
            week = f"{2000 + number // 50}-W{number % 50 + 1:02d}"
            record = {"date": week, "vegetable": ("Tomate", "carotte", "Poire", "ail")[thread], "kilo_sold": number}
            status, report, _ = exchange(
                f"{server.url}/post_sales", "POST", [record], headers={"X-Request-ID": request_id}
            )
            assert (status, report["inserted"]) == (200, 1), report
            with lock:
                posted[request_id] = report["data_version"]

    threads = [threading.Thread(target=post_many, args=(servers[n % 2], n)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(posted) == 4 * POSTS_PER_THREAD
    status, body = http(f"{servers[1].url}/get_history?limit=100000")
    versions = body["versions"]
    numbers = [version["data_version"] for version in versions]
    assert numbers == list(range(max(numbers), start - 1, -1))  # newest first, none missing, none twice
    assert versions[-1]["operation"] == "init"
    # Each post is in the history once, at the version its report named (posts that waited together
    # share one commit, and so one version, that lists each of their request ids).
    listed = [(request_id, version["data_version"]) for version in versions for request_id in version["request_ids"]]
    initialised = [(request_id, start) for request_id in versions[-1]["request_ids"]]
    assert sorted(listed) == sorted([*posted.items(), *initialised])
    assert sum(version["bronze"]["inserted"] for version in versions) == len(posted)
    stored = 0
    for version in reversed(versions):  # oldest first: each version holds the rows of every one before
        stored += version["bronze"]["inserted"]
        number = version["data_version"]
        status, raw = http(f"{servers[number % 2].url}/get_raw_sales?as_of={number}")
        assert (status, len(raw)) == (200, stored), number
    assert len(http(f"{servers[0].url}/get_raw_sales")[1]) == len(posted)
