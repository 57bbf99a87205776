"""The table reads on every backend: GET /get_raw_sales (bronze), /get_weekly_sales (silver) and
/get_monthly_sales (gold), filtered by vegetable (any spelling) and by a range of weeks or months,
paged by a next link pinned to the first page's data version, in JSON, CSV, NDJSON and Parquet,
with their ETags and their errors.

Every filtered answer is checked against the same filter applied here to the whole read of the same
table; the whole reads are checked against the records posted (raw, weekly) and tests.oracle (monthly).
"""

import csv
import datetime as dt
import io
import itertools
import json
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from types import SimpleNamespace
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from tests.conftest import sale
from tests.oracle import assert_gold_equals, gold
from vegsales.http import table_reads
from vegsales.http.as_of import Snapshots

Response = Any
"""What the test client's requests return."""
SPELLINGS = {
    "carotte": "carrot",
    "Zanahoria": "carrot",
    "carrot": "carrot",
    "Karotte": "carrot",
    "Tomate": "tomato",
    "tomatto": "tomato",
    "Jitomate": "tomato",
    "poireau": "leek",
    "Puerro": "leek",
    "pomme de terre": "potato",
    "Patata": "potato",
    "potatoes": "potato",
}
"""Every raw name posted here, with the vegetable it stands for."""
MONDAYS = [dt.date(2019, 12, 30) + dt.timedelta(weeks=week) for week in range(131)]
"""2020-W01 (Monday 2019-12-30) to 2022-W26 (Monday 2022-06-27): carrots sell in 32 months."""
SPIKE = dt.date(2021, 3, 8)
"""The week `Zanahoria` sold 40 times its usual kilos: carrot 2021-03 is the only outlier month."""


@dataclass(frozen=True)
class Sale:
    week_start: str
    """The first day of the week (ISO), as the service must read `date`."""
    date: str | int
    """As posted: a calendar date, an ISO week, a year and week (text or JSON integer)."""
    vegetable: str
    kilo_sold: float


def written(monday: dt.date, notation: int) -> str | int:
    """The week of `monday` in one of the notations posts take."""
    year, week, _ = monday.isocalendar()
    notations: list[str | int] = [
        monday.isoformat(),
        f"{year}-W{week:02d}",
        f"{year}{week:02d}",
        f"{year}-{week:02d}",
        year * 100 + week,
        monday.strftime("%Y%m%d"),
        f"{year}W{week:02d}-1",
    ]
    return notations[notation % len(notations)]


