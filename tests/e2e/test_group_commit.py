"""Group commit, on every backend: posts that arrive together share one transaction, yet each gets its
own exact report, and none is answered before its records are on disk (seen by another reader)."""

import asyncio
import csv
import datetime as dt
import sqlite3
from contextlib import contextmanager

import orjson
import psycopg

from tests.conftest import POSTGRES_URL, sale
from vegsales.api import create_app
from vegsales.storage.csv import CsvStore
from vegsales.storage.postgres import PostgresStore
from vegsales.storage.sqlite import SqliteStore

POSTS = 20


def week(number: int) -> str:
    return (dt.date(2020, 1, 6) + dt.timedelta(weeks=3 * number)).isoformat()  # 3 weeks apart: no overlap


def records(number: int) -> list[dict]:
    """A post of its own week, sent twice (the later value wins), an impossible date, and a week that
    overlaps the first one by five days (a warning on both)."""
    first, overlapping = week(number), (dt.date.fromisoformat(week(number)) + dt.timedelta(days=2)).isoformat()
    return [
        sale(first, "Carotte", number + 1),
        sale(first, "Carotte", number + 2),
        sale("2021-02-29", "Carotte", 3),
        sale(overlapping, "Carotte", 4),
    ]


def expected_report(number: int) -> dict:
    first, overlapping = week(number), (dt.date.fromisoformat(week(number)) + dt.timedelta(days=2)).isoformat()

    def overlap(index: int, start: str, other: str) -> dict:
        message = f"the week of {start} overlaps the stored week of {other} (5 days) of 'Carotte'"
        return {"index": index, "code": "overlapping_weeks", "message": f"{message}: those days are counted twice"}

    date_error = {"field": "date", "code": "bad_date", "message": "'2021-02-29' is not a real calendar date"}
    return {
        "received": 4,
        "inserted": 2,
        "updated": 1,
        "unchanged": 0,
        "rejected": [{"index": 2, "errors": [date_error]}],
        "warnings": [overlap(0, first, overlapping), overlap(1, first, overlapping), overlap(3, overlapping, first)],
    }


def on_disk(store) -> set[tuple[str, str, float]]:
    """The bronze rows as another reader finds them in the store's files or database, now."""
    if isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as connection:
            rows = connection.execute("SELECT date, vegetable, kilo_sold FROM bronze_sales").fetchall()
        return set(rows)
    if isinstance(store, CsvStore):
        with open(store.folder / "bronze.csv", newline="", encoding="utf-8") as file:
            return {(row["date"], row["vegetable"], float(row["kilo_sold"])) for row in csv.DictReader(file)}
    assert isinstance(store, PostgresStore)
    with psycopg.connect(POSTGRES_URL, options=f"-c search_path={store.schema}") as connection:
        return set(connection.execute("SELECT date, vegetable, kilo_sold FROM bronze_sales").fetchall())


async def post(app, body: bytes) -> tuple[int, dict]:
    """One POST /post_sales through the whole app, as uvicorn would call it."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/post_sales", "raw_path": b"/post_sales", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], orjson.loads(sent[1]["body"])


@contextmanager
def counted_transactions(store):
    """Counts the store's write transactions while the block runs."""
    count, write = [0], store.write

    @contextmanager
    def counting(*args, **options):
        count[0] += 1
        with write(*args, **options) as transaction:
            yield transaction

    store.write = counting
    try:
        yield count
    finally:
        del store.write


def test_posts_arriving_together_share_a_commit_each_with_its_own_report_answered_once_on_disk(make_store):
    store = make_store()
    app = create_app(store)
    answered_before_on_disk: list[int] = []

    async def post_and_check(number: int) -> tuple[int, dict]:
        status, report = await post(app, orjson.dumps(records(number)))
        stored = on_disk(store)  # at once, before anything else runs: what a crash now would keep
        if (week(number), "Carotte", number + 2.0) not in stored:
            answered_before_on_disk.append(number)
        return status, report

    async def post_all() -> list[tuple[int, dict]]:
        return await asyncio.gather(*(post_and_check(number) for number in range(POSTS)))

    with counted_transactions(store) as transactions:
        answers = asyncio.run(post_all())
    versions = [report.pop("data_version") for _, report in answers]
    assert answers == [(200, expected_report(number)) for number in range(POSTS)]
    assert answered_before_on_disk == []
    assert 1 <= transactions[0] < POSTS // 2  # grouped: the posts waiting together share a transaction
    # each transaction made one data version, which every post it held reports
    assert sorted(set(versions)) == list(range(1, transactions[0] + 1))
    overlapping = [(dt.date.fromisoformat(week(n)) + dt.timedelta(days=2)).isoformat() for n in range(POSTS)]
    assert on_disk(store) == {(week(n), "Carotte", n + 2.0) for n in range(POSTS)} | {
        (day, "Carotte", 4.0) for day in overlapping
    }
