"""Any record a post can hold, on every backend: the post is answered (never a 5xx), its valid records
are stored, its other records are quarantined and served back, and every read answers, after a
restart and after a replay too. Then the cases found one by one, with their exact values."""

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import kept_rejected
from vegsales.api import create_app
from vegsales.pipeline import sync_with_rules
from vegsales.silver import FeedRules
from vegsales.storage import Store

RULES = FeedRules()
BODY_LIMIT = 512  # README, "Limits": levels a body may nest, its list (and envelope) included
RECORD_LIMIT = 64
TOO_DEEP = {"error": "body_too_deep", "message": "the body nests more than 512 levels of arrays and objects"}
VALID_KEYS = ('"date"', '"vegetable"', '"kilo_sold"')


@contextmanager
def serving(make_store: Callable[[], Store]) -> Iterator[TestClient]:
    """The app over the store, as a server starts it (the start-up check of the rules included)."""
    store = make_store()
    sync_with_rules(store, RULES)
    with TestClient(create_app(store, RULES), raise_server_exceptions=False) as client:
        yield client


def post(client: TestClient, body: bytes | str):
    return client.post("/post_sales", content=body, headers={"Content-Type": "application/json"})


# JSON text built piece by piece, so that it holds what no Python value writes: lone surrogates,
# NaN and Infinity, integers of 400 digits, duplicate keys.
SURROGATES = ["\\ud800", "\\udbff", "\\udc00", "\\udfff", "a\\ud800b", "\\ud83d\\ude00"]  # the last: a pair
STRINGS = st.one_of(
    st.lists(
        st.text(max_size=12).map(lambda text: json.dumps(text)[1:-1]) | st.sampled_from(SURROGATES), max_size=3
    ).map(lambda pieces: '"' + "".join(pieces) + '"'),
    st.sampled_from([5_000, 12_000]).map(lambda length: '"' + "x" * length + '"'),  # 12,000: kept truncated
)
NUMBERS = st.one_of(
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(
        ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1E-400", "-0", "1" + "0" * 400, "-" + "9" * 400,
         str(2**64), str(2**64 - 1), str(-(2**63) - 1), "1" + "0" * 5000]
    ),
)  # fmt: skip
LEAVES = st.sampled_from(["null", "true", "false"]) | NUMBERS | STRINGS
KEYS = st.sampled_from([*VALID_KEYS, '"a"', '""', '"\\ud800"']) | STRINGS


def array(items: list[str]) -> str:
    return "[" + ",".join(items) + "]"


def obj(members: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{key}:{value}" for key, value in members) + "}"


VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4).map(array) | st.lists(st.tuples(KEYS, inner), max_size=4).map(obj),
    max_leaves=10,
)
NEVER_KILOS = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e400", "-1", "1" + "0" * 400, str(2**64), '"1_000"', '"nan"', '"inf"',
     '"\\ud800"', "true", "null", "[1]", '"12\\u0000"', "1e13"]
)  # fmt: skip
"""kilo_sold values no rule accepts."""
DEPTHS = st.sampled_from([2, 63, 64, 65, 254, 255, 256, 509, 510, 511, 512, 513, 1023, 1030]) | st.integers(1, 520)


@st.composite
def junk_records(draw) -> tuple[str, int]:
    """(text, nesting depth) of a record no rule accepts."""
    kind = draw(st.sampled_from(["value", "object", "three_fields", "deep_object", "deep_array"]))
    if kind == "value":  # anything but an object
        return draw(VALUES.filter(lambda text: not text.startswith("{"))), 0
    if kind == "object":  # an extra field at least, maybe repeated fields
        members = draw(st.lists(st.tuples(KEYS, VALUES), max_size=5))
        return obj([*members, ('"extra"', draw(VALUES))]), 0
    if kind == "three_fields":
        date = draw(st.sampled_from(['"2020-01-06"', "202005", '"2999-12-31"', '"\\ud800"']) | VALUES)
        name = draw(st.sampled_from(['"Tomate"', '"\\ud800"', '"Tomate\\ud800"', '"mango"']) | STRINGS)
        members = draw(st.permutations([('"date"', date), ('"vegetable"', name), ('"kilo_sold"', draw(NEVER_KILOS))]))
        if draw(st.booleans()):  # a repeated field: the last one counts, and that one is never valid
            members.insert(0, ('"kilo_sold"', "5"))
        return obj(members), 0
    depth, leaf = draw(DEPTHS), draw(LEAVES)
    if kind == "deep_array":
        return "[" * depth + leaf + "]" * depth, depth
    return '{"date":"2020-01-06","x":' + "[" * (depth - 1) + leaf + "]" * (depth - 1) + "}", depth