def seed_sales() -> list[Sale]:
    """Weekly carrots under three spellings (two of them in some weeks), tomatoes from April to
    October, leeks from October to March, and potatoes every other week from a feed whose weeks start
    on Sundays (calendar dates only)."""
    rng = random.Random(2021)
    sales = []
    for number, monday in enumerate(MONDAYS):
        week = monday.isoformat()
        carrot = "Zanahoria" if monday == SPIKE else ("carotte", "Zanahoria", "carrot")[number % 3]
        kilos = 8_000.0 if monday == SPIKE else round(rng.uniform(150, 250), 1)
        sales.append(Sale(week, written(monday, number), carrot, kilos))
        if number % 6 == 0:
            other = "carotte" if carrot == "carrot" else "carrot"
            sales.append(Sale(week, written(monday, number + 1), other, round(rng.uniform(10, 40), 2)))
        if 4 <= monday.month <= 10:
            tomato = ("Tomate", "tomatto", "Jitomate")[number % 3]
            sales.append(Sale(week, written(monday, number + 2), tomato, round(rng.uniform(300, 500), 1)))
        if monday.month >= 10 or monday.month <= 3:
            sales.append(
                Sale(week, written(monday, number + 3), ("poireau", "Puerro")[number % 2], rng.randint(40, 90))
            )
        if number % 2 == 0:
            sunday = monday - dt.timedelta(days=1)
            date = sunday.isoformat() if number % 4 == 0 else sunday.strftime("%Y%m%d")
            potato = ("pomme de terre", "Patata", "potatoes")[number // 2 % 3]
            sales.append(Sale(sunday.isoformat(), date, potato, round(rng.uniform(500, 800), 3)))
    return sales


SALES = seed_sales()
LATE_CARROT = Sale("2022-07-04", "2022-07-04", "Zanahoria", 321.5)
"""Posted after the seed: a week after every other one."""
WEEK_OF = {(str(row.date), row.vegetable): row.week_start for row in [*SALES, LATE_CARROT]}
"""The first day of the week of each raw row, by (date as served, vegetable as sent)."""


def posted(sales: list[Sale]) -> list[dict]:
    return [sale(row.date, row.vegetable, row.kilo_sold) for row in sales]


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    response = client.post("/post_sales", json=posted(SALES))
    assert response.status_code == 200, response.text
    assert (response.json()["inserted"], response.json()["rejected"]) == (len(SALES), [])
    return client


# --- the three reads, and the filters applied here -------------------------------------------------


@dataclass(frozen=True)
class Read:
    path: str
    columns: tuple[tuple[str, type], ...]
    period: Callable[[dict], str]
    """A row's week (its first day) or month, which `from` and `to` compare with."""
    vegetable: Callable[[dict], str]
    """A row's canonical vegetable."""


RAW = Read(
    "/get_raw_sales",
    (("date", str), ("vegetable", str), ("kilo_sold", float)),
    lambda row: WEEK_OF[row["date"], row["vegetable"]],
    lambda row: SPELLINGS[row["vegetable"]],
)
WEEKLY = Read(
    "/get_weekly_sales",
    (("week_start", str), ("date", str), ("vegetable", str), ("raw_vegetable", str), ("kilo_sold", float)),
    itemgetter("week_start"),
    itemgetter("vegetable"),
)
MONTHLY = Read(
    "/get_monthly_sales",
    (("year_month", str), ("vegetable", str), ("kilo_sold", float), ("is_outlier", bool)),
    itemgetter("year_month"),
    itemgetter("vegetable"),
)
READS = {"raw": RAW, "weekly": WEEKLY, "monthly": MONTHLY}


def kept(read: Read, rows: list[dict], vegetable: str | None, first: str | None, last: str | None) -> list[dict]:
    """The rows of a whole read that a filter keeps, in their order."""
    return [
        row
        for row in rows
        if (vegetable is None or read.vegetable(row) == vegetable)
        and (first is None or read.period(row) >= first)
        and (last is None or read.period(row) <= last)
    ]


def get(client: TestClient, path: str, params: dict | None = None, **headers: str) -> Response:
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == 200, (path, params, response.text)
    return response


def whole(client: TestClient, read: Read, **params: str) -> list[dict]:
    return get(client, read.path, params).json()


# --- the whole reads are the data posted ----------------------------------------------------------


def test_the_whole_reads_are_the_records_posted_and_their_months(seeded: TestClient):
    by_key = sorted(SALES, key=lambda row: (row.week_start, row.vegetable))
    assert whole(seeded, RAW) == [
        {"date": str(row.date), "vegetable": row.vegetable, "kilo_sold": float(row.kilo_sold)} for row in by_key
    ]
    by_vegetable = sorted(SALES, key=lambda row: (row.week_start, SPELLINGS[row.vegetable], row.vegetable))
    assert whole(seeded, WEEKLY) == [
        {
            "week_start": row.week_start,
            "date": str(row.date),
            "vegetable": SPELLINGS[row.vegetable],
            "raw_vegetable": row.vegetable,
            "kilo_sold": float(row.kilo_sold),
        }
        for row in by_vegetable
    ]
    months = whole(seeded, MONTHLY)
    expected = gold((row.week_start, SPELLINGS[row.vegetable], row.kilo_sold) for row in SALES)
    assert_gold_equals([SimpleNamespace(**row) for row in months], expected)
    assert [(row["year_month"], row["vegetable"]) for row in months if row["is_outlier"]] == [("2021-03", "carrot")]
    assert len({row["year_month"] for row in months if row["vegetable"] == "carrot"}) == 32


# --- filters ---------------------------------------------------------------------------------------

FILTERS = [
    # (read, query, vegetable, first, last): the filter the query asks for, written out by hand
    ("raw", {"vegetable": "Zanahoria"}, "carrot", None, None),
    ("raw", {"vegetable": "CAROTTE"}, "carrot", None, None),
    ("raw", {"vegetable": "pomme de terre"}, "potato", None, None),
    ("raw", {"from": "2021-W05"}, None, "2021-02-01", None),
    ("raw", {"from": "2021-01-31"}, None, "2021-01-31", None),  # a potato week starting on a Sunday
    ("raw", {"to": "2020-W53"}, None, None, "2020-12-28"),
    ("raw", {"to": "2021-01-31"}, None, None, "2021-01-31"),
    ("raw", {"from": "202105", "to": "2021-W20"}, None, "2021-02-01", "2021-05-17"),
    ("raw", {"from": "2021-05", "to": "20210315"}, None, "2021-02-01", "2021-03-15"),  # 2021-05: week 5
    ("raw", {"from": "2021W10", "to": "2021-W10-1"}, None, "2021-03-08", "2021-03-08"),
    ("raw", {"vegetable": "carott", "from": "2020W50", "to": "2021-03-08"}, "carrot", "2020-12-07", "2021-03-08"),
    ("raw", {"vegetable": "asparagus"}, "asparagus", None, None),  # a known vegetable never sold: no rows
    ("weekly", {"vegetable": "tomatto"}, "tomato", None, None),
    ("weekly", {"vegetable": "Puerro"}, "leek", None, None),
    ("weekly", {"from": "2022-01-03"}, None, "2022-01-03", None),
    ("weekly", {"to": "2020-W27"}, None, None, "2020-06-29"),
    ("weekly", {"from": "2020-W40", "to": "202103"}, None, "2020-09-28", "2021-01-18"),
    (
        "weekly",
        {"vegetable": "Zanahoria", "from": "2021-02-28", "to": "2021-03-14"},
        "carrot",
        "2021-02-28",
        "2021-03-14",
    ),
    ("monthly", {"vegetable": "Zanahoria"}, "carrot", None, None),
    ("monthly", {"vegetable": "poireaux"}, "leek", None, None),
    ("monthly", {"from": "2021-03"}, None, "2021-03", None),
    ("monthly", {"to": "2020-12"}, None, None, "2020-12"),
    ("monthly", {"from": "2020-11", "to": "2021-02"}, None, "2020-11", "2021-02"),
    ("monthly", {"from": "2021-03", "to": "2021-03"}, None, "2021-03", "2021-03"),
    ("monthly", {"vegetable": "Tomate", "from": "2021-01", "to": "2021-12"}, "tomato", "2021-01", "2021-12"),
]


def test_each_filter_selects_what_it_selects_of_the_whole_read(seeded: TestClient):
    rows = {name: whole(seeded, read) for name, read in READS.items()}
    for name, query, vegetable, first, last in FILTERS:
        read = READS[name]
        expected = kept(read, rows[name], vegetable, first, last)
        assert len(expected) < len(rows[name]), (name, query)
        assert (vegetable == "asparagus") == (expected == []), (name, query)
        assert whole(seeded, read, **query) == expected, (name, query)


def test_the_raw_vegetable_filter_returns_every_spelling_of_the_vegetable(seeded: TestClient):
    for spelling in ("carotte", "Zanahoria", "carrot", "Karotte", "zanahorias"):
        rows = whole(seeded, RAW, vegetable=spelling)
        assert {row["vegetable"] for row in rows} == {"carotte", "Zanahoria", "carrot"}, spelling
        assert len(rows) == sum(SPELLINGS[row.vegetable] == "carrot" for row in SALES)
    week = whole(seeded, RAW, vegetable="carrot", **{"from": "2020-W01", "to": "2020-W01"})
    assert week == [
        {"date": "2019-12-30", "vegetable": "carotte", "kilo_sold": SALES[0].kilo_sold},
        {"date": "2020-W01", "vegetable": "carrot", "kilo_sold": SALES[1].kilo_sold},
    ]


def test_remove_outliers_with_filters_is_the_filter_applied_to_the_months_without_outliers(seeded: TestClient):
    without = whole(seeded, MONTHLY, remove_outliers="true")
    assert ("2021-03", "carrot") not in {(row["year_month"], row["vegetable"]) for row in without}
    for query, vegetable, first, last in [
        ({"vegetable": "carotte"}, "carrot", None, None),
        ({"from": "2021-01", "to": "2021-06"}, None, "2021-01", "2021-06"),
        ({"vegetable": "Zanahoria", "from": "2021-02", "to": "2021-04"}, "carrot", "2021-02", "2021-04"),
    ]:
        expected = kept(MONTHLY, without, vegetable, first, last)
        assert whole(seeded, MONTHLY, remove_outliers="true", **query) == expected, query
        with_outliers = whole(seeded, MONTHLY, remove_outliers="false", **query)
        assert with_outliers == kept(MONTHLY, whole(seeded, MONTHLY), vegetable, first, last), query
    spike_month = whole(seeded, MONTHLY, vegetable="carrot", **{"from": "2021-03", "to": "2021-03"})
    assert [(row["year_month"], row["is_outlier"]) for row in spike_month] == [("2021-03", True)]
    assert (
        whole(seeded, MONTHLY, vegetable="carrot", remove_outliers="true", **{"from": "2021-03", "to": "2021-03"}) == []
    )


# --- formats ---------------------------------------------------------------------------------------

CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "ndjson": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}
ARROW_TYPES = {str: "string", float: "double", bool: "bool"}


