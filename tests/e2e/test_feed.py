"""What the real feed needs, on every backend: week notations, clean names, quarantine, replay, warnings."""

import hashlib
import json

from fastapi.testclient import TestClient

from tests.conftest import kept_rejected, sale
from vegsales.api import Limits, create_app
from vegsales.pipeline import sync_with_rules
from vegsales.silver import FeedRules
from vegsales.vegetables import Vocabulary

NAME_RULE = "a vegetable name holds only letters, spaces, hyphens, apostrophes and periods"


def post(client, records):
    return client.post("/post_sales", json=records)


def raw(client):
    return client.get("/get_raw_sales").json()


def monthly(client):
    return [(r["year_month"], r["vegetable"], r["kilo_sold"]) for r in client.get("/get_monthly_sales").json()]


def rejected(client, **params):
    return client.get("/get_rejected_sales", params=params).json()


def test_every_week_notation_names_the_same_week_and_the_later_post_wins(client):
    notations = ["2020-01-27", "2020-W05", "2020W05", "2020-W05-1", "2020-05", "202005", 202005, "20200127"]
    first = post(client, [sale(notations[0], "Tomate", 70)]).json()
    assert (first["inserted"], first["updated"]) == (1, 0)
    for kilos, notation in enumerate(notations[1:], start=71):
        report = post(client, [sale(notation, "Tomate", kilos)]).json()
        assert (report["inserted"], report["updated"], report["unchanged"]) == (0, 1, 0), notation
        assert raw(client) == [sale(str(notation), "Tomate", float(kilos))]
    assert monthly(client) == [("2020-01", "tomato", 77 * 5 / 7), ("2020-02", "tomato", 77 * 2 / 7)]


def test_a_replay_in_another_notation_is_unchanged_or_updated_never_a_second_row(client):
    post(client, [sale("2020-W05", "Tomate", 70), sale("2020-W06", "Tomate", 7)])
    again = post(client, [sale("2020-W05", "Tomate", 70), sale(202006, "Tomate", 7)]).json()
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 1, 1)
    assert raw(client) == [sale("2020-W05", "Tomate", 70.0), sale("202006", "Tomate", 7.0)]


def test_the_integer_year_week_comes_back_as_text(client):
    post(client, [sale(202053, "Poire", 3)])
    assert raw(client) == [sale("202053", "Poire", 3.0)]
    assert monthly(client) == [("2020-12", "pear", 3 * 4 / 7), ("2021-01", "pear", 3 * 3 / 7)]


def test_weeks_that_do_not_exist_are_rejected_naming_the_notations(client):
    response = post(client, [sale("2021-W53", "Tomate", 1), sale("2020-W00", "Tomate", 1), sale(202054, "Tomate", 1),
                             sale("2020-5", "Tomate", 1), sale("2020-W53", "Tomate", 1)])  # fmt: skip
    report = response.json()
    assert response.status_code == 200
    assert [r["index"] for r in report["rejected"]] == [0, 1, 2, 3]
    notations = "a calendar date YYYY-MM-DD, an ISO week YYYY-Www (or YYYY-Www-1), or a year and ISO week YYYY-WW"
    assert all(notations in r["errors"][0]["message"] for r in report["rejected"])
    assert [e["code"] for r in report["rejected"] for e in r["errors"]] == ["bad_date"] * 4
    assert raw(client) == [sale("2020-W53", "Tomate", 1.0)]


def test_with_week_date_end_a_calendar_date_is_the_last_day_of_its_week(make_store):
    with TestClient(create_app(make_store(), FeedRules(week_date="end"))) as client:
        post(client, [sale("2020-02-02", "Tomate", 70), sale("2020-W06", "Tomate", 7)])
        assert monthly(client) == [("2020-01", "tomato", 50.0), ("2020-02", "tomato", 27.0)]


