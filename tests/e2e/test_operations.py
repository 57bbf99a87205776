"""Operating it: request ids, access logs, /metrics with exact counts, data-quality figures."""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import sale
from vegsales.api import create_app
from vegsales.guards import Security
from vegsales.logs import RequestIdFilter
from vegsales.quality import robust_z
from vegsales.storage.sqlite import SqliteStore


def samples(client, **headers) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics, by (name, sorted labels)."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def moved(before: dict, after: dict) -> dict:
    return {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}


@pytest.fixture
def app_client(tmp_path):
    with TestClient(create_app(SqliteStore(tmp_path / "sales.db"), access_log=True)) as client:
        yield client


def test_every_answer_carries_a_request_id_the_clients_when_valid(app_client):
    given = app_client.get("/health", headers={"X-Request-ID": "batch-2026-12-01/7"})
    assert given.headers["x-request-id"] == "batch-2026-12-01/7"
    for bad in ["x" * 129, "tab\there", "é-accent", " "]:
        fresh = app_client.get("/health", headers={"X-Request-ID": bad.encode("latin-1")}).headers["x-request-id"]
        assert fresh != bad and len(fresh) == 32 and int(fresh, 16) >= 0
    ids = {app_client.get(path).headers["x-request-id"] for path in ("/get_raw_sales", "/nowhere", "/docs")}
    assert len(ids) == 3


def test_access_lines_say_what_each_request_did(app_client, caplog):
    caplog.set_level(logging.INFO, logger="vegsales.access")
    caplog.handler.addFilter(RequestIdFilter())
    records = [sale("2020-01-06", "Tomate", 1), sale("2020-01-06", "mango", 1)]
    app_client.post("/post_sales", json=records, headers={"X-Request-ID": "r-1"})
    (line,) = [r for r in caplog.records if r.name == "vegsales.access"]
    assert line.request_id == "r-1"
    assert line.getMessage().startswith("POST /post_sales 200 ")
    assert line.getMessage().endswith(" received=2 rejected=1")
    assert (line.method, line.path, line.status, line.records_received, line.records_rejected) == (
        "POST", "/post_sales", 200, 2, 1,
    )  # fmt: skip
    assert line.bytes_sent > 100 and 0 < line.duration_ms < 10_000