def typed(rows: list[dict]) -> list[list[tuple[str, type, Any]]]:
    """Rows as (column, type, value) in column order: 10 and 10.0, or 1 and True, are told apart."""
    return [[(name, type(value), value) for name, value in row.items()] for row in rows]


def parsed(read: Read, format: str, response: Response) -> list[dict]:
    """The rows of an answer in `format`, read back with the standard library or pyarrow."""
    names = [name for name, _ in read.columns]
    content = response.content
    if format == "json":
        return json.loads(content)
    if format == "ndjson":
        assert content == b"" or content.endswith(b"\n")
        return [json.loads(line) for line in content.split(b"\n")[:-1]]
    if format == "csv":
        assert content.endswith(b"\r\n")
        header, *lines = csv.reader(io.StringIO(content.decode("utf-8"), newline=""))
        assert header == names
        cells = {str: str, float: float, bool: {"true": True, "false": False}.__getitem__}
        return [
            {name: cells[kind](cell) for (name, kind), cell in zip(read.columns, line, strict=True)} for line in lines
        ]
    table = pq.read_table(io.BytesIO(content))
    assert [(field.name, str(field.type), field.nullable) for field in table.schema] == [
        (name, ARROW_TYPES[kind], False) for name, kind in read.columns
    ]
    return table.to_pylist()