WEEKS = [(dt.date(2020, 1, 6) + dt.timedelta(weeks=n)).isoformat() for n in range(150)]
NAMES = ["Tomate", "tomatto", "Poire", "carrot", "Zanahoria", "poireau"]


@st.composite
def posts(draw) -> list[dict]:
    """1 to 3 posts, each with 1 to 3 valid records (distinct weeks and names) among junk ones."""
    keys = iter(draw(st.lists(st.sampled_from([(w, n) for w in WEEKS for n in NAMES]), min_size=9, max_size=9,
                              unique=True)))  # fmt: skip
    drawn = []
    for _ in range(draw(st.integers(1, 3))):
        records = []  # (text, depth, stored row or None)
        for _ in range(draw(st.integers(1, 3))):
            week, name = next(keys)
            kilos = draw(st.integers(0, 10**6) | st.floats(0, 1e6))
            members = [('"date"', json.dumps(week)), ('"vegetable"', json.dumps(name)), ('"kilo_sold"', repr(kilos))]
            if draw(st.booleans()):  # a repeated field: the last one counts
                members.insert(0, ('"kilo_sold"', draw(NEVER_KILOS)))
            records.append((obj(members), 1, (week, name, float(kilos))))
        records += [(text, depth, None) for text, depth in draw(st.lists(junk_records(), max_size=5))]
        records = draw(st.permutations(records))
        envelope = draw(st.booleans())
        body = array([text for text, _, _ in records])
        drawn.append(
            {
                "body": f'{{"data":{body}}}' if envelope else body,
                "depth": max(depth for _, depth, _ in records) + (2 if envelope else 1),
                "rows": [row for _, _, row in records],
            }
        )
    return drawn


def check_every_read(client: TestClient, stored: list[tuple], at_most_rejected: int) -> int:
    """Every read answers 200 with what it should; the number of quarantined records."""
    raw = client.get("/get_raw_sales")
    assert raw.status_code == 200, raw.text
    assert sorted((r["date"], r["vegetable"], r["kilo_sold"]) for r in raw.json()) == sorted(stored)
    for flag in ("false", "true"):
        monthly = client.get("/get_monthly_sales", params={"remove_outliers": flag})
        assert monthly.status_code == 200, monthly.text
    kilos = sum(r["kilo_sold"] for r in client.get("/get_monthly_sales").json())
    assert kilos == pytest.approx(sum(row[2] for row in stored), rel=1e-9, abs=1e-6)  # proration keeps every kilo
    total = None
    for limit in (1, 3, 1000):
        quarantine = client.get("/get_rejected_sales", params={"limit": limit})
        assert quarantine.status_code == 200, quarantine.text
        body = quarantine.json()
        total = body["total"]
        assert len(body["rows"]) == min(limit, total)
        for row in body["rows"]:
            assert row["record_is_text"] or not row["truncated"]
            assert isinstance(row["record"], str) or not row["record_is_text"]
    assert 0 < total <= at_most_rejected or total == at_most_rejected == 0
    for path in ("/get_data_quality", "/dashboard", "/resolve_vegetable?name=Tomate", "/health"):
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text)
    chart = client.get("/dashboard/chart.svg", params={"vegetable": "tomato", "forecast": "false"})
    assert chart.status_code == 200, chart.text
    return total


