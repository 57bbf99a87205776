"""GET /get_forecast, `vegsales forecast` and SalesClient.forecast() on the sample data."""

import csv
import datetime as dt

import pytest
from fastapi.testclient import TestClient

from tests.conftest import sale
from tests.e2e.test_cli import SAMPLE
from vegsales.api import create_app
from vegsales.storage.sqlite import SqliteStore


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with open(SAMPLE, newline="", encoding="utf-8") as file:
        records = list(csv.DictReader(file))
    store = SqliteStore(tmp_path_factory.mktemp("forecast") / "sales.db")
    with TestClient(create_app(store)) as test_client:
        test_client.post("/post_sales", json=records)
        yield test_client


def test_a_forecast_of_any_spelling_with_intervals_and_a_backtest(client):
    response = client.get("/get_forecast", params={"vegetable": "Zanahoria", "horizon": 3})
    answer = response.json()
    assert (answer["vegetable"], answer["model"]) == ("carrot", "ETS(M,Ad,M) season 12")
    assert answer["trained_on"] == {
        "first_month": "2020-01",
        "last_month": "2023-12",
        "months": 48,
        "outlier_months_removed": [],
        "data_version": int(response.headers["X-Data-Version"]),
    }
    assert [month["year_month"] for month in answer["forecast"]] == ["2024-01", "2024-02", "2024-03"]
    for month in answer["forecast"]:
        assert (
            0 <= month["lower_95"] <= month["lower_80"] <= month["kilo_sold"] <= month["upper_80"] <= month["upper_95"]
        )
    one_step = answer["backtest"]["one_step"]
    assert (one_step["origins"], sorted(one_step["model"]), sorted(one_step["seasonal_naive"])) == (
        12, ["mae", "mase", "smape"], ["mae", "mase", "smape"],
    )  # fmt: skip


def test_removing_outliers_replaces_the_spike_and_lowers_the_backtest_error(client):
    kept = client.get("/get_forecast", params={"vegetable": "carrot"}).json()
    removed = client.get("/get_forecast", params={"vegetable": "carrot", "remove_outliers": "true"}).json()
    assert removed["trained_on"]["outlier_months_removed"] == ["2020-09"]
    assert removed["backtest"]["one_step"]["model"]["mae"] < kept["backtest"]["one_step"]["model"]["mae"] / 5
    september = [next(m for m in a["forecast"] if m["year_month"] == "2024-09") for a in (kept, removed)]
    assert september[1]["kilo_sold"] < september[0]["kilo_sold"] / 2  # the spike no longer echoes a year later


def test_without_a_vegetable_every_vegetable_is_forecast(client):
    answers = client.get("/get_forecast", params={"horizon": 1}).json()
    assert [answer["vegetable"] for answer in answers] == [
        "brussels sprout", "cabbage", "carrot", "cauliflower", "garlic", "leek", "lettuce", "onion", "pear",
        "potato", "tomato", "zucchini",
    ]  # fmt: skip
    assert all(len(answer["forecast"]) == 1 for answer in answers)


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({"vegetable": "mango"}, 404, "unknown_vegetable"),
        ({"vegetable": "carrot", "horizon": 0}, 400, "invalid_request"),
        ({"vegetable": "carrot", "horizon": 25}, 400, "invalid_request"),
        ({"vegetable": "carrot", "remove_outliers": "maybe"}, 400, "invalid_request"),
    ],
)
def test_bad_requests_are_refused_clearly(client, params, status, error):
    response = client.get("/get_forecast", params=params)
    assert (response.status_code, response.json()["error"]) == (status, error)
    if status == 404:
        assert response.json()["suggestions"] == ["mushroom", "apple"]


def test_too_little_history_is_a_422_with_the_reason(tmp_path):
    with TestClient(create_app(SqliteStore(tmp_path / "s.db"))) as client:
        client.post("/post_sales", json=[sale("2020-01-06", "Tomate", 7), sale("2020-02-03", "Tomate", 7)])
        response = client.get("/get_forecast", params={"vegetable": "tomato"})
        assert (response.status_code, response.json()) == (
            422,
            {
                "error": "not_enough_history",
                "message": "tomato: 2 months of history (2020-01 to 2020-02): at least 3 are needed",
            },
        )
        assert client.get("/get_forecast").json() == []  # a list leaves it out


def test_a_missing_forecast_library_is_a_501_naming_the_install(tmp_path, monkeypatch):
    import vegsales.forecast
    from vegsales.forecast_types import ForecastUnavailable

    def unavailable(*args, **options):
        raise ForecastUnavailable("forecasts need statsforecast: pip install 'vegsales[forecast]'")

    monkeypatch.setattr(vegsales.forecast, "forecast_vegetable", unavailable)
    with TestClient(create_app(SqliteStore(tmp_path / "s.db"))) as client:
        weeks = [(dt.date(2020, 1, 6) + dt.timedelta(weeks=i)).isoformat() for i in range(30)]
        client.post("/post_sales", json=[sale(week, "Tomate", 7) for week in weeks])
        response = client.get("/get_forecast", params={"vegetable": "tomato"})
        assert (response.status_code, response.json()) == (
            501,
            {
                "error": "forecast_unavailable",
                "message": "forecasts need statsforecast: pip install 'vegsales[forecast]'",
            },
        )
        assert client.get("/get_monthly_sales").status_code == 200  # the rest of the service is untouched
