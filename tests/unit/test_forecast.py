"""forecast_vegetable on series built by hand: known patterns in, known forecasts and errors out."""

import dataclasses
import random
import re
import sys

import numpy as np
import orjson
import pytest

pytest.importorskip("statsforecast", reason="the forecast extra is not installed: pip install 'vegsales[forecast]'")

from vegsales import forecast
from vegsales.forecast import (
    Forecast,
    ForecastUnavailable,
    NotEnoughHistory,
    _training_values,
    clear_forecast_cache,
    forecast_vegetable,
)

PATTERN = [100.0, 120.0, 150.0, 200.0, 260.0, 300.0, 320.0, 290.0, 230.0, 170.0, 130.0, 110.0]
"""A fixed 12-month shape, January first."""
SEASONAL = "ETS(M,Ad,M) season 12"


def make_months(values, first_year=2020, outliers=()):
    """(year_month, kilos, is_outlier) from January of first_year, one a month; `outliers` are indexes."""
    return [(f"{first_year + i // 12}-{i % 12 + 1:02d}", float(v), i in outliers) for i, v in enumerate(values)]


def kilos(forecast: Forecast) -> list[float]:
    return [month.kilo_sold for month in forecast.forecast]


def test_pure_seasonal_pattern_is_forecast_back():
    result = forecast_vegetable(make_months(PATTERN * 4))
    assert result.model == SEASONAL
    assert [month.year_month for month in result.forecast] == [f"2024-{m:02d}" for m in range(1, 13)]
    assert kilos(result) == pytest.approx(PATTERN, abs=0.5)
    for month, expected in zip(result.forecast, PATTERN, strict=True):
        assert expected - 1 <= month.lower_95 <= month.lower_80 <= month.kilo_sold
        assert month.kilo_sold <= month.upper_80 <= month.upper_95 <= expected + 1


def test_three_years_of_a_pattern_are_enough_for_the_seasonal_model():
    result = forecast_vegetable(make_months(PATTERN * 3))
    assert result.model == SEASONAL
    assert kilos(result) == pytest.approx(PATTERN, abs=1.0)


@pytest.mark.parametrize(
    ("remove_outliers", "low", "high"),
    [
        pytest.param(True, 145.0, 155.0, id="removed_spike_leaves_the_pattern"),
        pytest.param(False, 600.0, 2000.0, id="kept_spike_pulls_next_year_up"),
    ],
)
def test_spike_month_next_year(remove_outliers, low, high):
    values = PATTERN * 4
    values[38] = 2000.0  # 2023-03: the pattern says 150
    result = forecast_vegetable(make_months(values, outliers={38}), remove_outliers=remove_outliers)
    march = result.forecast[2]
    assert march.year_month == "2024-03"
    assert low <= march.kilo_sold <= high
    others = [month.kilo_sold for i, month in enumerate(result.forecast) if i != 2]
    assert others == pytest.approx([p for i, p in enumerate(PATTERN) if i != 2], rel=0.05)


@pytest.mark.parametrize(
    ("remove_outliers", "outliers", "expected"),
    [
        pytest.param(False, {8, 30}, (), id="kept_lists_nothing"),
        pytest.param(True, set(), (), id="none_tagged"),
        pytest.param(True, {30, 8}, ("2020-09", "2022-07"), id="two_tagged_in_calendar_order"),
        pytest.param(True, {47}, ("2023-12",), id="last_month_tagged"),
    ],
)
def test_outlier_months_removed_lists_exactly_the_replaced_months(remove_outliers, outliers, expected):
    values = [p * 1.5 if i in outliers else p for i, p in enumerate(PATTERN * 4)]
    result = forecast_vegetable(make_months(values, outliers=outliers), horizon=1, remove_outliers=remove_outliers)
    assert result.trained_on.outlier_months_removed == expected


def test_constant_series_gives_a_constant_forecast_with_narrow_intervals():
    result = forecast_vegetable(make_months([50.0] * 30), horizon=6)
    assert result.model == "ETS(A,N,N)"
    for month in result.forecast:
        assert month.kilo_sold == pytest.approx(50.0, abs=0.01)
        assert 49.0 <= month.lower_95 <= month.lower_80 <= month.upper_80 <= month.upper_95 <= 51.0


