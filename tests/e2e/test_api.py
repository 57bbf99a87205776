"""The HTTP API in-process, on every backend: exact rows and kilos, not just status codes."""

import gzip

import pytest
from fastapi.testclient import TestClient

from tests.conftest import sale
from vegsales.api import Limits, create_app

ENDPOINTS = ["/post_sales", "/get_raw_sales", "/get_monthly_sales", "/init_database", "/health"]


def post(client, records, path="/post_sales"):
    return client.post(path, json=records)


def monthly(client, remove_outliers=None):
    params = {} if remove_outliers is None else {"remove_outliers": remove_outliers}
    return client.get("/get_monthly_sales", params=params).json()


def test_a_post_is_stored_raw_and_prorated_into_months(client):
    response = post(client, [sale("2020-01-27", "Tomate", 70)])
    assert response.status_code == 200
    assert response.json() == {
        "received": 1,
        "inserted": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": [],
        "warnings": [],
        "data_version": 1,
    }
    assert client.get("/get_raw_sales").json() == [sale("2020-01-27", "Tomate", 70.0)]
    assert monthly(client) == [
        {"year_month": "2020-01", "vegetable": "tomato", "kilo_sold": 50.0, "is_outlier": False},
        {"year_month": "2020-02", "vegetable": "tomato", "kilo_sold": 20.0, "is_outlier": False},
    ]


def test_repost_of_same_records_changes_nothing(client):
    records = [sale("2020-01-06", "Tomate", 70), sale("2020-01-06", "Poire", 12.5)]
    post(client, records)
    raw, gold = client.get("/get_raw_sales").json(), monthly(client)
    again = post(client, records).json()
    unchanged = {"received": 2, "inserted": 0, "updated": 0, "unchanged": 2, "rejected": [], "warnings": []}
    assert again == {**unchanged, "data_version": 1}  # no new version
    assert client.get("/get_raw_sales").json() == raw
    assert monthly(client) == gold
    assert len(raw) == 2


def test_last_write_wins_for_a_key(client):
    post(client, [sale("2020-01-06", "Tomate", 70)])
    report = post(client, [sale("2020-01-06", "Tomate", 35)]).json()
    assert (report["inserted"], report["updated"]) == (0, 1)
    assert client.get("/get_raw_sales").json() == [sale("2020-01-06", "Tomate", 35.0)]
    assert monthly(client)[0]["kilo_sold"] == pytest.approx(35.0, abs=1e-9)


def test_within_one_post_the_later_duplicate_wins(client):
    report = post(
        client,
        [sale("2020-01-06", "Tomate", 10), sale("2020-01-06", "Tomate", 20), sale("2020-01-06", "Tomate", 20)],
    ).json()
    assert (report["inserted"], report["updated"], report["unchanged"]) == (1, 1, 1)
    assert client.get("/get_raw_sales").json() == [sale("2020-01-06", "Tomate", 20.0)]


def test_invalid_record_is_rejected_and_others_are_stored(client):
    records = [
        sale("2020-01-06", "Tomate", 10),
        sale("2020-01-06", "Poire", 20),
        {**sale("2020-01-06", "Carotte", 30), "brand_quality": "A"},
        sale("2020-01-13", "Tomate", 40),
    ]
    response = post(client, records)
    assert response.status_code == 200
    assert response.json() == {
        "received": 4,
        "inserted": 3,
        "updated": 0,
        "unchanged": 0,
        "rejected": [
            {
                "index": 2,
                "errors": [
                    {"field": "brand_quality", "code": "extra_field", "message": "Extra inputs are not permitted"}
                ],
            }
        ],
        "warnings": [],
        "data_version": 1,
    }
    assert client.get("/get_raw_sales").json() == [
        sale("2020-01-06", "Poire", 20.0),
        sale("2020-01-06", "Tomate", 10.0),
        sale("2020-01-13", "Tomate", 40.0),
    ]