DIRTY = [
    sale("2020-01-06", "carrot\n", 1),
    sale("2020-01-06", "Carrot\t", 1),
    sale("2020-01-06", "\u200bcarrot", 1),
    sale("2020-01-06", "=A1+tomato", 1),
    sale("2020-01-06", "<b>tomato</b>", 1),
    sale("2020-01-06", "@tomato", 1),
    sale("2020-01-06", "to\x00mato", 1),
    sale("2020-01-06\x00", "tomato", 1),
    sale("2020-01-06", "tomato", "1\x00"),
    {**sale("2020-01-06", "tomato", 1), "\x00": "x"},
    sale("2020-01-06", "Pommes de terre", 10),
    sale("2020-01-06", "chou-fleur", 20),
    sale("2020-01-06", "Brussels-sprout", 30),
    sale("2020-01-06", "Tomate ", 40),
]
DIRTY_REJECTIONS = [
    (0, "vegetable", "dirty_name", f"contains a control character U+000A at position 7: {NAME_RULE}"),
    (1, "vegetable", "dirty_name", f"contains a control character U+0009 at position 7: {NAME_RULE}"),
    (2, "vegetable", "dirty_name",
     f"contains an invisible format character U+200B (ZERO WIDTH SPACE) at position 1: {NAME_RULE}"),
    (3, "vegetable", "dirty_name", f"contains the character '=' at position 1: {NAME_RULE}"),
    (4, "vegetable", "dirty_name", f"contains the character '<' at position 1: {NAME_RULE}"),
    (5, "vegetable", "dirty_name", f"contains the character '@' at position 1: {NAME_RULE}"),
    (6, "vegetable", "dirty_name", f"contains a control character U+0000 at position 3: {NAME_RULE}"),
    (7, "date", "bad_date", "'2020-01-06\\x00' is not a date or a week; write a calendar date YYYY-MM-DD, an ISO "
                            "week YYYY-Www (or YYYY-Www-1), or a year and ISO week YYYY-WW or YYYYWW"),
    (8, "kilo_sold", "bad_number", "'1\\x00' is not a number"),
    (9, "\x00", "extra_field", "Extra inputs are not permitted"),
]  # fmt: skip


def test_dirty_records_get_identical_reports_and_rows_on_every_backend(make_store):
    """Run once per backend: each must give exactly this report, these rows and this quarantine."""
    with TestClient(create_app(make_store())) as client:
        response = post(client, DIRTY)
        assert response.status_code == 200
        report = response.json()
        assert [(r["index"], e["field"], e["code"], e["message"]) for r in report["rejected"] for e in r["errors"]] == (
            DIRTY_REJECTIONS
        )
        assert (report["received"], report["inserted"], report["warnings"]) == (14, 4, [])
        assert raw(client) == [
            sale("2020-01-06", "Brussels-sprout", 30.0),
            sale("2020-01-06", "Pommes de terre", 10.0),
            sale("2020-01-06", "Tomate ", 40.0),
            sale("2020-01-06", "chou-fleur", 20.0),
        ]
        kept = rejected(client)
        assert kept["total"] == 10
        assert sorted(json.dumps(row["record"]) for row in kept["rows"]) == sorted(
            json.dumps(record) for record in DIRTY[:10]
        )


def test_rejected_records_are_kept_once_with_their_reasons_and_counts(client):
    post(client, [sale("2020-01-06", "mango", 3), sale("2020-01-06", "Tomate", 1)])
    first = rejected(client)["rows"][0]
    post(client, [sale("2020-01-06", "mango", 3)])
    post(client, [sale("2020-01-06", "mango", 3)])
    kept = rejected(client)
    assert (kept["total"], kept["dropped"]) == (1, 0)
    (row,) = kept["rows"]
    text = '{"date":"2020-01-06","vegetable":"mango","kilo_sold":3}'
    assert row == {
        "record_hash": hashlib.blake2b(text.encode(), digest_size=16).hexdigest(),
        "record": sale("2020-01-06", "mango", 3),
        "record_is_text": False,
        "truncated": False,
        "errors": [
            {
                "field": "vegetable",
                "code": "unknown_vegetable",
                "message": "unknown vegetable 'mango'; closest: mushroom (60%), apple (43%)",
            }
        ],
        "first_received": first["first_received"],
        "last_received": row["last_received"],
        "times": 3,
    }
    assert row["last_received"] > row["first_received"]


def test_the_quarantine_lists_the_most_recent_first_up_to_the_limit(client):
    for name in ("kale", "mango", "okra"):
        post(client, [sale("2020-01-06", name, 1)])
    assert [row["record"]["vegetable"] for row in rejected(client)["rows"]] == ["okra", "mango", "kale"]
    assert [row["record"]["vegetable"] for row in rejected(client, limit=2)["rows"]] == ["okra", "mango"]
    assert rejected(client, limit=2)["total"] == 3
    assert client.get("/get_rejected_sales", params={"limit": 0}).status_code == 400


def test_a_record_over_10_kib_is_kept_truncated_and_marked(client):
    record = {**sale("2020-01-06", "Tomate", 1), "comment": "x" * 20_000}
    post(client, [record])
    (row,) = rejected(client)["rows"]
    assert (row["truncated"], row["record_is_text"]) == (True, True)
    assert len(row["record"].encode()) == 10 * 1024
    assert row["record"].startswith('{"date":"2020-01-06","vegetable":"Tomate","kilo_sold":1,"comment":"xxx')
    full = json.dumps(record, separators=(",", ":")).encode()
    assert row["record_hash"] == hashlib.blake2b(full, digest_size=16).hexdigest()