@pytest.mark.parametrize(
    ("months", "model"),
    [
        pytest.param(3, "naive (last month)", id="3_months_naive"),
        pytest.param(6, "naive (last month)", id="6_months_naive"),
        pytest.param(7, "ETS(A,N,N)", id="7_months_simple_smoothing"),
        pytest.param(23, "ETS(A,N,N)", id="23_months_simple_smoothing"),
        pytest.param(24, SEASONAL, id="24_months_seasonal"),
    ],
)
def test_model_depends_on_the_length_of_history(months, model):
    result = forecast_vegetable(make_months((PATTERN * 2)[:months]))
    assert result.model == model
    for month in result.forecast:
        # Intervals, not points; a lower bound may be clipped at zero.
        assert month.lower_95 <= month.lower_80 < month.kilo_sold < month.upper_80 < month.upper_95


def test_under_24_months_the_simpler_model_forecasts_the_last_level_with_widening_intervals():
    result = forecast_vegetable(make_months(PATTERN + [100.0] * 10), horizon=3)
    assert result.model == "ETS(A,N,N)"
    assert kilos(result) == pytest.approx([100.0] * 3, abs=5.0)
    widths = [month.upper_95 - month.lower_95 for month in result.forecast]
    assert widths[0] < widths[1] < widths[2]


def test_under_24_months_the_backtest_is_null_with_a_note():
    backtest = forecast_vegetable(make_months(PATTERN + PATTERN[:11])).backtest
    assert backtest.note == "a backtest needs 24 months of history (the last 12 are held out), this vegetable has 23"
    for run in (backtest.one_step, backtest.twelve_step):
        assert run.origins == 0
        assert dataclasses.astuple(run.model) == dataclasses.astuple(run.seasonal_naive) == (None, None, None)
    assert backtest.mase_scale is None


@pytest.mark.parametrize(
    ("months", "reason"),
    [
        pytest.param([], "no months: at least 3 are needed", id="none"),
        pytest.param(
            [("2023-05", 10.0, False)], "1 month of history (2023-05 to 2023-05): at least 3 are needed", id="one"
        ),
        pytest.param(
            [("2023-06", 1.0, False), ("2023-05", 2.0, False)],
            "2 months of history (2023-05 to 2023-06): at least 3 are needed",
            id="two",
        ),
    ],
)
def test_fewer_than_three_months_raise_not_enough_history(months, reason):
    with pytest.raises(NotEnoughHistory, match=re.escape(reason)):
        forecast_vegetable(months)


def test_not_enough_history_is_a_value_error():
    assert issubclass(NotEnoughHistory, ValueError)


def test_every_month_tagged_leaves_nothing_to_learn_from():
    with pytest.raises(NotEnoughHistory, match="every month is tagged"):
        forecast_vegetable(make_months([5.0, 6.0, 7.0], outliers={0, 1, 2}), remove_outliers=True)


def test_three_months_counted_on_the_calendar_so_a_gap_counts():
    result = forecast_vegetable([("2023-01", 10.0, False), ("2023-03", 30.0, False)], horizon=1)
    assert result.trained_on.months == 3
    assert result.model == "naive (last month)"
    assert kilos(result) == [30.0]


def test_missing_months_are_zero_sales():
    values = PATTERN * 4
    values[14] = 0.0
    with_zero = make_months(values)
    with_gap = [month for month in with_zero if month[0] != "2021-03"]
    assert forecast_vegetable(with_gap) == forecast_vegetable(with_zero)
    result = forecast_vegetable(with_gap)
    assert result.trained_on == dataclasses.replace(result.trained_on, first_month="2020-01", last_month="2023-12")
    assert result.trained_on.months == 48
    # A zero month rules out the multiplicative form.
    assert result.model == "ETS(A,Ad,A) season 12"


def test_only_the_last_ten_years_are_learned_from():
    """A store may span centuries: what is older than 120 months is not fitted (a fit of 1,100 years took 24 s)."""
    centuries = make_months([5000.0] * 12 * 1090 + PATTERN * 10, first_year=1900)
    decade = make_months(PATTERN * 10, first_year=2990)
    result, reference = forecast_vegetable(centuries), forecast_vegetable(decade)
    assert (result.trained_on.first_month, result.trained_on.last_month, result.trained_on.months) == (
        "2990-01", "2999-12", 120,
    )  # fmt: skip
    assert kilos(result) == kilos(reference)