@pytest.mark.parametrize(
    ("record", "field", "message"),
    [
        ("not an object", "record", "must be a JSON object, got a string"),
        ({"date": "2020-01-06", "vegetable": "Tomate"}, "kilo_sold", "Field required"),
        ({**sale("2020-01-06", "Tomate", 1), "brand_quality": 1}, "brand_quality", "Extra inputs"),
        (sale("2021-02-29", "Tomate", 1), "date", "'2021-02-29' is not a real calendar date"),
        (sale("2020-13-01", "Tomate", 1), "date", "'2020-13-01' is not a real calendar date"),
        (sale("not a date", "Tomate", 1), "date", "'not a date' is not a date or a week; write a calendar date"),
        (sale(None, "Tomate", 1), "date", "must be a date or a week, got null"),
        (sale("2021-W53", "Tomate", 1), "date", "'2021-W53' is not a week: ISO year 2021 has weeks 01 to 52"),
        (sale("2020-01-06", "Tomate\n", 1), "vegetable", "contains a control character U+000A at position 7"),
        (sale("2020-01-06", "", 1), "vegetable", "at least 1 character"),
        (sale("2020-01-06", "y" * 101, 1), "vegetable", "at most 100 characters"),
        (sale("2020-01-06", "banana", 1), "vegetable", "unknown vegetable 'banana'; closest: apple"),
        (sale("2020-01-06", "Tomate", True), "kilo_sold", "must be a number, not a boolean"),
        (sale("2020-01-06", "Tomate", None), "kilo_sold", "Input should be a valid number"),
        (sale("2020-01-06", "Tomate", "abc"), "kilo_sold", "'abc' is not a number"),
        (sale("2020-01-06", "Tomate", -5), "kilo_sold", "greater than or equal to 0"),
    ],
)
def test_each_rejection_rule_gives_the_field_and_reason(client, record, field, message):
    response = post(client, [sale("2020-01-06", "Poire", 1), record])
    assert response.status_code == 200
    (rejection,) = response.json()["rejected"]
    assert rejection["index"] == 1
    assert any(e["field"] == field and message in e["message"] for e in rejection["errors"]), rejection
    assert client.get("/get_raw_sales").json() == [sale("2020-01-06", "Poire", 1.0)]


def test_numeric_string_kilos_are_stored_as_numbers(client):
    post(client, [sale("2020-01-06", "Tomate", "12.5")])
    assert client.get("/get_raw_sales").json() == [sale("2020-01-06", "Tomate", 12.5)]


def test_a_number_too_large_for_a_double_rejects_only_its_record(client):
    body = b'[{"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": 1e400}, ' \
           b'{"date": "2020-01-06", "vegetable": "Poire", "kilo_sold": 3}]'  # fmt: skip
    response = client.post("/post_sales", content=body)
    assert response.status_code == 200
    assert response.json()["rejected"] == [
        {"index": 0, "errors": [{"field": "kilo_sold", "code": "bad_number", "message": "must be a finite number"}]}
    ]


def test_all_records_invalid_gives_422_with_the_report(client):
    response = post(client, [sale("2020-01-06", "Tomate", -1), 42])
    assert response.status_code == 422
    body = response.json()
    assert (body["received"], body["inserted"], [r["index"] for r in body["rejected"]]) == (2, 0, [0, 1])
    assert client.get("/get_raw_sales").json() == []