def test_past_the_bound_the_least_recent_go_and_are_counted(make_store):
    with TestClient(create_app(make_store(), limits=Limits(max_rejected=3))) as client:
        for kilos in range(5):
            post(client, [sale("2020-01-06", "mango", kilos)])
        kept = rejected(client)
        assert (kept["total"], kept["dropped"]) == (3, 2)
        assert [row["record"]["kilo_sold"] for row in kept["rows"]] == [4, 3, 2]
        client.post("/init_database")
        assert rejected(client) == {"total": 0, "dropped": 0, "rows": []}


def test_init_database_empties_the_quarantine(client):
    post(client, [sale("2020-01-06", "mango", 1)])
    assert client.post("/init_database").json()["tables"] == [
        "bronze_sales",
        "silver_sales",
        "gold_sales",
        "rejected_sales",
        "data_versions",
        "row_history",
    ]
    assert rejected(client)["rows"] == []


def test_a_record_rejected_for_an_unknown_vegetable_is_replayed_once_the_vocabulary_knows_it(make_store, tmp_path):
    with TestClient(create_app(make_store())) as client:
        post(client, [sale("2020-01-27", "chou kale", 70), sale("2020-01-27", "banana", 7)])
        assert raw(client) == []
        assert client.post("/replay_rejected").json() == {
            "replayed": 0,
            "still_rejected": 2,
            "inserted": 0,
            "updated": 0,
            "unchanged": 0,
            "data_version": 0,
        }
    vocabulary = tmp_path / "vocabulary.toml"
    bundled = Vocabulary.load()
    vocabulary.write_text("kale = ['chou kale']\n" + "".join(f'"{name}" = []\n' for name in bundled.canonical_names))
    rules = FeedRules(Vocabulary.load(vocabulary))
    store = make_store()
    report = sync_with_rules(store, rules)  # what start-up does when the vocabulary changed
    assert (report.replay.replayed, report.replay.still_rejected, report.replay.inserted) == (1, 1, 1)
    with TestClient(create_app(store, rules)) as client:
        assert raw(client) == [sale("2020-01-27", "chou kale", 70.0)]
        assert monthly(client) == [("2020-01", "kale", 50.0), ("2020-02", "kale", 20.0)]
        assert [row["record"]["vegetable"] for row in rejected(client)["rows"]] == ["banana"]


def test_a_replayed_record_does_not_replace_a_value_received_after_it(make_store, tmp_path):
    with TestClient(create_app(make_store())) as client:
        post(client, [sale("2020-01-27", "chou kale", 70)])
    vocabulary = tmp_path / "vocabulary.toml"
    vocabulary.write_text("kale = ['chou kale']\ntomato = ['tomate']\n")
    rules = FeedRules(Vocabulary.load(vocabulary))
    with TestClient(create_app(make_store(), rules)) as client:
        post(client, [sale("2020-W05", "chou kale", 5)])  # newer than the quarantined 70 kg
        assert client.post("/replay_rejected").json() == {
            "replayed": 1,
            "still_rejected": 0,
            "inserted": 0,
            "updated": 0,
            "unchanged": 1,
            "data_version": 1,
        }
        assert raw(client) == [sale("2020-W05", "chou kale", 5.0)]
        assert rejected(client)["rows"] == []


def stored_too(name: str) -> str:
    return f"{name!r} is stored for that week too; both count in gold"


AIL, KAIL, POIRE, POIREE = (stored_too(name) for name in ("ail", "Kail", "Poire", "Poirée"))


def test_a_name_read_by_likeness_is_stored_with_a_warning_naming_what_it_was_read_as(client):
    records = [sale("2020-01-06", "Kail", 3), sale("2020-01-06", "ail", 1), sale("2020-01-13", "Kail", 2)]
    records += [sale("2020-01-06", "Poirée", 4), sale("2020-01-06", "Poire", 5)]
    report = post(client, records).json()
    assert (report["inserted"], report["warnings"]) == (
        5,
        [
            {"index": 0, "code": "read_by_similarity", "message": "'Kail' was read as garlic (similarity 0.75)"},
            # both names count in the garlic of that week: which one is the mistake is for a person to say
            {"index": 0, "code": "other_spelling", "message": f"'Kail' for the week of 2020-01-06: {AIL}"},
            {"index": 1, "code": "other_spelling", "message": f"'ail' for the week of 2020-01-06: {KAIL}"},
            {"index": 2, "code": "read_by_similarity", "message": "'Kail' was read as garlic (similarity 0.75)"},
            {"index": 3, "code": "read_by_similarity", "message": "'Poirée' was read as pear (similarity 0.86)"},
            {"index": 3, "code": "other_spelling", "message": f"'Poirée' for the week of 2020-01-06: {POIRE}"},
            {"index": 4, "code": "other_spelling", "message": f"'Poire' for the week of 2020-01-06: {POIREE}"},
        ],
    )
    assert monthly(client) == [("2020-01", "garlic", 6.0), ("2020-01", "pear", 9.0)]


