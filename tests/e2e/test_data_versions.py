"""Data versions, on every backend: each committed change of sales makes one, every read names the
one its rows come from, and the history lists them."""

import datetime as dt

from fastapi.testclient import TestClient

from tests.conftest import sale
from vegsales.api import create_app
from vegsales.pipeline import sync_with_rules
from vegsales.silver import FeedRules
from vegsales.vegetables import Vocabulary

READS = ("/get_raw_sales", "/get_monthly_sales", "/get_monthly_sales?remove_outliers=true")


def versions_read(client: TestClient) -> set[str]:
    return {client.get(path).headers["X-Data-Version"] for path in READS}


def posted(client: TestClient, records: list, request_id: str | None = None) -> tuple[int, int, dict]:
    headers = {"X-Request-ID": request_id} if request_id else {}
    response = client.post("/post_sales", json=records, headers=headers)
    report = response.json()
    return response.status_code, report.pop("data_version"), report


def history(client: TestClient, **params) -> list[dict]:
    response = client.get("/get_history", params=params)
    assert response.status_code == 200, response.text
    return response.json()["versions"]


def without_times(versions: list[dict]) -> list[dict]:
    for version in versions:
        committed = dt.datetime.fromisoformat(version.pop("committed_at"))
        assert committed.utcoffset() == dt.timedelta(0)
    return versions


def test_each_change_of_sales_makes_one_version_and_nothing_else_does(make_store):
    with TestClient(create_app(make_store())) as client:
        assert versions_read(client) == {"0"}
        assert posted(client, [sale("2020-01-06", "Tomate", 7)], "first")[:2] == (200, 1)
        assert versions_read(client) == {"1"}
        assert posted(client, [sale("2020-01-06", "Tomate", 7)])[:2] == (200, 1)  # unchanged
        assert posted(client, [sale("2020-01-06", "Nothing-like-a-vegetable", 7)])[:2] == (422, 1)  # quarantine
        assert posted(client, [])[:2] == (200, 1)
        assert client.post("/replay_rejected").json()["data_version"] == 1  # nothing replayed
        assert versions_read(client) == {"1"}
        records = [sale("2020-01-06", "Tomate", 8), sale("2020-02-03", "Poire", 2)]
        status, version, report = posted(client, records, "second")
        assert (status, version, report["inserted"], report["updated"]) == (200, 2, 1, 1)
        assert versions_read(client) == {"2"}
        forecast = client.get("/get_forecast")  # every vegetable: none has the history to forecast yet
        assert (forecast.status_code, forecast.json(), forecast.headers["X-Data-Version"]) == (200, [], "2")
        assert without_times(history(client)) == [
            {
                "data_version": 2,
                "operation": "post",
                "request_id": "second",
                "request_ids": ["second"],
                "bronze": {"inserted": 1, "updated": 1, "deleted": 0},
                "months_changed": 2,
            },
            {
                "data_version": 1,
                "operation": "post",
                "request_id": "first",
                "request_ids": ["first"],
                "bronze": {"inserted": 1, "updated": 0, "deleted": 0},
                "months_changed": 1,
            },
        ]
        assert [version["data_version"] for version in history(client, limit=1)] == [2]


def test_init_empties_the_history_and_the_numbers_go_on_after_a_restart(make_store):
    with TestClient(create_app(make_store())) as client:
        posted(client, [sale("2020-01-06", "Tomate", 7)])
        posted(client, [sale("2020-01-13", "Tomate", 7)])
        assert client.post("/init_database").status_code == 200
        assert versions_read(client) == {"3"}
        assert [(v["data_version"], v["operation"]) for v in history(client)] == [(3, "init")]
        assert posted(client, [sale("2020-01-06", "Carotte", 1)])[:2] == (200, 4)
    with TestClient(create_app(make_store())) as client:  # the same store, opened again
        assert versions_read(client) == {"4"}
        assert [(v["data_version"], v["operation"]) for v in history(client)] == [(4, "post"), (3, "init")]
        assert posted(client, [sale("2020-01-06", "Carotte", 2)])[:2] == (200, 5)


def test_a_replay_that_stores_records_makes_a_version(make_store, tmp_path):
    with TestClient(create_app(make_store())) as client:
        posted(client, [sale("2020-01-06", "Tomate", 7)])
        assert posted(client, [sale("2020-01-06", "Kale", 3)])[:2] == (422, 1)
    vocabulary = tmp_path / "vocabulary.toml"
    vocabulary.write_text('tomato = ["tomate"]\nkale = ["chou kale"]\n', encoding="utf-8")
    store, rules = make_store(), FeedRules(Vocabulary.load(vocabulary))
    sync_with_rules(store, rules)  # as a server does at start-up
    with TestClient(create_app(store, rules)) as client:
        # the start-up brought the quarantine in line with the new vocabulary: one version, a replay
        assert [(v["data_version"], v["operation"], v["bronze"]) for v in history(client)] == [
            (2, "replay", {"inserted": 1, "updated": 0, "deleted": 0}),
            (1, "post", {"inserted": 1, "updated": 0, "deleted": 0}),
        ]
        assert versions_read(client) == {"2"}