FORMAT_READS = [
    ("raw", {}),
    ("raw", {"vegetable": "Zanahoria", "from": "2021-W01"}),
    ("raw", {"vegetable": "asparagus"}),
    ("weekly", {}),
    ("weekly", {"vegetable": "pomme de terre", "to": "2021-06-30"}),
    ("monthly", {}),
    ("monthly", {"remove_outliers": "true"}),
    ("monthly", {"vegetable": "carrot", "from": "2021-01", "to": "2021-06"}),
]


def test_every_format_holds_the_rows_of_the_json_read_row_for_row(seeded: TestClient):
    for name, query in FORMAT_READS:
        read = READS[name]
        expected = get(seeded, read.path, query)
        rows = expected.json()
        assert all(list(row) == [column for column, _ in read.columns] for row in rows)
        assert all(type(row[column]) is kind for row in rows for column, kind in read.columns)
        for format in ("json", "csv", "ndjson", "parquet"):
            response = get(seeded, read.path, {**query, "format": format})
            assert response.headers["content-type"] == CONTENT_TYPES[format], (name, query, format)
            assert response.headers["x-data-version"] == expected.headers["x-data-version"]
            assert typed(parsed(read, format, response)) == typed(rows), (name, query, format)


def test_the_accept_header_chooses_the_format_and_format_overrides_it(seeded: TestClient):
    for read in READS.values():
        by_parameter = {format: get(seeded, read.path, {"format": format}) for format in CONTENT_TYPES}
        for accept, format in [
            ("text/csv", "csv"),
            ("application/x-ndjson", "ndjson"),
            ("application/vnd.apache.parquet", "parquet"),
            ("application/json", "json"),
            ("text/csv;q=0.5, application/x-ndjson", "ndjson"),
            ("image/png, text/*;q=0.8", "csv"),
        ]:
            response = get(seeded, read.path, accept=accept)
            assert response.headers["content-type"] == CONTENT_TYPES[format], (read.path, accept)
            assert typed(parsed(read, format, response)) == typed(by_parameter["json"].json()), (read.path, accept)
            if format != "parquet":
                assert response.content == by_parameter[format].content, (read.path, accept)
        filtered = get(seeded, read.path, {"vegetable": "Zanahoria"}, accept="text/csv")
        assert filtered.content == get(seeded, read.path, {"vegetable": "carrot", "format": "csv"}).content
        json_over_accept = get(seeded, read.path, {"format": "json"}, accept="text/csv")
        assert json_over_accept.headers["content-type"] == "application/json"
        assert json_over_accept.content == get(seeded, read.path).content
        csv_over_accept = get(seeded, read.path, {"format": "csv"}, accept="image/png")
        assert csv_over_accept.content == by_parameter["csv"].content
        refused = seeded.get(read.path, headers={"accept": "image/png"})
        assert (refused.status_code, refused.json()) == (406, NOT_ACCEPTABLE), read.path


def test_an_answer_chosen_by_the_accept_header_says_it_varies_by_accept(seeded: TestClient):
    """A cache must not give the JSON of the plain URL to a client that asks for CSV at that URL."""
    for read in READS.values():
        for accept in ("application/json", "text/csv", "*/*"):
            response = get(seeded, read.path, accept=accept)
            vary = {value.strip().lower() for value in response.headers.get("vary", "").split(",")}
            assert "accept" in vary, (read.path, accept, response.headers.get("vary"))


# --- paging ----------------------------------------------------------------------------------------

NEXT = re.compile(r'<(/get_(?:raw|weekly|monthly)_sales\?[^>]+)>; rel="next"')


def next_link(response: Response) -> str | None:
    link = response.headers.get("link")
    if link is None:
        return None
    match = NEXT.fullmatch(link)
    assert match, link
    return match[1]


def paged(client: TestClient, path: str, params: dict, between: Callable[[int], None] = lambda page: None):
    """Every page of a read, following the next links; `between(n)` runs after the nth page."""
    responses = [get(client, path, params)]
    between(0)
    while (link := next_link(responses[-1])) is not None:
        assert len(responses) < 1000, "the next links never end"
        responses.append(get(client, link))
        between(len(responses) - 1)
    return responses


PAGED = [
    ("raw", {}, 37),
    ("raw", {"vegetable": "Zanahoria"}, 19),
    ("raw", {"vegetable": "pomme de terre", "from": "2020-W20"}, 8),
    ("weekly", {}, 50),
    ("weekly", {"vegetable": "tomatto", "to": "2021-12-31"}, 11),
    ("monthly", {}, 9),
    ("monthly", {"remove_outliers": "true", "vegetable": "carotte"}, 5),
]