@pytest.mark.parametrize("make_store", ["csv", "postgres", "sqlite"], indirect=True)
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.large_base_example],
)  # fmt: skip
@given(drawn=posts())
def test_any_record_is_answered_kept_and_served_before_and_after_a_restart_and_a_replay(make_store, drawn):
    stored: list[tuple] = []
    junk = 0
    with serving(make_store) as client:
        assert client.post("/init_database").status_code == 200  # each example starts empty
        for sent in drawn:
            response = post(client, sent["body"])
            if sent["depth"] > BODY_LIMIT:
                assert (response.status_code, response.json()) == (400, TOO_DEEP)
                continue
            assert response.status_code == 200, response.text
            report = response.json()
            rows = sent["rows"]
            assert (report["received"], report["inserted"]) == (len(rows), sum(row is not None for row in rows))
            assert [r["index"] for r in report["rejected"]] == [i for i, row in enumerate(rows) if row is None]
            stored += [row for row in rows if row is not None]
            junk += rows.count(None)
        total = check_every_read(client, stored, junk)
    with serving(make_store) as client:  # a restart: the rows are read from the store again
        assert check_every_read(client, stored, junk) == total
        replay = client.post("/replay_rejected")
        assert (replay.status_code, replay.json()["replayed"], replay.json()["still_rejected"]) == (200, 0, total)
        assert check_every_read(client, stored, junk) == total


# The cases one by one, with their exact values.

VALID = b'{"date":"2020-01-06","vegetable":"Poire","kilo_sold":3}'
STORED = [{"date": "2020-01-06", "vegetable": "Poire", "kilo_sold": 3.0}]


def with_valid(*records: bytes) -> bytes:
    return b"[" + b",".join([*records, VALID]) + b"]"


def quarantine(client: TestClient) -> list[dict]:
    response = client.get("/get_rejected_sales")
    assert response.status_code == 200, response.text
    return response.json()["rows"]


def served(client: TestClient) -> list[tuple]:
    return sorted((row["record"], row["record_is_text"], row["times"]) for row in quarantine(client))


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def test_a_lone_surrogate_anywhere_is_kept_and_served_back_as_text_with_the_flag(client):
    name = b'{"date":"2020-01-06","vegetable":"\\ud800","kilo_sold":1}'
    key = b'{"date":"2020-01-06","vegetable":"Tomate","kilo_sold":1,"\\udfff":2}'
    date = b'{"date":"2020-\\udc00","vegetable":"Tomate","kilo_sold":1}'
    response = post(client, with_valid(name, key, date))
    assert response.status_code == 200
    assert response.json()["rejected"] == [
        {"index": 0, "errors": [{"field": "vegetable", "code": "bad_name",
                                 "message": "Input should be a valid string, unable to parse raw data as a unicode "
                                            "string"}]},
        {"index": 1, "errors": [{"field": "record", "code": "extra_field",
                                 "message": "Input should be a valid string, unable to parse raw data as a unicode "
                                            "string"}]},
        {"index": 2, "errors": [{"field": "date", "code": "bad_date",
                                 "message": "'2020-\\udc00' is not a date or a week; write a calendar date "
                                            "YYYY-MM-DD, an ISO week YYYY-Www (or YYYY-Www-1), or a year and ISO week "
                                            "YYYY-WW or YYYYWW"}]},
    ]  # fmt: skip
    assert client.get("/get_raw_sales").json() == STORED
    assert served(client) == [
        ('{"date":"2020-01-06","vegetable":"Tomate","kilo_sold":1,"\\udfff":2}', True, 1),
        ('{"date":"2020-01-06","vegetable":"\\ud800","kilo_sold":1}', True, 1),
        ('{"date":"2020-\\udc00","vegetable":"Tomate","kilo_sold":1}', True, 1),
    ]
    quality = client.get("/get_data_quality")
    assert quality.status_code == 200
    assert quality.json()["feed"]["most_rejected_names"] == [{"vegetable": "\\ud800", "times": 1}]
    post(client, with_valid(name))  # the same record again: the same row, counted
    newest = quarantine(client)[0]
    assert (newest["record"], newest["times"]) == (name.decode(), 2)
    assert client.post("/replay_rejected").json()["still_rejected"] == 3


def test_nan_infinity_and_minus_infinity_stay_three_records_as_sent(client):
    records = [b'{"date":"2020-01-06","vegetable":"Tomate","kilo_sold":%s}' % number
               for number in (b"NaN", b"Infinity", b"-Infinity")]  # fmt: skip
    response = post(client, with_valid(*records))
    assert [r["errors"] for r in response.json()["rejected"]] == [
        [{"field": "kilo_sold", "code": "bad_number", "message": "must be a finite number"}]
    ] * 3
    assert served(client) == sorted((record.decode(), True, 1) for record in records)
    assert sorted(row["record_hash"] for row in quarantine(client)) == sorted(
        text_hash(record.decode()) for record in records
    )
    assert client.get("/get_raw_sales").json() == STORED