def test_months_may_come_in_any_order():
    months = make_months([p * (1 + i / 100) for i, p in enumerate(PATTERN * 3)])
    shuffled = list(months)
    random.Random(7).shuffle(shuffled)
    in_order = forecast_vegetable(months)
    clear_forecast_cache()  # the answer is computed again from the shuffled months, not read back
    from_shuffled = forecast_vegetable(shuffled)
    assert from_shuffled is not in_order
    assert from_shuffled == in_order


def test_a_series_falling_to_zero_is_never_forecast_below_zero():
    falling = [300.0 - 10.0 * i for i in range(31)] + [0.0] * 5
    result = forecast_vegetable(make_months(falling), horizon=24)
    for month in result.forecast:
        assert (month.kilo_sold, month.lower_80, month.upper_80, month.lower_95, month.upper_95) == (0.0,) * 5


def test_short_falling_series_clips_the_lower_bounds_at_zero():
    result = forecast_vegetable(make_months([40.0, 25.0, 10.0]), horizon=4)
    assert [month.kilo_sold for month in result.forecast] == [10.0] * 4
    assert all(month.lower_95 == 0.0 for month in result.forecast)
    assert all(month.upper_95 > 10.0 for month in result.forecast)


def test_backtest_of_a_trend_plus_season_beats_the_seasonal_naive_baseline():
    # +1 kilo a month: the same month last year is always exactly 12 kilos short.
    values = [p + i for i, p in enumerate(PATTERN * 4)]
    backtest = forecast_vegetable(make_months(values)).backtest
    assert backtest.note is None
    assert (backtest.mase_scale, backtest.mase_naive_lag) == (12.0, 12)
    for run, origins in ((backtest.one_step, 12), (backtest.twelve_step, 1)):
        assert run.origins == origins
        assert run.models == (SEASONAL,)
        assert (run.seasonal_naive.mae, run.seasonal_naive.mase) == (12.0, 1.0)
        assert run.model.mae is not None and run.model.mase is not None and run.model.smape is not None
        assert run.model.mae < 10.0
        assert run.model.mase == pytest.approx(run.model.mae / 12.0, abs=0.001)
        assert run.model.smape < run.seasonal_naive.smape


def test_short_backtest_scales_by_the_month_before_and_fits_the_model_of_each_window():
    # 30 months: the backtest windows hold 18 to 29 months, so the first ones are under 24.
    backtest = forecast_vegetable(make_months((PATTERN * 3)[:30])).backtest
    # Month-to-month changes of the first 18 months of the pattern: 640 kilos over 17 changes.
    assert (backtest.mase_scale, backtest.mase_naive_lag) == (37.6471, 1)
    assert backtest.one_step.models == ("ETS(A,N,N)", SEASONAL)
    assert backtest.twelve_step.models == ("ETS(A,N,N)",)
    # The same month last year is exact on a pure pattern.
    assert backtest.one_step.seasonal_naive == backtest.twelve_step.seasonal_naive
    assert (backtest.one_step.seasonal_naive.mae, backtest.one_step.seasonal_naive.mase) == (0.0, 0.0)


@pytest.mark.parametrize("remove_outliers", [False, True], ids=["kept", "removed"])
def test_backtest_errors_are_measured_against_the_recorded_kilos(remove_outliers):
    values = PATTERN * 4
    values[41] += 1200.0  # 2023-06, inside the 12 held-out months; the pattern says 300
    backtest = forecast_vegetable(make_months(values, outliers={41}), remove_outliers=remove_outliers).backtest
    # Only the spike month is missed by the baseline: 1200 kilos over 12 months, sMAPE 200/12 * 1200/1800.
    for run in (backtest.one_step, backtest.twelve_step):
        assert (run.seasonal_naive.mae, run.seasonal_naive.smape) == (100.0, 11.11)
        assert run.model.mae is not None and run.model.mae >= 99.0
    # Trained on the replaced value, the model misses nothing else; trained on the spike, it does.
    if remove_outliers:
        assert backtest.one_step.model.mae == pytest.approx(100.0, abs=0.5)
    else:
        assert backtest.one_step.model.mae > 101.0
    # The MASE scale comes from the months before the held-out year: a pure pattern, no naive error.
    assert backtest.mase_scale == 0.0
    assert backtest.one_step.model.mase is None