def test_pages_of_limit_rows_add_up_to_the_read_without_limit(seeded: TestClient):
    for name, query, limit in PAGED:
        read = READS[name]
        expected = get(seeded, read.path, query)
        pages = paged(seeded, read.path, {**query, "limit": str(limit)})
        rows = [response.json() for response in pages]
        assert [row for page in rows for row in page] == expected.json(), (name, query)
        assert len(pages) == -(-len(expected.json()) // limit) > 2, (name, query)
        assert [len(page) for page in rows[:-1]] == [limit] * (len(pages) - 1)
        version = expected.headers["x-data-version"]
        assert {response.headers["x-data-version"] for response in pages} == {version}
        assert all(f"as_of={version}" in response.headers["link"] for response in pages[:-1])
        assert "link" not in pages[-1].headers


def test_pages_in_csv_add_up_to_the_csv_read_without_limit(seeded: TestClient):
    for name, query, limit in PAGED[:2] + PAGED[-2:]:
        read = READS[name]
        whole_csv = get(seeded, read.path, {**query, "format": "csv"}).content.split(b"\r\n")
        pages = paged(seeded, read.path, {**query, "format": "csv", "limit": str(limit)})
        lines = [response.content.split(b"\r\n") for response in pages]
        assert all(page[0] == whole_csv[0] and page[-1] == b"" for page in lines)
        assert [whole_csv[0], *(line for page in lines for line in page[1:-1]), b""] == whole_csv, (name, query)


def test_a_limit_that_holds_every_row_leaves_no_next_link(seeded: TestClient):
    for read in READS.values():
        rows = whole(seeded, read)
        exact = get(seeded, read.path, {"limit": str(len(rows))})
        assert (exact.json(), "link" in exact.headers) == (rows, False)
        one_short = paged(seeded, read.path, {"limit": str(len(rows) - 1)})
        assert [len(page.json()) for page in one_short] == [len(rows) - 1, 1]
        assert one_short[1].json() == rows[-1:]


def post_ok(client: TestClient, records: list[dict]) -> int:
    response = client.post("/post_sales", json=records)
    assert response.status_code == 200 and response.json()["rejected"] == [], response.text
    return response.json()["data_version"]


def changes_between_pages(client: TestClient, step: int) -> None:
    """The nth change made between pages: a new week after every row, a week inserted in the middle
    under another spelling, corrections of a row ahead and of a row already read, a row deleted."""
    new_week = (MONDAYS[-1] + dt.timedelta(weeks=step + 1)).isoformat()
    ahead, behind = SALES[-1 - 3 * step], SALES[3 * step]
    post_ok(
        client,
        [
            sale(new_week, "carotte", 100 + step),
            sale(new_week, "Tomate", 200.5 + step),
            sale(MONDAYS[60 + step].isoformat(), "Karotte", 33.25),
            sale(ahead.date, ahead.vegetable, ahead.kilo_sold + 1_000),
            sale(behind.date, behind.vegetable, behind.kilo_sold + 500),
        ],
    )
    deleted = SALES[-40 - 3 * step]
    response = client.post("/delete_sales", json=[{"date": str(deleted.date), "vegetable": deleted.vegetable}])
    assert (response.status_code, response.json()["deleted"]) == (200, 1), response.text


def check_pinned(client: TestClient, read: Read, query: dict, first: Response, pages: list[Response]):
    """The pages add up to the read at the first page's version, which every page names."""
    version = first.headers["x-data-version"]
    assert {response.headers["x-data-version"] for response in pages} == {version}, (read.path, query)
    got = [row for response in pages for row in response.json()]
    assert got == first.json(), (read.path, query)
    as_of = get(client, read.path, {**query, "as_of": version})
    assert (as_of.json(), as_of.headers["x-data-version"]) == (got, version), (read.path, query)
    now = get(client, read.path, query)
    assert int(now.headers["x-data-version"]) > int(version)
    assert now.json() != got, (read.path, query)
    assert "link" not in pages[-1].headers


PINNED = [
    ("raw", {}, 60),
    ("raw", {"vegetable": "Zanahoria"}, 15),
    ("weekly", {}, 60),
    ("weekly", {"vegetable": "carrot", "from": "2020-W30"}, 20),
    ("monthly", {}, 15),
    ("monthly", {"remove_outliers": "true"}, 20),
]


def test_pages_add_up_to_the_first_pages_version_while_posts_land_between_pages(seeded: TestClient):
    steps = itertools.count()  # each change is new: a week, a correction or a deletion never repeats
    for name, query, limit in PINNED:
        read = READS[name]
        first = get(seeded, read.path, query)  # the read without limit, at the version paging starts from
        pages = paged(
            seeded, read.path, {**query, "limit": str(limit)}, lambda _: changes_between_pages(seeded, next(steps))
        )
        assert len(pages) >= 3, (name, query)
        check_pinned(seeded, read, query, first, pages)


def test_pages_add_up_to_the_first_pages_version_while_another_client_posts(seeded: TestClient):
    gate = threading.Lock()
    """Held by each post, and by the test while it reads the first page."""
    landed = threading.Condition()
    posts = [0]
    stop = threading.Event()
    failures: list[str] = []

    def post_continually() -> None:
        number = 0
        while not stop.is_set():
            week = (MONDAYS[-1] + dt.timedelta(weeks=number + 1)).isoformat()
            behind = SALES[number % len(SALES)]
            records = [sale(week, "Zanahoria", 10 + number), sale(behind.date, behind.vegetable, 1 + number)]
            with gate:
                response = seeded.post("/post_sales", json=records)
            if response.status_code != 200:
                failures.append(response.text)
                return
            number += 1
            with landed:
                posts[0] += 1
                landed.notify_all()

    def wait_for_a_post() -> None:
        with landed:
            seen = posts[0]
            assert landed.wait_for(lambda: posts[0] > seen or bool(failures), timeout=30)

    poster = threading.Thread(target=post_continually)
    poster.start()
    try:
        for name, query, limit in [("raw", {}, 90), ("weekly", {"vegetable": "carotte"}, 40), ("monthly", {}, 25)]:
            read = READS[name]
            with gate:  # no post lands between the read without limit and the first page
                first = get(seeded, read.path, query)
                pages = [get(seeded, read.path, {**query, "limit": str(limit)})]
            assert pages[0].headers["x-data-version"] == first.headers["x-data-version"]
            wait_for_a_post()
            while (link := next_link(pages[-1])) is not None:
                pages.append(get(seeded, link))
                wait_for_a_post()
            check_pinned(seeded, read, query, first, pages)
    finally:
        stop.set()
        poster.join()
    assert failures == []


def test_a_next_page_stays_at_its_version_when_the_table_moves_on_while_the_page_is_read(
    seeded: TestClient, monkeypatch: pytest.MonkeyPatch
):
    """A page's request finds its version still current, then, before it reads the rows, a post lands
    and another client's read brings the current table to the next version: the page is still the
    version its link names. The hook makes that moment happen on every run, once per read: right
    after the page's `as_of` is resolved, before the table is looked at."""
    moved_on: list[str] = []
    resolve = Snapshots.version
    path_asked: list[str] = []

    def version_then_a_post_and_a_read(snapshots: Any, as_of: str) -> int:
        version = resolve(snapshots, as_of)
        path = path_asked[-1]
        if path not in moved_on:
            moved_on.append(path)
            kilos = len(moved_on) + 0.5
            post_ok(seeded, [sale(str(SALES[0].date), SALES[0].vegetable, kilos), sale("2022-08-01", "carrot", kilos)])
            get(seeded, path)
        return version

    selected = table_reads.selected

    def selected_noting_the_path(kind: Any, *arguments: Any) -> Any:
        path_asked.append(kind.path)
        return selected(kind, *arguments)

    monkeypatch.setattr(Snapshots, "version", version_then_a_post_and_a_read)
    monkeypatch.setattr(table_reads, "selected", selected_noting_the_path)
    for read in READS.values():
        first = get(seeded, read.path)
        pages = paged(seeded, read.path, {"limit": str(len(first.json()) // 2 + 1)})
        assert [read.path] == moved_on[-1:] and len(pages) == 2
        check_pinned(seeded, read, {}, first, pages)


def test_a_first_page_as_of_a_time_links_to_its_version(seeded: TestClient):
    version = int(get(seeded, RAW.path).headers["x-data-version"])
    committed_at = seeded.get("/get_history").json()["versions"][0]["committed_at"]
    post_ok(seeded, [sale("2022-07-04", "carrot", 1)])
    pages = paged(seeded, RAW.path, {"as_of": committed_at, "limit": "200"})
    assert all(f"as_of={version}&" in response.headers["link"] for response in pages[:-1])
    assert [row for response in pages for row in response.json()] == whole(seeded, RAW, as_of=str(version))
    assert {response.headers["x-data-version"] for response in pages} == {str(version)}


# --- ETags -----------------------------------------------------------------------------------------

ETAG_READS = [
    (RAW, {"vegetable": "Zanahoria", "from": "2021-W01"}, {"vegetable": "Tomate", "from": "2021-W01"}),
    (WEEKLY, {"vegetable": "carrot", "to": "2022-W30"}, {"vegetable": "carrot", "to": "2022-W20"}),
    (MONTHLY, {"vegetable": "carrot", "from": "2021-01"}, {"vegetable": "carrot", "from": "2021-01", "limit": "5"}),
    (MONTHLY, {"remove_outliers": "true", "from": "2021-01"}, {"remove_outliers": "false", "from": "2021-01"}),
]


def test_an_unchanged_filtered_read_is_not_modified_and_another_filter_or_a_post_is(seeded: TestClient):
    tags = []
    for read, query, other in ETAG_READS:
        first = get(seeded, read.path, query)
        tag = first.headers["etag"]
        again = seeded.get(read.path, params=query, headers={"if-none-match": tag})
        assert (again.status_code, again.content) == (304, b""), (read.path, query)
        assert (again.headers["etag"], again.headers["x-data-version"]) == (tag, first.headers["x-data-version"])
        for listed in (f'"other", {tag.removeprefix("W/")}', "*"):  # RFC 9110: a list, weak comparison, any
            assert seeded.get(read.path, params=query, headers={"if-none-match": listed}).status_code == 304, listed
        for params in (other, {**query, "format": "csv"}):
            response = get(seeded, read.path, params, if_none_match=tag)
            assert response.headers["etag"] != tag, (read.path, params)
            assert response.content and response.content != first.content, (read.path, params)
        tags.append(tag)
    version = post_ok(seeded, posted([LATE_CARROT]))
    for (read, query, _), tag in zip(ETAG_READS, tags, strict=True):
        changed = get(seeded, read.path, query, if_none_match=tag)
        assert changed.headers["etag"] != tag, (read.path, query)
        assert changed.headers["x-data-version"] == str(version)
        assert changed.json() == kept_now(seeded, read, query)
        unchanged = seeded.get(read.path, params=query, headers={"if-none-match": changed.headers["etag"]})
        assert unchanged.status_code == 304, (read.path, query)
    raw_rows = get(seeded, RAW.path, ETAG_READS[0][1]).json()
    assert raw_rows[-1] == {"date": "2022-07-04", "vegetable": "Zanahoria", "kilo_sold": 321.5}


def kept_now(client: TestClient, read: Read, query: dict) -> list[dict]:
    """The rows the filter `query` keeps of the whole read (its remove_outliers variant) now."""
    variant = {"remove_outliers": query["remove_outliers"]} if "remove_outliers" in query else {}
    rows = whole(client, read, **variant)
    first, last = query.get("from"), query.get("to")
    if read is not MONTHLY:
        first = first and WEEK_STARTS[first]
        last = last and WEEK_STARTS[last]
    vegetable = query.get("vegetable") and SPELLINGS[query["vegetable"]]
    return kept(read, rows, vegetable, first, last)


WEEK_STARTS = {"2021-W01": "2021-01-04", "2022-W30": "2022-07-25", "2022-W20": "2022-05-16"}


# --- errors ----------------------------------------------------------------------------------------

NOTATIONS = "a calendar date YYYY-MM-DD, an ISO week YYYY-Www (or YYYY-Www-1), or a year and ISO week YYYY-WW or YYYYWW"
NOT_ACCEPTABLE = {
    "error": "not_acceptable",
    "message": "the Accept header allows none of the types served: application/json, text/csv, "
    "application/x-ndjson, application/vnd.apache.parquet, application/x-parquet (or ?format=json|csv|ndjson|parquet)",
}


def invalid(message: str) -> tuple[int, dict]:
    return 400, {"error": "invalid_parameter", "message": message}


def unknown_vegetable(message: str, suggestions: list[str]) -> tuple[int, dict]:
    return 404, {"error": "unknown_vegetable", "message": message, "suggestions": suggestions}


ERRORS = [
    (
        RAW,
        {"vegetable": "tomatillo"},
        unknown_vegetable("unknown vegetable 'tomatillo'; closest: tomato (67%), potato (44%)", ["tomato", "potato"]),
    ),
    (
        WEEKLY,
        {"vegetable": "peat"},
        unknown_vegetable("'peat' matches several vegetables equally well: pea (75%), pear (75%)", ["pea", "pear"]),
    ),
    (
        MONTHLY,
        {"vegetable": "Möhre", "from": "2021-01"},
        unknown_vegetable("unknown vegetable 'Möhre'; closest: pear (60%), leek (43%)", ["pear", "leek"]),
    ),
    (RAW, {"vegetable": "xyzzy", "limit": "5"}, unknown_vegetable("unknown vegetable 'xyzzy'", [])),
    (MONTHLY, {"from": "2021-13"}, invalid("from must be a month YYYY-MM, got '2021-13'")),
    (MONTHLY, {"to": "2021-1"}, invalid("to must be a month YYYY-MM, got '2021-1'")),
    (MONTHLY, {"from": "2021-W05"}, invalid("from must be a month YYYY-MM, got '2021-W05'")),
    (
        RAW,
        {"from": "2021-W60"},
        invalid(f"from: '2021-W60' is not a week: ISO year 2021 has weeks 01 to 52; write {NOTATIONS}"),
    ),
    (
        WEEKLY,
        {"to": "2021-W53"},
        invalid(f"to: '2021-W53' is not a week: ISO year 2021 has weeks 01 to 52; write {NOTATIONS}"),
    ),
    (WEEKLY, {"from": "2021-02-30"}, invalid("from: '2021-02-30' is not a real calendar date")),
    (RAW, {"to": "next week"}, invalid(f"to: 'next week' is not a date or a week; write {NOTATIONS}")),
    (RAW, {"from": "2021-W06", "to": "2021-02-01"}, invalid("from (2021-W06) is after to (2021-02-01)")),
    (WEEKLY, {"from": "2021-02-02", "to": "2021-W05"}, invalid("from (2021-02-02) is after to (2021-W05)")),
    (MONTHLY, {"from": "2021-03", "to": "2021-02"}, invalid("from (2021-03) is after to (2021-02)")),
    (RAW, {"limit": "0"}, invalid("limit must be a whole number from 1 to 100,000, got '0'")),
    (WEEKLY, {"limit": "100001"}, invalid("limit must be a whole number from 1 to 100,000, got '100001'")),
    (MONTHLY, {"limit": "abc"}, invalid("limit must be a whole number from 1 to 100,000, got 'abc'")),
    (RAW, {"limit": "-1"}, invalid("limit must be a whole number from 1 to 100,000, got '-1'")),
    (RAW, {"after": "garbage"}, invalid("after must be the token of a next link, got 'garbage'")),
    (MONTHLY, {"after": "garbage", "limit": "5"}, invalid("after must be the token of a next link, got 'garbage'")),
    (RAW, {"format": "xml"}, invalid("format must be one of json, csv, ndjson, parquet, got 'xml'")),
    (MONTHLY, {"format": "CSV"}, invalid("format must be one of json, csv, ndjson, parquet, got 'CSV'")),
    (MONTHLY, {"remove_outliers": "maybe"}, invalid("remove_outliers must be true or false, got 'maybe'")),
]


def test_every_refusal_has_its_status_and_message(seeded: TestClient):
    for read, query, (status, body) in ERRORS:
        response = seeded.get(read.path, params=query)
        assert (response.status_code, response.json()) == (status, body), (read.path, query)
    for read in READS.values():
        refused = seeded.get(read.path, params={"vegetable": "carrot"}, headers={"accept": "image/png"})
        assert (refused.status_code, refused.json()) == (406, NOT_ACCEPTABLE), read.path
        refused = seeded.get(read.path, headers={"accept": "image/png, text/csv;q=0"})
        assert (refused.status_code, refused.json()) == (406, NOT_ACCEPTABLE), read.path


def test_an_unknown_vegetable_is_refused_as_resolve_vegetable_refuses_it(seeded: TestClient):
    for name in ("tomatillo", "peat", "Möhre", "xyzzy"):
        resolved = seeded.get("/resolve_vegetable", params={"name": name})
        assert resolved.status_code == 404
        for read in READS.values():
            response = seeded.get(read.path, params={"vegetable": name})
            assert (response.status_code, response.json()) == (404, resolved.json()), (read.path, name)


def after_token(response: Response) -> str:
    """The `after` of a page's next link."""
    match = re.search(r"[?&]after=([^&]+)", next_link(response) or "")
    assert match, response.headers.get("link")
    return match[1]


def test_a_next_token_of_another_table_is_refused(seeded: TestClient):
    raw_token, weekly_token = (after_token(get(seeded, read.path, {"limit": "3"})) for read in (RAW, WEEKLY))
    for read, token in [(WEEKLY, raw_token), (RAW, weekly_token), (MONTHLY, weekly_token)]:
        response = seeded.get(read.path, params={"limit": "3", "after": token})
        message = f"after must be the token of a next link, got {token!r}"
        assert (response.status_code, response.json()) == invalid(message), read.path


# --- the whole table ----------------------------------------------------------------------------


def test_the_whole_read_is_the_same_bytes_as_format_json_and_as_a_limit_holding_every_row(seeded: TestClient):
    for read, query in [(RAW, {}), (WEEKLY, {}), (MONTHLY, {}), (MONTHLY, {"remove_outliers": "true"})]:
        plain = get(seeded, read.path, query)
        version = plain.headers["x-data-version"]
        count = len(plain.json())
        for params, headers in [
            ({"format": "json"}, {}),
            ({"limit": "100000"}, {}),
            ({"limit": str(count)}, {}),
            ({"as_of": version}, {}),
            ({"from": "1900-01-01"} if read is not MONTHLY else {"from": "1900-01"}, {}),
            ({}, {"accept": "application/json"}),
            ({"format": "json", "limit": "100000"}, {"accept": "text/csv"}),
        ]:
            response = get(seeded, read.path, {**query, **params}, **headers)
            assert response.content == plain.content, (read.path, query, params, headers)
            assert response.headers["content-type"] == "application/json"
            assert response.headers["x-data-version"] == version
            assert "link" not in response.headers