def nested(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


def test_metrics_count_requests_records_and_reasons_exactly(app_client):
    before = samples(app_client)
    records = [
        sale("2020-01-06", "Tomate", 1),
        sale("2020-01-06", "Tomate", 1),  # unchanged
        sale("2020-01-07", "Tomate", 2),  # overlaps: a warning
        sale("2020-01-06", "mango", 1),
        sale("2021-02-29", "Tomate", 1),
        sale("2020-01-06", "carrot\n", 1),
        sale("2020-01-06", "Poire", -1),
        {"date": "2020-01-06", "vegetable": "Poire"},
        {**sale("2020-01-06", "Poire", 1), "brand": "A"},
        42,
        sale("2020-01-06", "totatoes", 1),
        sale("1899-12-31", "Poire", 1),
        {"x": nested(64)},
    ]
    assert app_client.post("/post_sales", json=records).status_code == 200
    assert app_client.post("/post_sales", json=[42]).status_code == 422
    app_client.get("/get_monthly_sales?remove_outliers=maybe")
    after = samples(app_client)
    varying = ("process_", "python_", "vegsales_http_request_duration", "vegsales_latest_week_robust_z",
               "vegsales_last_stored_post", "vegsales_http_requests_in_flight")  # fmt: skip
    assert {key: value for key, value in moved(before, after).items() if not key[0].startswith(varying)} == {
        ("vegsales_http_requests_total", (("method", "POST"), ("route", "/post_sales"), ("status", "200"))): 1,
        ("vegsales_http_requests_total", (("method", "POST"), ("route", "/post_sales"), ("status", "422"))): 1,
        ("vegsales_http_requests_total", (("method", "GET"), ("route", "/get_monthly_sales"), ("status", "400"))): 1,
        ("vegsales_http_requests_total", (("method", "GET"), ("route", "/metrics"), ("status", "200"))): 1,
        ("vegsales_posts_total", (("result", "stored"),)): 1,
        ("vegsales_posts_total", (("result", "all_rejected"),)): 1,
        ("vegsales_records_total", (("outcome", "received"),)): 14,
        ("vegsales_records_total", (("outcome", "inserted"),)): 2,
        ("vegsales_records_total", (("outcome", "unchanged"),)): 1,
        ("vegsales_records_total", (("outcome", "rejected"),)): 11,
        ("vegsales_rejections_total", (("field", "vegetable"), ("reason", "unknown_vegetable"))): 1,
        ("vegsales_rejections_total", (("field", "vegetable"), ("reason", "ambiguous_vegetable"))): 1,
        ("vegsales_rejections_total", (("field", "date"), ("reason", "bad_date"))): 1,
        ("vegsales_rejections_total", (("field", "date"), ("reason", "date_out_of_range"))): 1,
        ("vegsales_rejections_total", (("field", "vegetable"), ("reason", "dirty_name"))): 1,
        ("vegsales_rejections_total", (("field", "kilo_sold"), ("reason", "out_of_range"))): 1,
        ("vegsales_rejections_total", (("field", "kilo_sold"), ("reason", "missing"))): 1,
        ("vegsales_rejections_total", (("field", "other"), ("reason", "extra_field"))): 1,
        ("vegsales_rejections_total", (("field", "record"), ("reason", "not_an_object"))): 2,
        ("vegsales_rejections_total", (("field", "record"), ("reason", "too_deep"))): 1,
        # the 2020-01-06 records (new and unchanged) and 2020-01-07
        ("vegsales_warnings_total", (("code", "overlapping_weeks"),)): 3,
        ("vegsales_table_rows", (("table", "bronze_sales"),)): 2,
        ("vegsales_table_rows", (("table", "silver_sales"),)): 2,
        ("vegsales_table_rows", (("table", "gold_sales"),)): 1,
        ("vegsales_table_rows", (("table", "rejected_sales"),)): 10,
        ("vegsales_table_rows", (("table", "data_versions"),)): 1,
        # the post's bronze, silver and gold rows as its version left them, in one history row
        ("vegsales_table_rows", (("table", "row_history"),)): 1,
        ("vegsales_latest_week_timestamp_seconds", (("vegetable", "tomato"),)): 1578355200.0,  # 2020-01-07 UTC
    }
    assert after[("vegsales_last_stored_post_timestamp_seconds", ())] > 1.7e9
    latency = ("vegsales_http_request_duration_seconds_count", (("route", "/post_sales"),))
    assert after[latency] - before.get(latency, 0) == 2
    assert ("vegsales_http_request_duration_seconds_count", (("route", "/metrics"),)) not in after
    assert after[("vegsales_http_requests_in_flight", ())] == 1  # the scrape itself
    assert after[("process_open_fds", ())] > 0 and after[("process_resident_memory_bytes", ())] > 0


def test_labels_never_take_raw_names_or_request_ids(app_client):
    app_client.post("/post_sales", json=[sale("2020-01-06", "mangoooo", 1), {"zzz-unbounded-key": 1}])
    app_client.get("/random/path/123", headers={"X-Request-ID": "id-987"})
    assert app_client.request("BREWCOFFEE", "/health").status_code == 405  # any token is a method in HTTP
    text = app_client.get("/metrics").text
    assert "mangoooo" not in text and "zzz-unbounded-key" not in text and "id-987" not in text
    assert 'route="other"' in text and "/random" not in text
    assert 'vegsales_http_requests_total{method="other",route="/health",status="405"} 1.0' in text
    assert "BREWCOFFEE" not in text


def test_metrics_need_the_admin_token_when_one_is_set(tmp_path):
    with TestClient(create_app(SqliteStore(tmp_path / "s.db"), security=Security(admin_token="a"))) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer a"}).status_code == 200


def test_without_metrics_there_is_no_metrics_endpoint(tmp_path):
    with TestClient(create_app(SqliteStore(tmp_path / "s.db"), metrics=False)) as client:
        assert client.get("/metrics").status_code == 404


def weeks(count: int) -> list[str]:
    import datetime as dt

    return [(dt.date(2020, 1, 6) + dt.timedelta(weeks=i)).isoformat() for i in range(count)]


def test_data_quality_gives_weeks_gaps_the_latest_z_score_and_the_feed(app_client):
    history = [sale(week, "Tomate", 100 + 10 * (i % 3)) for i, week in enumerate(weeks(10)) if i != 4]
    app_client.post("/post_sales", json=[*history, sale(weeks(11)[-1], "tomatto", 400)])
    app_client.post("/post_sales", json=[sale("2020-01-06", "mango", 1), sale("2020-01-13", "mango", 2), 42])
    app_client.post("/post_sales", json=[sale("2020-01-06", "Poire", 1), sale("2020-01-06", "kiwi", 1)])
    quality = app_client.get("/get_data_quality").json()
    expected_z = (400 - 110) / (1.4826 * 10)
    assert quality["vegetables"] == [
        {"vegetable": "pear", "weeks": 1, "first_week": "2020-01-06", "last_week": "2020-01-06", "missing_weeks": 0,
         "latest_kilos": 1.0, "latest_z": None},
        {"vegetable": "tomato", "weeks": 10, "first_week": "2020-01-06", "last_week": "2020-03-16", "missing_weeks": 1,
         "latest_kilos": 400.0, "latest_z": pytest.approx(expected_z)},
    ]  # fmt: skip
    assert quality["feed"] == {
        "recent_records": 15,
        "recent_rejected_share": pytest.approx(4 / 15),
        "most_rejected_names": [{"vegetable": "mango", "times": 2}, {"vegetable": "kiwi", "times": 1}],
        "warnings": {"overlapping_weeks": 0, "read_by_similarity": 1, "other_spelling": 0},
    }
    z = samples(app_client)[("vegsales_latest_week_robust_z", (("vegetable", "tomato"),))]
    assert z == pytest.approx(expected_z)


@pytest.mark.parametrize(
    ("latest", "history", "expected"),
    [
        pytest.param(10.0, [1.0, 2.0, 3.0, 4.0, 5.0], (10 - 3) / (1.4826 * 1), id="far_above"),
        pytest.param(3.0, [1.0, 2.0, 3.0, 4.0, 5.0], 0.0, id="at_the_median"),
        pytest.param(1.0, [2.0, 2.0, 2.0], None, id="flat_history_other_value"),
        pytest.param(2.0, [2.0, 2.0, 2.0], 0.0, id="flat_history_same_value"),
        pytest.param(5.0, [1.0, 2.0], None, id="too_little_history"),
        pytest.param(100.0, [10.0, 11.0, 9.0, 1000.0, 10.0], 90 / 1.4826, id="one_spike_in_history_does_not_hide_it"),
    ],
)
def test_robust_z(latest, history, expected):
    assert robust_z(latest, history) == (pytest.approx(expected) if expected is not None else None)


def test_json_log_lines_carry_the_request_id(app_client, capsys):
    from vegsales.logs import configure_logging

    configure_logging("json")
    try:
        app_client.get("/health", headers={"X-Request-ID": "json-1"})
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    finally:
        logging.getLogger().handlers.clear()
    (access,) = [line for line in lines if line["logger"] == "vegsales.access"]
    assert {key: access[key] for key in ("level", "message", "request_id", "method", "path", "status")} == {
        "level": "INFO",
        "message": access["message"],
        "request_id": "json-1",
        "method": "GET",
        "path": "/health",
        "status": 200,
    }
    assert access["message"].startswith("GET /health 200 ") and access["time"].endswith("+00:00")


def test_two_workers_count_as_one_service_and_log_json_lines(tmp_path):
    from support.servers import Server

    flags = ["--workers", "2", "--log-format", "json", "--access-log"]  # stderr to a file: a pipe would fill
    with Server("app_sql.py", "--db", str(tmp_path / "sales.db"), *flags, log_file=tmp_path / "stderr") as server:
        for i in range(40):  # a new connection each time: both workers get some
            records = [sale(f"2020-W{1 + i:02d}", "Tomate", i), sale("2020-01-06", "mango", i)] if i % 4 else [42]
            request_json(f"{server.url}/post_sales", records, {"X-Request-ID": f"post-{i}"})
        workers = worker_pids(server.process.pid)
        before = {pid: cpu_ticks(pid) for pid in workers}
        # An idle worker may win every accept: scrapes four at a time, so that both workers answer some.
        with ThreadPoolExecutor(4) as pool:
            scrapes = list(pool.map(request_text, [f"{server.url}/metrics"] * 40))
        worked = {pid for pid in workers if cpu_ticks(pid) > before[pid]}
        totals = set()
        for text in scrapes:
            values = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            posts = sum(v for (name, labels), v in values.items() if name == "vegsales_http_requests_total"
                        and dict(labels)["route"] == "/post_sales")  # fmt: skip
            totals.add((posts, values[("vegsales_records_total", (("outcome", "received"),))],
                        values[("vegsales_records_total", (("outcome", "rejected"),))],
                        values[("vegsales_table_rows", (("table", "bronze_sales"),))]))  # fmt: skip
    assert len(workers) == 2 and worked == set(workers), "both workers answered scrapes"
    assert totals == {(40.0, 70.0, 40.0, 30.0)}  # every scrape sees the whole service
    lines = [json.loads(line) for line in server.log.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "vegsales.access" and line["path"] == "/post_sales"]
    assert sorted(line["request_id"] for line in access) == sorted(f"post-{i}" for i in range(40))
    assert {(line["records_received"], line["records_rejected"]) for line in access} == {(2, 1), (1, 1)}
    assert all(set(line) >= {"time", "level", "message", "request_id"} for line in lines)


def worker_pids(parent: int) -> list[int]:
    """The server's worker processes (multiprocessing's resource tracker left out)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue  # gone meanwhile
        if ppid == parent and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return found


def cpu_ticks(pid: int) -> int:
    """User + system CPU time the process has used, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def request_json(url: str, body: object, headers: dict[str, str]) -> int:
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def request_text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:
        return str(response.read().decode())


def test_an_unexpected_error_is_logged_with_the_request_id_body_size_and_traceback(app_client, caplog, monkeypatch):
    import vegsales.pipeline

    def broken(*args, **options):
        raise RuntimeError("bug")

    monkeypatch.setattr(vegsales.pipeline, "ingest_posts", broken)
    caplog.handler.addFilter(RequestIdFilter())  # as the service's handler does: the id at the time of the event
    body = json.dumps([sale("2020-01-06", "Tomate", 1)]).encode()
    response = app_client.post("/post_sales", content=body, headers={"X-Request-ID": "boom-1"})
    assert response.json()["request_id"] == "boom-1"
    (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.getMessage() == f"unexpected error on POST /post_sales (body: {len(body)} bytes)"
    assert (record.request_id, record.exc_info[0]) == ("boom-1", RuntimeError)


def test_workers_end_with_their_server_process_killed_and_a_restart_binds_the_port(tmp_path):
    from support.servers import Server, wait_for

    database = str(tmp_path / "sales.db")
    server = Server("app_sql.py", "--db", database, "--workers", "2", log_file=tmp_path / "stderr").wait_ready()
    try:
        workers = wait_for(lambda: len(found := worker_pids(server.process.pid)) == 2 and found, "two workers")
        assert request_json(f"{server.url}/post_sales", [sale("2020-01-06", "Tomate", 3)], {}) == 200
        server.kill()  # kill -9 of the server process: no clean-up of any kind
        started = time.monotonic()
        wait_for(lambda: not any(map(running, workers)), "the workers ended", timeout=5)
        print(f"workers ended {time.monotonic() - started:.1f} s after their server process")
    finally:
        server.stop()
        for pid in filter(running, workers):
            os.kill(pid, signal.SIGKILL)
    with Server("app_sql.py", "--db", database, port=server.port, log_file=tmp_path / "stderr-2") as restarted:
        assert request_text(f"{restarted.url}/get_raw_sales") == (
            '[{"date":"2020-01-06","vegetable":"Tomate","kilo_sold":3.0}]'
        )


@pytest.mark.parametrize(
    ("on_sigterm", "returncode"),
    [
        pytest.param("signal.SIG_DFL", -signal.SIGTERM, id="stops_at_sigterm"),
        pytest.param("signal.SIG_IGN", 1, id="exits_after_the_grace_period_if_it_does_not"),
    ],
)
def test_a_worker_whose_parent_is_not_the_one_it_was_started_by_stops(on_sigterm, returncode):
    """The watcher thread alone (the kernel's signal comes only when the parent really ends): a
    process told that its parent is pid 1 sees another and stops."""
    code = f"import signal, time; signal.signal(signal.SIGTERM, {on_sigterm}); "
    code += "from vegsales.server import end_with_parent; end_with_parent(1); time.sleep(30)"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == returncode
    assert time.monotonic() - started < (2 if returncode < 0 else 6)
    assert "server process 1 has ended: this worker (" in result.stderr


def running(pid: int) -> bool:
    """Whether the process exists and has not ended (a zombie, ended but not yet reaped, has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