@pytest.mark.parametrize(
    ("values", "outliers", "expected"),
    [
        pytest.param([10, 20, 30] * 3, {4}, [10, 20, 30, 10, 20, 30, 10, 20, 30], id="under_a_year_interpolates"),
        pytest.param(
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 99, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 5],
            {12},
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 3, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 5],
            id="january_is_the_mean_of_the_other_januaries",
        ),
        pytest.param([5, 99, 15, 20], {1}, [5, 10, 15, 20], id="no_other_year_interpolates_between_neighbours"),
        pytest.param([5, 10, 15, 99], {3}, [5, 10, 15, 15], id="last_month_takes_its_neighbour"),
        pytest.param([99, 99, 15, 20], {0, 1}, [15, 15, 15, 20], id="first_months_take_their_neighbour"),
    ],
)
def test_tagged_months_are_replaced_for_training(values, outliers, expected):
    flags = [i in outliers for i in range(len(values))]
    replaced = _training_values(np.array(values, dtype=float), np.array(flags), True)
    assert replaced.tolist() == [float(v) for v in expected]
    assert _training_values(np.array(values, dtype=float), np.array(flags), False).tolist() == values


def test_forecast_serialises_to_the_documented_shape():
    values = PATTERN * 4
    values[8] = 1000.0
    result = forecast_vegetable(make_months(values, outliers={8}), horizon=2, remove_outliers=True)
    body = orjson.loads(orjson.dumps(result))
    assert list(body) == ["model", "trained_on", "backtest", "forecast"]
    assert body["trained_on"] == {
        "first_month": "2020-01",
        "last_month": "2023-12",
        "months": 48,
        "outlier_months_removed": ["2020-09"],
        "data_version": 0,  # set when served: the version of the rows it learnt from
    }
    assert list(body["backtest"]) == ["one_step", "twelve_step", "mase_scale", "mase_naive_lag", "note"]
    assert list(body["backtest"]["one_step"]) == ["origins", "model", "seasonal_naive", "models"]
    assert list(body["backtest"]["one_step"]["model"]) == ["mae", "smape", "mase"]
    assert [list(month) for month in body["forecast"]] == [
        ["year_month", "kilo_sold", "lower_80", "upper_80", "lower_95", "upper_95"]
    ] * 2


@pytest.mark.parametrize("horizon", [0, 25, -1])
def test_horizon_outside_1_to_24_is_rejected(horizon):
    with pytest.raises(ValueError, match=f"horizon must be 1 to 24 months, got {horizon}"):
        forecast_vegetable(make_months(PATTERN), horizon=horizon)


def test_horizon_24_runs_two_years_past_the_last_month():
    result = forecast_vegetable(make_months(PATTERN * 2 + PATTERN[:5]), horizon=24)
    assert (result.forecast[0].year_month, result.forecast[-1].year_month) == ("2022-06", "2024-05")


@pytest.mark.parametrize(
    ("months", "message"),
    [
        pytest.param([("2023-13", 1.0, False)] * 3, "not a month", id="month_13"),
        pytest.param([("2023-1", 1.0, False)] * 3, "not a month", id="one_digit_month"),
        pytest.param([("2023-01", 1.0, False)] * 3, "2023-01 appears twice", id="repeated"),
        pytest.param(
            [("2023-01", 1.0, False), ("2023-02", -1.0, False), ("2023-03", 1.0, False)],
            "2023-02: kilos",
            id="negative",
        ),
        pytest.param(
            [("2023-01", 1.0, False), ("2023-02", float("nan"), False), ("2023-03", 1.0, False)],
            "2023-02: kilos",
            id="nan",
        ),
    ],
)
def test_malformed_months_are_rejected(months, message):
    with pytest.raises(ValueError, match=message):
        forecast_vegetable(months)


def test_without_statsforecast_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "statsforecast", None)
    monkeypatch.setattr(forecast, "_library", forecast._library.__wrapped__)
    with pytest.raises(ForecastUnavailable, match=re.escape("pip install 'vegsales[forecast]'")):
        forecast_vegetable(make_months([1.0, 2.0, 3.0, 4.0]), horizon=2)


def test_the_same_question_is_answered_from_the_cache():
    months = make_months(PATTERN * 2)
    first = forecast_vegetable(months, horizon=3)
    assert forecast_vegetable(list(reversed(months)), horizon=3) is first
    assert forecast_vegetable(months, horizon=4) is not first
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.model = "changed"