@pytest.mark.parametrize(
    "number",
    [str(2**64), str(-(2**63) - 1), "1" + "0" * 400, "-" + "9" * 400, "1e400", "-1e400"],
    ids=["two_to_the_64", "below_the_64_bit_range", "400_digits", "minus_400_digits", "1e400", "minus_1e400"],
)
def test_numbers_beyond_a_double_or_64_bits_are_served_exactly_as_sent(client, number):
    record = f'{{"date":"2020-01-06","vegetable":"Tomate","kilo_sold":{number}}}'
    response = post(client, with_valid(record.encode()))
    assert response.status_code == 200
    assert [r["index"] for r in response.json()["rejected"]] == [0]
    answer = client.get("/get_rejected_sales")
    assert f'"record":{record},"record_is_text":false'.encode() in answer.content  # the record itself, not text
    (row,) = answer.json()["rows"]
    assert row["record_hash"] == text_hash(record)
    if "e" not in number:
        assert row["record"]["kilo_sold"] == int(number)  # the standard library reads integers exactly
    assert client.post("/replay_rejected").json()["still_rejected"] == 1
    assert f'"record":{record},'.encode() in client.get("/get_rejected_sales").content
    assert client.get("/get_raw_sales").json() == STORED


def test_an_integer_longer_than_python_reads_is_served_as_text(client):
    record = f'{{"date":"2020-01-06","vegetable":"Tomate","kilo_sold":1{"0" * 5000}}}'
    post(client, with_valid(record.encode()))
    assert served(client) == [(record, True, 1)]
    assert quarantine(client)[0]["record_hash"] == text_hash(record)


def test_an_integer_beyond_64_bits_among_plain_json_is_kept_exactly(client):
    # orjson reads the body (no NaN, no surrogate): it rounds 2**64 + 1 to a double, the quarantine does not.
    record = b'{"date":"2020-01-06","vegetable":"Tomate","kilo_sold":18446744073709551617}'
    post(client, with_valid(record))
    assert served(client) == [({"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": 2**64 + 1}, False, 1)]


def nested(depth: int, leaf: bytes = b"1") -> bytes:
    """`leaf` inside `depth` arrays."""
    return b"[" * depth + leaf + b"]" * depth


@pytest.mark.parametrize(
    "body",
    [
        b"[" + nested(BODY_LIMIT) + b"]",  # 513 levels: orjson reads it, validation finds it
        with_valid(nested(BODY_LIMIT)),
        with_valid(b'{"x":' + nested(BODY_LIMIT - 1) + b"}"),
        b'{"data":' + with_valid(nested(BODY_LIMIT - 1)) + b"}",  # 511 in a list in the envelope
        with_valid(nested(2000)),  # past orjson's 1,024 levels: measured before it is read
        with_valid(nested(700, b"NaN")),  # NaN: the standard library reads it, once measured
        b"[" * 100_000,
    ],
    ids=["513_levels", "with_a_valid_record", "in_an_object", "in_the_envelope", "2000_levels", "with_nan",
         "never_closed"],
)  # fmt: skip
def test_a_body_nesting_past_the_limit_is_a_400_and_nothing_is_stored(client, body):
    response = post(client, body)
    assert (response.status_code, response.json()) == (400, TOO_DEEP)
    assert client.get("/get_raw_sales").json() == []
    assert quarantine(client) == []


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (with_valid(nested(BODY_LIMIT - 1)), "511"),  # 512 levels with the list: the limit itself
        (b'{"data":' + with_valid(nested(BODY_LIMIT - 2)) + b"}", "510"),
        (with_valid(b'{"x":' + nested(RECORD_LIMIT) + b"}"), "65"),
        (with_valid(nested(RECORD_LIMIT + 1, b"NaN")), "65"),
        (with_valid(nested(300, b'"\\ud800"')), "300"),
    ],
    ids=["512_levels", "512_levels_in_the_envelope", "65_levels", "65_levels_with_nan", "300_levels_with_surrogate"],
)
def test_a_record_nesting_past_its_limit_is_rejected_and_the_others_are_stored(client, body, depth):
    response = post(client, body)
    assert response.status_code == 200
    message = f"nests {depth} levels of arrays and objects; at most 64"
    assert response.json()["rejected"] == [
        {"index": 0, "errors": [{"field": "record", "code": "too_deep", "message": message}]}
    ]
    assert client.get("/get_raw_sales").json() == STORED
    (row,) = quarantine(client)
    assert (row["record_is_text"], json.loads(row["record"].encode()) is not None) == (True, True)
    assert client.post("/replay_rejected").json()["still_rejected"] == 1


