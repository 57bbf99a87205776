"""The CSV server as a real process: killed mid-write, started twice, started on a bad file."""

import csv
import datetime as dt
import threading
import time

import pytest

from support.servers import Server, request
from tests import oracle
from tests.conftest import one_sale_a_month
from vegsales.rows import GoldRow
from vegsales.storage.csv import CsvStore

NAMES = ["Tomate", "tomatto", "Poire"]
CANONICAL = {
    "Tomate": "tomato",
    "tomatto": "tomato",
    "Poire": "pear",
    "Pommes de terre": "potato",
    "chou-fleur": "cauliflower",
}
MONTHLY = one_sale_a_month("Pommes de terre", 31) + one_sale_a_month("chou-fleur", 22)
"""Potato's last month is an outlier (5.39 standard deviations), cauliflower's is not (4.48)."""


def week(n: int) -> str:
    return (dt.date(1900, 1, 1) + dt.timedelta(days=7 * n)).isoformat()


def post_until_stopped(url: str, stop: threading.Event, acknowledged: dict, attempted: dict, name: str) -> None:
    """Post batches of 20 new records (one key each); remember those whose POST got a 200."""
    batch_number = 0
    while not stop.is_set():
        batch = [
            {"date": week(batch_number * 20 + i), "vegetable": name, "kilo_sold": float(batch_number * 1000 + i)}
            for i in range(20)
        ]
        for record in batch:
            attempted[(record["date"], record["vegetable"])] = record["kilo_sold"]
        try:
            status, _ = request(f"{url}/post_sales", "POST", batch, timeout=5)
        except OSError:
            return  # the server is gone
        if status == 200:
            for record in batch:
                acknowledged[(record["date"], record["vegetable"])] = record["kilo_sold"]
        batch_number += 1


def parse_csv_files(folder) -> dict[str, list[list[str]]]:
    tables = {}
    for name, width in (("bronze.csv", 5), ("silver.csv", 5), ("gold.csv", 4), ("rejected.csv", 7), ("meta.csv", 2)):
        text = (folder / name).read_text(encoding="utf-8")
        assert text.endswith("\n"), f"{name} is truncated"
        rows = list(csv.reader(text.splitlines(keepends=True), strict=True))
        assert all(len(row) == width for row in rows), f"{name} has a half-written line"
        tables[name] = rows
    return tables


def test_kill_9_mid_stream_loses_no_acknowledged_post(tmp_path):
    folder = tmp_path / "csv"
    acknowledged: dict = {}
    attempted: dict = {}
    for round_number in range(3):
        server = Server("app_csv.py", "--data-dir", str(folder)).wait_ready()
        if round_number == 0:  # months that flag an outlier, before any kill
            assert request(f"{server.url}/post_sales", "POST", MONTHLY)[0] == 200
            monthly = {(record["date"], record["vegetable"]): record["kilo_sold"] for record in MONTHLY}
            acknowledged |= monthly
            attempted |= monthly
        stop = threading.Event()
        poster = threading.Thread(
            target=post_until_stopped,
            args=(server.url, stop, acknowledged, attempted, NAMES[round_number]),
        )
        poster.start()
        time.sleep(0.6)
        server.kill()  # while posts are in flight
        stop.set()
        poster.join()
        server.stop()
        parse_csv_files(folder)  # whole files, even before recovery
    assert len(acknowledged) > len(MONTHLY) + 100

    with Server("app_csv.py", "--data-dir", str(folder)) as server:
        raw = {(r["date"], r["vegetable"]): r["kilo_sold"] for r in request(f"{server.url}/get_raw_sales")[1]}
        gold = [GoldRow(**row) for row in request(f"{server.url}/get_monthly_sales")[1]]
    missing = {key for key in acknowledged if raw.get(key) != acknowledged[key]}
    assert not missing, f"{len(missing)} acknowledged records lost"
    assert all(attempted.get(key) == kilos for key, kilos in raw.items()), "a record nobody posted"
    expected = oracle.gold((date, CANONICAL[name], kilos) for (date, name), kilos in raw.items())
    oracle.assert_gold_equals(gold, expected)
    assert [(month, vegetable) for month, vegetable, _, outlier in expected if outlier] == [("2012-07", "potato")]
    files = parse_csv_files(folder)
    assert len(files["bronze.csv"]) == len(raw) + 1


def test_a_second_server_on_the_same_folder_refuses_to_start(tmp_path):
    folder = str(tmp_path / "csv")
    with Server("app_csv.py", "--data-dir", folder) as first:
        second = Server("app_csv.py", "--data-dir", folder)
        assert second.process.wait(timeout=30) == 1
        error = second.process.stderr.read()
        second.stop()
        assert f"in use by another vegsales process (pid {first.process.pid})" in error
        assert "Traceback" not in error
        assert request(f"{first.url}/health")[0] == 200


BRONZE = "date,vegetable,kilo_sold,week_start,received_at\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"{BRONZE}2020-01-06,Tomate,70,2020-01-06,t\n2020-01-13,Tomate,seventy,2020-01-13,t\n", "bronze.csv, line 3:"),
        ("date,vegetable,kilo\n", "bronze.csv, line 1: header must be date,vegetable,kilo_sold,week_start,received_at"),
    ],
)
def test_a_hand_broken_file_stops_start_up_with_file_and_line(tmp_path, text, message):
    folder = tmp_path / "csv"
    CsvStore(folder).close()
    (folder / "bronze.csv").write_text(text, encoding="utf-8")
    server = Server("app_csv.py", "--data-dir", str(folder))
    assert server.process.wait(timeout=30) == 1
    error = server.process.stderr.read()
    server.stop()
    assert message in error
    assert "Traceback" not in error
