"""POST /delete_sales on every backend: a wrong record taken back by key, gold brought up to date,
one data version, the row still readable as of the versions before."""

from types import SimpleNamespace

from fastapi.testclient import TestClient

from tests.conftest import sale
from tests.oracle import Week, assert_gold_equals, gold


def raw(client: TestClient, **params) -> list[dict]:
    return client.get("/get_raw_sales", params=params).json()


def monthly(client: TestClient, **params) -> list[tuple]:
    return [tuple(row.values()) for row in client.get("/get_monthly_sales", params=params).json()]


def matches_oracle(client: TestClient, weeks: list[Week]) -> None:
    rows = [SimpleNamespace(**row) for row in client.get("/get_monthly_sales").json()]
    assert_gold_equals(rows, gold(weeks))


def test_a_deleted_record_leaves_bronze_silver_and_gold_and_stays_readable_as_of_before(client: TestClient):
    kept = [sale("2021-03-01", "carotte", 14215), sale("2021-03-08", "carrot", 100), sale("2021-03-01", "Poire", 3)]
    wrong = sale("2021-03-01", "carrot", 1421.5)
    before = client.post("/post_sales", json=[*kept, wrong]).json()["data_version"]
    assert monthly(client) == [("2021-03", "carrot", 15736.5, False), ("2021-03", "pear", 3.0, False)]
    response = client.post("/delete_sales", json=[{"date": "2021-W09", "vegetable": "carrot"}])
    assert (response.status_code, response.json()) == (
        200,
        {"received": 1, "deleted": 1, "not_found": [], "rejected": [], "data_version": before + 1},
    )
    assert raw(client) == [
        {"date": "2021-03-01", "vegetable": "Poire", "kilo_sold": 3.0},
        {"date": "2021-03-01", "vegetable": "carotte", "kilo_sold": 14215.0},
        {"date": "2021-03-08", "vegetable": "carrot", "kilo_sold": 100.0},
    ]
    assert monthly(client) == [("2021-03", "carrot", 14315.0, False), ("2021-03", "pear", 3.0, False)]
    matches_oracle(client, [("2021-03-01", "carrot", 14215), ("2021-03-08", "carrot", 100), ("2021-03-01", "pear", 3)])
    assert monthly(client, as_of=before) == [("2021-03", "carrot", 15736.5, False), ("2021-03", "pear", 3.0, False)]
    assert {"date": "2021-03-01", "vegetable": "carrot", "kilo_sold": 1421.5} in raw(client, as_of=before)
    (latest, *_) = client.get("/get_history").json()["versions"]
    assert (latest["data_version"], latest["operation"], latest["bronze"], latest["months_changed"]) == (
        before + 1,
        "delete",
        {"inserted": 0, "updated": 0, "deleted": 1},
        1,
    )
    # the same record posted again is new again
    assert client.post("/post_sales", json=[wrong]).json()["inserted"] == 1


def test_a_month_left_without_weeks_leaves_gold_and_the_flags_of_its_vegetable_follow(client: TestClient):
    days = [f"{year}-{month:02d}-06" for year in (2018, 2019, 2020) for month in range(1, 13)]
    months = [sale(day, "Tomate", 100 + number % 7) for number, day in enumerate(days)]
    spike = sale("2021-01-04", "Tomate", 1_000_000)
    client.post("/post_sales", json=[*months, spike])
    assert [row for row in monthly(client) if row[3]] == [("2021-01", "tomato", 1_000_000.0, True)]
    report = client.post(
        "/delete_sales", json={"data": [{"date": "2021-01-04", "vegetable": "Tomate", "kilo_sold": 1}]}
    )
    assert report.json()["deleted"] == 1
    assert [row[0] for row in monthly(client)] == [day[:7] for day in days]
    matches_oracle(client, [(day, "tomato", 100 + number % 7) for number, day in enumerate(days)])


def test_keys_not_found_name_the_spellings_stored_and_malformed_ones_are_rejected(client: TestClient):
    client.post("/post_sales", json=[sale("2021-03-01", "carotte", 5), sale("2021-03-01", "Zanahoria", 6)])
    version = int(client.get("/get_raw_sales").headers["X-Data-Version"])
    keys = [
        {"date": "2021-03-01", "vegetable": "carrot"},
        {"date": "2021-03-15", "vegetable": "carotte"},
        {"date": "2021-02-30", "vegetable": "carotte"},
        {"date": "2021-03-01", "vegetable": "carotte", "note": "typo"},
        ["2021-03-01", "carotte"],
    ]
    response = client.post("/delete_sales", json=keys)
    body = response.json()
    assert (response.status_code, body["received"], body["deleted"], body["data_version"]) == (200, 5, 0, version)
    assert body["not_found"] == [
        {
            "index": 0,
            "message": "no record of 'carrot' is stored for the week of 2021-03-01; "
            "stored for that week as carrot: 'Zanahoria', 'carotte'",
        },
        {"index": 1, "message": "no record of 'carotte' is stored for the week of 2021-03-15"},
    ]
    assert [
        (rejection["index"], [error["field"] for error in rejection["errors"]]) for rejection in body["rejected"]
    ] == [
        (2, ["date"]),
        (3, ["note"]),
        (4, ["record"]),
    ]
    assert len(raw(client)) == 2
    assert client.get("/get_history").json()["versions"][0]["data_version"] == version  # nothing deleted: no version
    every_one_malformed = client.post("/delete_sales", json=[{"date": "x", "vegetable": "carotte"}])
    assert (every_one_malformed.status_code, every_one_malformed.json()["rejected"][0]["index"]) == (422, 0)
    for body, error in [(b"", "empty_body"), (b"{", "invalid_json"), (b'{"keys": []}', "invalid_body")]:
        refused = client.post("/delete_sales", content=body)
        assert (refused.status_code, refused.json()["error"]) == (400, error)


def test_a_correction_under_another_spelling_is_stored_with_a_warning_naming_the_other(client: TestClient):
    client.post("/post_sales", json=[sale("2021-03-01", "carotte", 14215)])
    report = client.post("/post_sales", json=[sale("2021-03-01", "carrot", 1421.5), sale("2021-03-08", "carrot", 2)])
    assert report.json()["warnings"] == [
        {
            "index": 0,
            "code": "other_spelling",
            "message": "'carrot' for the week of 2021-03-01: 'carotte' is stored for that week too; both count in gold",
        }
    ]
    report = client.post("/post_sales", json=[sale("2021-W09", "Zanahoria", 1)])
    assert report.json()["warnings"] == [
        {
            "index": 0,
            "code": "other_spelling",
            "message": "'Zanahoria' for the week of 2021-03-01: 'carotte', 'carrot' are stored for that week too; "
            "all count in gold",
        }
    ]
    unchanged = client.post("/post_sales", json=[sale("2021-W09", "Zanahoria", 1)]).json()
    assert (unchanged["unchanged"], unchanged["warnings"]) == (1, [])  # nothing stored, nothing to warn of
    feed = client.get("/get_data_quality").json()["feed"]
    assert feed["warnings"] == {"overlapping_weeks": 0, "read_by_similarity": 0, "other_spelling": 2}