def test_a_record_at_the_record_limit_is_served_as_json(client):
    record = b'{"x":' + nested(RECORD_LIMIT - 1) + b"}"  # 64 levels
    response = post(client, with_valid(record))
    assert response.json()["rejected"][0]["errors"][0] == {
        "field": "date",
        "code": "missing",
        "message": "Field required",
    }
    (row,) = quarantine(client)
    assert row["record_is_text"] is False
    assert json.dumps(row["record"], separators=(",", ":")).encode() == record


@pytest.mark.parametrize("kilos", ['"1_000"', '"nan"', '"inf"', '"Infinity"', '"0x10"'])
def test_text_that_is_not_a_plain_decimal_is_not_a_number(client, kilos):
    record = b'{"date":"2020-01-13","vegetable":"Tomate","kilo_sold":%s}' % kilos.encode()
    response = post(client, with_valid(record))
    assert response.json()["rejected"] == [
        {
            "index": 0,
            "errors": [
                {"field": "kilo_sold", "code": "bad_number", "message": f"'{json.loads(kilos)}' is not a number"}
            ],
        }
    ]
    assert client.get("/get_raw_sales").json() == STORED


UNENCODABLE_ROWS = [
    # (record as an earlier version kept it, truncated, reasons; as served, served as text)
    ('{"date":"2020-01-06","vegetable":"\\ud800","kilo_sold":1}', False, '[{"field":"vegetable","message":"x"}]',
     '{"date":"2020-01-06","vegetable":"\\ud800","kilo_sold":1}', True),
    ('{"x":' + "[" * 400 + "1" + "]" * 400 + "}", False, '[{"field":"x","message":"y"}]',
     '{"x":' + "[" * 400 + "1" + "]" * 400 + "}", True),
    ('{"x":' + "[" * 960 + "1" + "]" * 960 + "}", False, '[{"field":"x","message":"y"}]',
     '{"x":' + "[" * 960 + "1" + "]" * 960 + "}", True),
    ('{"kilo_sold":1' + "0" * 400 + "}", False, '[{"field":"kilo_sold","message":"z"}]',
     {"kilo_sold": 10**400}, False),
    ('{"kilo_sold":1e400}', False, '[{"field":"kilo_sold","message":"z"}]', {"kilo_sold": float("inf")}, False),
    ('{"kilo_sold":NaN}', False, '[{"field":"kilo_sold","message":"z"}]', '{"kilo_sold":NaN}', True),
    ("not JSON at all", False, "not JSON either", "not JSON at all", True),
    ('{"date":"2020-01-06","vegetable":"man', True, '[{"field":"vegetable","message":"v"}]',
     '{"date":"2020-01-06","vegetable":"man', True),
]  # fmt: skip


def test_a_store_already_holding_rows_no_version_could_serve_is_served(make_store):
    store = make_store()
    with store.write() as transaction:
        transaction.put_rejected(
            [
                kept_rejected(i, record, errors, truncated)
                for i, (record, truncated, errors, _, _) in enumerate(UNENCODABLE_ROWS)
            ]
        )
    store.close()
    for _ in range(2):  # and again after a restart
        with serving(make_store) as client:
            answer = client.get("/get_rejected_sales")
            assert answer.status_code == 200, answer.text
            rows = answer.json()["rows"]
            assert [(row["record"], row["record_is_text"]) for row in reversed(rows)] == [
                (as_served, is_text) for _, _, _, as_served, is_text in UNENCODABLE_ROWS
            ]
            assert rows[1]["errors"] == [{"field": "record", "code": "unclassified", "message": "not JSON either"}]
            for limit in (1, 2, 5):
                assert client.get("/get_rejected_sales", params={"limit": limit}).status_code == 200
            quality = client.get("/get_data_quality")
            assert quality.status_code == 200
            assert quality.json()["feed"]["most_rejected_names"] == [{"vegetable": "\\ud800", "times": 1}]
            replay = client.post("/replay_rejected")
            assert replay.status_code == 200
            assert replay.json()["still_rejected"] == len(UNENCODABLE_ROWS)