def test_an_empty_list_is_accepted_and_changes_nothing(client):
    response = post(client, [])
    assert response.status_code == 200
    assert response.json() == {
        "received": 0,
        "inserted": 0,
        "updated": 0,
        "unchanged": 0,
        "rejected": [],
        "warnings": [],
        "data_version": 0,
    }


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "empty_body"),
        (b"   ", "empty_body"),
        (b"{bad json", "invalid_json"),
        (b"[1, 2", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"[" * 5000 + b"]" * 5000, "body_too_deep"),
        (b"[" * 5000, "body_too_deep"),
        (b'"a string"', "invalid_body"),
        (b"42", "invalid_body"),
        (b"null", "invalid_body"),
        (b'{"records": []}', "invalid_body"),
        (b'{"data": "x"}', "invalid_body"),
        (b'{"data": [], "extra": 1}', "invalid_body"),
    ],
)
def test_bad_bodies_get_400_with_a_json_error_and_store_nothing(client, body, error):
    post(client, [sale("2020-01-06", "Tomate", 1)])
    response = client.post("/post_sales", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.json()["message"]
    assert client.get("/get_raw_sales").json() == [sale("2020-01-06", "Tomate", 1.0)]


def test_data_envelope_is_accepted(client):
    response = client.post("/post_sales", json={"data": [sale("2020-01-06", "Tomate", 7)]})
    assert response.status_code == 200
    assert response.json()["inserted"] == 1
    assert client.get("/get_raw_sales").json() == [sale("2020-01-06", "Tomate", 7.0)]


def test_body_sent_without_json_content_type_is_still_read(client):
    response = client.post(
        "/post_sales",
        content=b'[{"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": 7}]',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.json()["inserted"] == 1


def test_too_large_bodies_and_lists_get_413(make_store):
    app = create_app(make_store(), limits=Limits(max_body_bytes=200, max_records=2))
    with TestClient(app) as client:
        too_many = post(client, [sale("2020-01-06", "Tomate", 1)] * 3)
        assert (too_many.status_code, too_many.json()["error"]) == (413, "too_many_records")
        too_big = client.post("/post_sales", content=b"[" + b" " * 300 + b"]")
        assert (too_big.status_code, too_big.json()["error"]) == (413, "body_too_large")
        assert client.get("/get_raw_sales").json() == []


def test_two_spellings_in_one_week_are_two_raw_rows_summed_in_gold(client):
    post(client, [sale("2020-01-06", "Tomate", 70), sale("2020-01-06", "tomatto", 14)])
    assert client.get("/get_raw_sales").json() == [
        sale("2020-01-06", "Tomate", 70.0),
        sale("2020-01-06", "tomatto", 14.0),
    ]
    assert monthly(client) == [{"year_month": "2020-01", "vegetable": "tomato", "kilo_sold": 84.0, "is_outlier": False}]


def test_raw_and_monthly_are_sorted(client):
    post(
        client,
        [sale("2020-02-03", "Tomate", 7), sale("2020-01-06", "tomatto", 7), sale("2020-01-06", "Poire", 7)],
    )
    raw = client.get("/get_raw_sales").json()
    assert [(r["date"], r["vegetable"]) for r in raw] == [
        ("2020-01-06", "Poire"),
        ("2020-01-06", "tomatto"),
        ("2020-02-03", "Tomate"),
    ]
    assert [(r["year_month"], r["vegetable"]) for r in monthly(client)] == [
        ("2020-01", "pear"),
        ("2020-01", "tomato"),
        ("2020-02", "tomato"),
    ]


def forty_eight_months_with_a_spike() -> list[dict]:
    """Tomatoes at 700 kg a week (2020-2023), one week at 70,000 kg; pears steady."""
    import datetime as dt

    records, day = [], dt.date(2020, 1, 6)
    while day.year < 2024:
        kilos = 70_000 if day.isoformat() == "2021-06-07" else 700
        records += [sale(day.isoformat(), "Tomate", kilos), sale(day.isoformat(), "Poire", 70)]
        day += dt.timedelta(days=7)
    return records


@pytest.mark.parametrize(
    ("value", "drops_outliers"),
    [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("false", False), ("0", False),
     ("No", False), (None, False)],
)  # fmt: skip
def test_remove_outliers_accepts_boolean_spellings(client, value, drops_outliers):
    post(client, forty_eight_months_with_a_spike())
    everything = monthly(client)
    flagged = [(r["year_month"], r["vegetable"]) for r in everything if r["is_outlier"]]
    assert flagged == [("2021-06", "tomato")]
    result = monthly(client, value)
    if drops_outliers:
        assert result == [r for r in everything if not r["is_outlier"]]
        assert len(result) == len(everything) - 1
    else:
        assert result == everything


def test_the_spike_month_holds_the_exact_prorated_kilos(client):
    post(client, forty_eight_months_with_a_spike())
    june = [r for r in monthly(client) if r["year_month"] == "2021-06" and r["vegetable"] == "tomato"]
    # June 2021: weeks of 05-31 (6 days in June), 06-07 (spike), 06-14, 06-21, 06-28 (3 days).
    assert june[0]["kilo_sold"] == pytest.approx(700 * 6 / 7 + 70_000 + 700 * 2 + 700 * 3 / 7, abs=1e-9)


def test_invalid_remove_outliers_gets_400(client):
    response = client.get("/get_monthly_sales", params={"remove_outliers": "maybe"})
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_parameter",
        "message": "remove_outliers must be true or false, got 'maybe'",
    }


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_init_database_empties_every_table(client, method):
    post(client, [sale("2020-01-06", "Tomate", 70)])
    response = client.request(method, "/init_database")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert client.get("/get_raw_sales").json() == []
    assert monthly(client) == []
    post(client, [sale("2020-01-06", "Tomate", 7)])
    assert monthly(client)[0]["kilo_sold"] == 7.0


@pytest.mark.parametrize("path", ENDPOINTS)
def test_every_endpoint_works_with_and_without_trailing_slash(client, path):
    method = "POST" if path == "/post_sales" else "GET"
    for variant in (path, path + "/"):
        response = client.request(method, variant, json=[sale("2020-01-06", "Tomate", 1)])
        assert response.status_code == 200, variant
        assert not response.history, "no redirect"


def test_data_survive_a_restart_on_the_same_store(make_store):
    with TestClient(create_app(make_store())) as client:
        post(client, [sale("2020-01-27", "Tomate", 70)])
    with TestClient(create_app(make_store())) as client:
        assert client.get("/get_raw_sales").json() == [sale("2020-01-27", "Tomate", 70.0)]
        assert [r["kilo_sold"] for r in monthly(client)] == [50.0, 20.0]


def test_health(client):
    assert client.get("/health").json() == {"status": "ok"}


def test_unknown_path_and_wrong_method_get_json_errors(client):
    missing = client.get("/nope")
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    wrong = client.delete("/post_sales")
    assert (wrong.status_code, wrong.json()["error"]) == (405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/get_raw_sales", "/get_monthly_sales"])
def test_etag_gives_304_until_the_table_changes(client, path):
    post(client, [sale("2020-01-06", "Tomate", 1)])
    first = client.get(path)
    etag = first.headers["etag"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    post(client, [sale("2020-01-06", "Tomate", 1)])  # a replay changes nothing
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    post(client, [sale("2020-01-06", "Tomate", 2)])
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()[0]["kilo_sold"] == 2.0


def test_large_bodies_are_gzipped_when_asked(client):
    post(client, forty_eight_months_with_a_spike())
    plain = client.get("/get_raw_sales", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    zipped = client.get("/get_raw_sales", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.json() == plain.json()
    assert len(plain.json()) == 2 * 208  # Mondays 2020-01-06 .. 2023-12-25
    raw = client.stream("GET", "/get_raw_sales", headers={"Accept-Encoding": "gzip"})
    with raw as response:
        compressed = b"".join(response.iter_raw())
    assert len(compressed) < len(plain.content) / 5
    assert gzip.decompress(compressed) == plain.content


def test_openapi_documents_every_endpoint(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert sorted(paths) == [
        "/delete_sales",
        "/get_data_quality",
        "/get_forecast",
        "/get_history",
        "/get_monthly_sales",
        "/get_raw_sales",
        "/get_rejected_sales",
        "/get_weekly_sales",
        "/health",
        "/init_database",
        "/metrics",
        "/post_sales",
        "/replay_rejected",
        "/resolve_vegetable",
    ]
    assert "requestBody" in paths["/post_sales"]["post"]
    assert "requestBody" in paths["/delete_sales"]["post"]


def test_an_unavailable_store_gives_503_json_not_500(make_store):
    store = make_store()
    with TestClient(create_app(store)) as client:
        store.close()
        for response in (
            post(client, [sale("2020-01-06", "Tomate", 1)]),
            client.get("/get_raw_sales"),
            client.get("/get_monthly_sales"),
            client.get("/health"),
        ):
            assert response.status_code == 503
            assert response.json()["error"] == "storage_unavailable"


def test_an_unexpected_error_is_a_json_500(client, monkeypatch):
    import vegsales.pipeline

    def broken(*args, **options):
        raise RuntimeError("bug")

    monkeypatch.setattr(vegsales.pipeline, "ingest", broken)
    monkeypatch.setattr(vegsales.pipeline, "ingest_posts", broken)
    response = client.post("/post_sales", json=[sale("2020-01-06", "Tomate", 1)], headers={"X-Request-ID": "r-42"})
    assert (response.status_code, response.json()) == (
        500,
        {"error": "internal_error", "message": "unexpected server error", "request_id": "r-42"},
    )
    assert response.headers["x-request-id"] == "r-42"


def test_unsupported_methods_get_405_listing_the_allowed_ones(client):
    for path, allowed in [
        ("/post_sales", "OPTIONS, POST"),
        ("/init_database", "GET, OPTIONS, POST"),
        ("/health", "GET, HEAD, OPTIONS"),
    ]:
        response = client.delete(path)
        assert (response.status_code, response.json()["error"]) == (405, "method_not_allowed")
        assert response.headers["allow"] == allowed


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/post_sales", "OPTIONS, POST"),
        ("/get_raw_sales", "GET, HEAD, OPTIONS"),
        ("/get_monthly_sales", "GET, HEAD, OPTIONS"),
        ("/get_weekly_sales", "GET, HEAD, OPTIONS"),
        ("/init_database", "GET, OPTIONS, POST"),
        ("/delete_sales", "OPTIONS, POST"),
        ("/get_rejected_sales", "GET, HEAD, OPTIONS"),
        ("/replay_rejected", "OPTIONS, POST"),
        ("/get_data_quality", "GET, HEAD, OPTIONS"),
        ("/metrics", "GET, HEAD, OPTIONS"),
        ("/resolve_vegetable", "GET, HEAD, OPTIONS"),
        ("/get_forecast", "GET, HEAD, OPTIONS"),
        ("/", "GET, HEAD, OPTIONS"),
        ("/dashboard", "GET, HEAD, OPTIONS"),
        ("/docs", "GET, HEAD, OPTIONS"),
        ("/redoc", "GET, HEAD, OPTIONS"),
        ("/dashboard/chart.svg", "GET, HEAD, OPTIONS"),
        ("/health", "GET, HEAD, OPTIONS"),
    ],
)
def test_every_path_answers_options_and_a_wrong_method_with_its_allowed_methods(client, path, allowed):
    options = client.options(path)
    assert (options.status_code, options.headers["allow"], options.content) == (204, allowed, b"")
    wrong = client.request("PATCH", path)
    assert (wrong.status_code, wrong.json()["error"], wrong.headers["allow"]) == (405, "method_not_allowed", allowed)


def test_an_app_without_metrics_serves_no_metrics_path(make_store):
    with TestClient(create_app(make_store(), metrics=False)) as client:
        for method in ("GET", "OPTIONS"):
            response = client.request(method, "/metrics")
            assert (response.status_code, response.json()["error"]) == (404, "not_found")
        assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_head_answers_like_get_without_a_body(client):
    post(client, [sale("2020-01-06", "Tomate", 1)])
    for path in ("/get_raw_sales", "/get_monthly_sales", "/health"):
        get, head = client.get(path), client.head(path)
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["content-length"] == get.headers["content-length"] == str(len(get.content))


def test_dates_at_the_edges_of_the_accepted_range_are_prorated(client):
    response = post(
        client,
        [
            sale("2999-12-25", "Tomate", 7),
            sale("1900-01-01", "Tomate", 7),
            sale("9999-12-30", "Tomate", 7),
            sale("2999-12-31", "Tomate", 7),
            sale("2999-12-26", "Tomate", 7),
        ],
    )
    assert response.status_code == 200
    assert [(r["index"], r["errors"]) for r in response.json()["rejected"]] == [
        (2, [{"field": "date", "code": "date_out_of_range",
              "message": "'9999-12-30' is outside 1900-01-01 .. 2999-12-31"}]),
        (3, [{"field": "date", "code": "date_out_of_range",
              "message": "'2999-12-31' names the week 2999-12-31 .. 3000-01-06: "
                         "every day of a week must fall within 1900-01-01 .. 2999-12-31"}]),
        (4, [{"field": "date", "code": "date_out_of_range",
              "message": "'2999-12-26' names the week 2999-12-26 .. 3000-01-01: "
                         "every day of a week must fall within 1900-01-01 .. 2999-12-31"}]),
    ]  # fmt: skip
    assert client.get("/get_raw_sales").json() == [sale("1900-01-01", "Tomate", 7.0), sale("2999-12-25", "Tomate", 7.0)]
    assert [(r["year_month"], r["kilo_sold"]) for r in monthly(client)] == [("1900-01", 7.0), ("2999-12", 7.0)]


def test_a_304_carries_no_body_headers(client):
    post(client, [sale("2020-01-06", "Tomate", 1)])
    etag = client.get("/get_raw_sales").headers["etag"]
    not_modified = client.get("/get_raw_sales", headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert "content-length" not in not_modified.headers
    assert not_modified.headers["etag"] == etag


def test_names_sorting_after_every_other_still_count_in_their_month(client):
    # U+2FA1D, a CJK letter, is the last letter in code-point order.
    post(client, [sale("2020-03-30", "\U0002fa1dtomato", 70), sale("2020-03-02", "tomato", 7)])
    march = [r for r in monthly(client) if r["year_month"] == "2020-03"]
    assert march[0]["kilo_sold"] == pytest.approx(7 + 70 * 2 / 7, abs=1e-9)


def test_an_etag_from_before_a_restart_never_matches_new_data(make_store):
    with TestClient(create_app(make_store())) as client:
        post(client, [sale("2020-01-06", "Tomate", 1)])
        etags = [client.get(path).headers["etag"] for path in ("/get_raw_sales", "/get_monthly_sales")]
    with TestClient(create_app(make_store())) as client:
        post(client, [sale("2020-01-06", "Tomate", 99)])
        for path, etag in zip(("/get_raw_sales", "/get_monthly_sales"), etags, strict=True):
            response = client.get(path, headers={"If-None-Match": etag})
            assert response.status_code == 200
            assert response.json()[0]["kilo_sold"] == 99.0


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/post_sales", 200),
        ("POST", "/post_sales/", 200),
        ("GET", "/get_raw_sales", 200),
        ("GET", "/get_monthly_sales", 200),
        ("GET", "/get_monthly_sales?remove_outliers=maybe", 400),
        ("HEAD", "/get_raw_sales", 200),
        ("GET", "/get_rejected_sales", 200),
        ("POST", "/replay_rejected", 200),
        ("GET", "/health", 200),
        ("POST", "/init_database", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/docs", 200),
        ("GET", "/nowhere", 404),
        ("DELETE", "/get_raw_sales", 405),
    ],
)
def test_middleware_wraps_every_path_hot_or_not(client, method, path, status):
    """The response headers middleware stands for every cross-cutting layer: it must see each answer."""
    response = client.request(method, path, json=[] if method == "POST" else None)
    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
