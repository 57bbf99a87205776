"""When the store fails: a 503 `storage_unavailable` within a bound, with Retry-After and one
generic message; the detail in the log under the request id; service back by itself."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from fastapi.testclient import TestClient

from support.servers import Server, exchange, wait_for
from tests.conftest import POSTGRES_URL, sale
from tests.tcp_proxy import TcpProxy
from vegsales.api import create_app
from vegsales.logs import RequestIdFilter
from vegsales.storage.csv import CsvStore
from vegsales.storage.postgres import DatabaseTimeouts, PostgresStore
from vegsales.storage.sqlite import SqliteStore

UNAVAILABLE = {
    "error": "storage_unavailable",
    "message": "the store cannot be reached or written just now; try again shortly",
}
DATABASE_TIMEOUT = 1.0
"""VEGSALES_DATABASE_TIMEOUT of the servers below: each answer of an outage must come within it and 3 s."""


def through(proxy: TcpProxy, url: str) -> str:
    """`url` with the proxy's address instead of the database server's."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{user}@127.0.0.1:{proxy.port}" if user else f"127.0.0.1:{proxy.port}"))


@pytest.fixture
def proxy():
    parts = urlsplit(POSTGRES_URL)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    yield proxy
    proxy.close()


def timed(
    url: str, method: str = "GET", body: object = None, request_id: str = ""
) -> tuple[int, object, str | None, float]:
    """(status, JSON body, Retry-After, seconds taken) of one request."""
    started = time.monotonic()
    status, answer, headers = exchange(
        url, method, body, timeout=30, headers={"X-Request-ID": request_id} if request_id else {}
    )
    return status, answer, headers.get("Retry-After"), time.monotonic() - started


@pytest.mark.parametrize("outage", ["refused", "silent"])
def test_while_postgresql_is_away_every_request_is_a_prompt_503_and_service_comes_back_by_itself(
    postgres_url, proxy, tmp_path, outage
):
    env = {"VEGSALES_DATABASE_TIMEOUT": str(DATABASE_TIMEOUT)}
    log_file = tmp_path / "stderr"
    with Server(
        "app_sql.py", "--db", through(proxy, postgres_url), "--log-format", "json", env=env, log_file=log_file
    ) as server:
        assert timed(f"{server.url}/post_sales", "POST", [sale("2020-01-06", "Tomate", 1)])[0] == 200

        proxy.cut(outage)
        requests = [
            ("POST", "/post_sales", [sale("2020-01-13", "Tomate", 2)]),
            ("GET", "/get_raw_sales", None),
            ("GET", "/get_monthly_sales", None),
            ("GET", "/health", None),
        ]
        sent = [(f"outage-{n}", *requests[n % 4]) for n in range(72)]

        def ask(request: tuple) -> tuple[str, tuple]:
            request_id, method, path, body = request
            return request_id, timed(f"{server.url}{path}", method, body, request_id)

        answers = {}
        for first in (0, 36):
            answers.update(map(ask, sent[first : first + 4]))  # one at a time
            # Then 8 of each at once: the reads of a table refresh it one at a time, posts are
            # written one batch at a time; none may wait for the others' timeouts.
            with ThreadPoolExecutor(32) as pool:
                answers.update(pool.map(ask, sent[first + 4 : first + 36]))
        for status, answer, retry_after, seconds in answers.values():
            assert (status, answer, retry_after) == (503, UNAVAILABLE, "1")
            assert seconds < DATABASE_TIMEOUT + 3
        times = [answer[3] for answer in answers.values()]
        print(f"{outage}: 503s in {min(times):.2f} to {max(times):.2f} s")

        proxy.restore()
        started = time.monotonic()
        wait_for(lambda: timed(f"{server.url}/health")[0] == 200, "/health answers 200 again", DATABASE_TIMEOUT + 2)
        print(f"{outage}: /health 200 again {time.monotonic() - started:.2f} s after the database")
        status, report, _, _ = timed(f"{server.url}/post_sales", "POST", [sale("2020-01-20", "Tomate", 3)])
        assert (status, report["inserted"]) == (200, 1)
        assert timed(f"{server.url}/get_raw_sales")[:2] == (
            200,
            [
                {"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": 1.0},
                {"date": "2020-01-20", "vegetable": "Tomate", "kilo_sold": 3.0},
            ],
        )
        assert timed(f"{server.url}/get_monthly_sales")[:2] == (
            200,
            [{"year_month": "2020-01", "vegetable": "tomato", "kilo_sold": 4.0, "is_outlier": False}],
        )
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    errors = [line for line in lines if line["level"] == "ERROR" and line["request_id"].startswith("outage-")]
    assert sorted(line["request_id"] for line in errors) == sorted(request_id for request_id, *_ in sent)  # one each
    messages = {line["request_id"]: line["message"] for line in errors}
    for request_id, method, path, _ in sent:
        assert messages[request_id].startswith(f"store unavailable on {method} {path}: PostgreSQL")