def test_a_week_overlapping_a_stored_week_of_the_same_name_is_stored_with_a_warning(client):
    post(client, [sale("2020-01-06", "Tomate", 70)])
    response = post(
        client, [sale("2020-01-07", "Tomate", 7), sale("2020-01-13", "Tomate", 1), sale("2020-01-07", "Poire", 1)]
    )
    report = response.json()
    assert (response.status_code, report["inserted"]) == (200, 3)
    assert report["warnings"] == [
        {
            "index": 0,
            "code": "overlapping_weeks",
            "message": "the week of 2020-01-07 overlaps the stored week of 2020-01-06 (6 days), 2020-01-13 (1 day) "
            "of 'Tomate': those days are counted twice",
        },
        {
            "index": 1,
            "code": "overlapping_weeks",
            "message": "the week of 2020-01-13 overlaps the stored week of 2020-01-07 (1 day) of 'Tomate': "
            "those days are counted twice",
        },
    ]
    assert len(raw(client)) == 4


def test_a_number_beyond_a_double_is_quarantined_as_it_was_sent_and_stays_so_after_replay(client):
    body = b'[{"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": 1e400}]'
    assert client.post("/post_sales", content=body).json()["rejected"] == [
        {"index": 0, "errors": [{"field": "kilo_sold", "code": "bad_number", "message": "must be a finite number"}]}
    ]
    kept = b'"record":{"date":"2020-01-06","vegetable":"Tomate","kilo_sold":1e400}'
    assert kept in client.get("/get_rejected_sales").content
    assert client.post("/replay_rejected").json() == {
        "replayed": 0,
        "still_rejected": 1,
        "inserted": 0,
        "updated": 0,
        "unchanged": 0,
        "data_version": 0,
    }
    quarantine = client.get("/get_rejected_sales")
    assert kept in quarantine.content
    assert [(row["times"], row["errors"]) for row in quarantine.json()["rows"]] == [
        (1, [{"field": "kilo_sold", "code": "bad_number", "message": "must be a finite number"}])
    ]
    assert raw(client) == []


EARLIER_ROWS = [
    # (record, reasons as a version before codes kept them; the codes they are served with)
    ('{"date":"2020-01-06","vegetable":"mango","kilo_sold":1}',
     [("vegetable", "unknown vegetable 'mango'; closest: mushroom (60%), apple (43%)")], ["unknown_vegetable"]),
    ('{"date":"2021-02-29","vegetable":"Tomate","kilo_sold":-1}',
     [("date", "'2021-02-29' is not a real calendar date"),
      ("kilo_sold", "Input should be greater than or equal to 0")], ["bad_date", "out_of_range"]),
    ('{"x":' + "[" * 64 + "1" + "]" * 64 + "}",
     [("record", "nests 65 levels of arrays and objects; at most 64")], ["too_deep"]),
    ('{"date":"2020-01-06","vegetable":"Tomate"}', [("kilo_sold", "Field required")], ["missing"]),
]  # fmt: skip


def test_rows_kept_before_reasons_had_codes_are_served_with_codes_and_replayed_with_todays(make_store):
    store = make_store()
    with store.write() as transaction:
        transaction.put_rejected(
            [
                kept_rejected(i, record, json.dumps([{"field": f, "message": m} for f, m in reasons]))
                for i, (record, reasons, _) in enumerate(EARLIER_ROWS)
            ]
        )
    store.close()
    expected = [
        [
            {"field": field, "code": code, "message": message}
            for (field, message), code in zip(reasons, codes, strict=True)
        ]
        for _, reasons, codes in reversed(EARLIER_ROWS)
    ]
    with TestClient(create_app(make_store())) as client:
        assert [row["errors"] for row in rejected(client)["rows"]] == expected
        assert client.post("/replay_rejected").json()["still_rejected"] == len(EARLIER_ROWS)
        assert [row["errors"] for row in rejected(client)["rows"]] == expected
    store = make_store()  # the replay stored today's reasons: each with its code
    kept = {row.record_hash: json.loads(row.errors) for row in store.rejected_sales(100)[0]}
    store.close()
    assert [kept[f"{i:032x}"] for i in reversed(range(len(EARLIER_ROWS)))] == expected
