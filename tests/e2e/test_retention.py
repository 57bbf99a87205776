"""The row history kept for --history-days, on every backend: older versions answer 410 with the
oldest kept, and compaction leaves every kept version's answers as they were."""

import datetime as dt

from fastapi.testclient import TestClient

from tests.conftest import sale
from vegsales.api import create_app
from vegsales.history import compact
from vegsales.http.service import Limits

READS = ("/get_raw_sales", "/get_monthly_sales", "/get_monthly_sales?remove_outliers=true")


def bodies(client: TestClient, version: int) -> list[bytes]:
    return [client.get(path, params={"as_of": version}).content for path in READS]


def post_three_versions(client: TestClient) -> list[int]:
    posts = [
        [sale("2020-01-06", "Tomate", 7), sale("2020-01-06", "carotte", 3)],
        [sale("2020-01-06", "Tomate", 8), sale("2020-02-03", "Poire", 2)],
        [sale("2020-02-03", "Poire", 5)],
    ]
    return [client.post("/post_sales", json=records).json()["data_version"] for records in posts]


def test_with_no_days_kept_only_the_current_version_answers(make_store):
    with TestClient(create_app(make_store(), limits=Limits(history_days=0))) as client:
        first, second, third = post_three_versions(client)
        current = bodies(client, third)
        for version in (first, second):
            response = client.get("/get_monthly_sales", params={"as_of": version})
            assert (response.status_code, response.json()) == (
                410,
                {
                    "error": "version_gone",
                    "message": f"data version {version} is no longer kept; the oldest kept is {third}",
                    "oldest": third,
                },
            )
        assert bodies(client, third) == current


def test_compaction_keeps_the_answers_of_every_version_within_the_days_and_drops_the_rest(make_store):
    store = make_store()
    with TestClient(create_app(store)) as client:
        first, second, third = post_three_versions(client)
        kept = {version: bodies(client, version) for version in (second, third)}
        committed = {v["data_version"]: v["committed_at"] for v in client.get("/get_history").json()["versions"]}
        # 400 days after the second post: the second version was current then, the first was not
        now = dt.datetime.fromisoformat(committed[second]) + dt.timedelta(days=400)
        assert store.table_sizes()["row_history"] == 3  # a row for each post's version
        dropped = compact(store, 400, now=now)
        assert dropped == 2  # the first post's bronze row of tomato (its silver row with it) and its gold month
        assert store.table_sizes()["row_history"] == 2  # the first two folded into one row, and the third
        assert [v["data_version"] for v in client.get("/get_history").json()["versions"]] == [third, second]
        assert {version: bodies(client, version) for version in (second, third)} == kept
        assert compact(store, 400, now=now) == 0  # nothing more to drop
        gone = client.get("/get_raw_sales", params={"as_of": first})
        assert (gone.status_code, gone.json()["oldest"]) == (410, second)
    with TestClient(create_app(make_store(), limits=Limits(history_days=0))) as client:  # a restart compacts
        assert {version: bodies(client, version) for version in (third,)} == {third: kept[third]}
        assert client.get("/get_raw_sales", params={"as_of": second}).json()["oldest"] == third