def test_a_write_waiting_for_the_write_lock_past_the_lock_timeout_is_a_503_and_reads_go_on(postgres_url, caplog):
    caplog.handler.addFilter(RequestIdFilter())
    store = PostgresStore(postgres_url, timeouts=DatabaseTimeouts(lock=0.5))
    with TestClient(create_app(store)) as client, psycopg.connect(postgres_url) as holder:
        assert client.post("/post_sales", json=[sale("2020-01-06", "Tomate", 1)]).status_code == 200
        holder.execute("SELECT seq FROM store_version FOR UPDATE")  # another replica's write, never ending
        started = time.monotonic()
        response = client.post("/post_sales", json=[sale("2020-01-13", "Tomate", 2)], headers={"X-Request-ID": "w-1"})
        seconds = time.monotonic() - started
        assert (response.status_code, response.json(), response.headers["retry-after"]) == (503, UNAVAILABLE, "1")
        assert "store_version" not in response.text and "lock" not in response.text
        assert 0.5 <= seconds < 3
        assert client.get("/get_raw_sales").json() == [{"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": 1.0}]
        holder.rollback()
        assert client.post("/post_sales", json=[sale("2020-01-13", "Tomate", 2)]).status_code == 200
    (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.request_id == "w-1"
    assert record.getMessage().startswith(
        "store unavailable on POST /post_sales: PostgreSQL: a lock was not granted within 0.5 s "
        "(canceling statement due to lock timeout"
    )
    assert 'relation "store_version"' in record.getMessage()


def test_pooled_connections_carry_the_statement_and_lock_timeouts(postgres_url):
    store = PostgresStore(postgres_url, timeouts=DatabaseTimeouts(connect=2, statement=45, lock=2.5))
    try:
        with store._connection() as connection:
            assert connection.execute("SHOW statement_timeout").fetchone() == ("45s",)
            assert connection.execute("SHOW lock_timeout").fetchone() == ("2500ms",)
    finally:
        store.close()


def csv_disk_full(tmp_path: Path, monkeypatch) -> tuple[CsvStore, str]:
    store = CsvStore(tmp_path / "csv")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("builtins.open", disk_full)
    return store, f"cannot write the CSV files in {tmp_path / 'csv'}: [Errno 28] No space left on device"


def sqlite_disk_full(tmp_path: Path, monkeypatch) -> tuple[SqliteStore, str]:
    store = SqliteStore(tmp_path / "sales.db")
    size = store._writer.execute("PRAGMA page_count").fetchone()[0]
    store._writer.execute(f"PRAGMA max_page_count = {size}")  # the file cannot grow: as on a full disk
    return store, "SQLite write failed: database or disk is full"


@pytest.mark.parametrize("fail", [csv_disk_full, sqlite_disk_full], ids=["csv", "sqlite"])
def test_a_store_error_answers_no_detail_and_logs_it_once_with_the_request_id(fail, tmp_path, monkeypatch, caplog):
    caplog.handler.addFilter(RequestIdFilter())  # as the service's handler does
    store, detail = fail(tmp_path, monkeypatch)
    records = [sale(f"{year}-W{week:02d}", name, week) for year in range(2000, 2004) for week in range(1, 53)
               for name in ("Tomate", "Zanahoria")]  # fmt: skip
    with TestClient(create_app(store)) as client:
        response = client.post("/post_sales", json=records, headers={"X-Request-ID": "full-1"})
        monkeypatch.undo()
    assert (response.status_code, response.json(), response.headers["retry-after"]) == (503, UNAVAILABLE, "1")
    assert str(tmp_path) not in response.text
    (record,) = [
        r for r in caplog.records if r.getMessage().startswith("store unavailable")
    ]  # the store may log its own
    assert (record.levelname, record.name, record.request_id) == ("ERROR", "vegsales", "full-1")
    assert record.getMessage() == f"store unavailable on POST /post_sales: {detail}"
