"""The CSV server as a real process on a folder large enough that its commits append lines: killed
mid-stream, it leaves whole lines and loses no acknowledged post; restarted, its files are true
tables again."""

import csv
import datetime as dt
import http.client
import threading
import time

from support.servers import Server, request
from tests import oracle
from tests.conftest import sale
from vegsales.pipeline import ingest
from vegsales.rows import GoldRow
from vegsales.silver import FeedRules
from vegsales.storage.csv import CsvStore

NAMES = {"Tomate": "tomato", "Poire": "pear", "Carotte": "carrot"}
WEEKS = 1000
"""Weeks of each vegetable stored first: every file of sales over csv_files.APPEND_FROM (gold.csv's 690 months too)."""
STORED = 10.0


def week(number: int) -> str:
    return (dt.date(2000, 1, 3) + dt.timedelta(weeks=number)).isoformat()


def post_until_stopped(url: str, name: str, first: int, stop: threading.Event, acknowledged: dict, attempted: dict):
    """One-record posts, each updating another stored week of `name`; remember those answered 200."""
    for number in range(first, WEEKS):
        if stop.is_set():
            return
        key, kilos = (week(number), name), float(number % 97 + 1000)
        attempted[key] = kilos
        try:
            status, _ = request(f"{url}/post_sales", "POST", [sale(*key, kilos)], timeout=5)
        except (OSError, http.client.HTTPException):
            return  # the server is gone
        if status == 200:
            acknowledged[key] = kilos


def lines(folder, name: str) -> list[list[str]]:
    text = (folder / name).read_text(encoding="utf-8")
    assert text.endswith("\n"), f"{name} ends mid-line"
    rows = list(csv.reader(text.splitlines(keepends=True), strict=True))
    assert all(len(row) == len(rows[0]) for row in rows), f"{name} has a half-written line"
    return rows


def test_kill_9_while_appending_leaves_whole_lines_and_loses_no_acknowledged_post(tmp_path):
    folder = tmp_path / "csv"
    store = CsvStore(folder)
    ingest(store, FeedRules(), [sale(week(n), name, STORED) for name in NAMES for n in range(WEEKS)])
    store.close()
    acknowledged: dict = {}
    attempted: dict = {}
    for round_number in range(3):
        server = Server("app_csv.py", "--data-dir", str(folder)).wait_ready()
        stop = threading.Event()
        posters = [
            threading.Thread(
                target=post_until_stopped,
                args=(server.url, name, 1 + round_number * 300, stop, acknowledged, attempted),
            )
            for name in NAMES
        ]
        for poster in posters:
            poster.start()
        time.sleep(1.0)
        server.kill()  # while posts are in flight
        stop.set()
        for poster in posters:
            poster.join()
        server.stop()
        meta = lines(folder, "meta.csv")  # whole lines in every file, before any recovery
        assert any(row[0] == "commit" for row in meta), "the server did not append"
        for name in ("bronze.csv", "silver.csv", "gold.csv", "rejected.csv"):
            lines(folder, name)
    assert len(acknowledged) > 100

    with Server("app_csv.py", "--data-dir", str(folder)) as server:
        raw = {(r["date"], r["vegetable"]): r["kilo_sold"] for r in request(f"{server.url}/get_raw_sales")[1]}
        gold = [GoldRow(**row) for row in request(f"{server.url}/get_monthly_sales")[1]]
    lost = {key for key, kilos in acknowledged.items() if raw.get(key) != kilos}
    assert not lost, f"{len(lost)} acknowledged records lost"
    assert len(raw) == len(NAMES) * WEEKS
    assert all(kilos in (STORED, attempted.get(key)) for key, kilos in raw.items()), "a value nobody posted"
    oracle.assert_gold_equals(gold, oracle.gold((date, NAMES[name], kilos) for (date, name), kilos in raw.items()))
    bronze = lines(folder, "bronze.csv")
    assert len(bronze) == len(raw) + 1  # one line per row again
    assert [row[0] for row in lines(folder, "meta.csv")] == [
        "key",
        "history_from",
        "rules",
        "schema_version",
        "week_date",
    ]
