"""The test oracle (tests/oracle.py) against values worked out by hand, so that it can be trusted."""

import pytest

from tests import oracle


def first_of_each_month(vegetable: str, kilos: list[float]) -> list[oracle.Week]:
    """A week on the 1st of each month from 2010-01 (wholly in that month), one per value."""
    return [(f"{2010 + i // 12}-{i % 12 + 1:02d}-01", vegetable, value) for i, value in enumerate(kilos)]


@pytest.mark.parametrize(
    ("weeks", "expected"),
    [
        pytest.param([("2020-01-06", "tomato", 70.0)], {("2020-01", "tomato"): 70.0}, id="week_inside_one_month"),
        pytest.param(
            [("2020-01-27", "tomato", 70.0)],
            {("2020-01", "tomato"): 50.0, ("2020-02", "tomato"): 20.0},
            id="week_across_month_end",
        ),
        pytest.param(
            [("2019-12-30", "tomato", 70.0)],
            {("2019-12", "tomato"): 20.0, ("2020-01", "tomato"): 50.0},
            id="week_across_year_end",
        ),
        pytest.param(
            [("2020-02-26", "tomato", 70.0)],
            {("2020-02", "tomato"): 40.0, ("2020-03", "tomato"): 30.0},
            id="leap_february",
        ),
        pytest.param(
            [("2021-02-26", "tomato", 70.0)],
            {("2021-02", "tomato"): 30.0, ("2021-03", "tomato"): 40.0},
            id="february_of_a_common_year",
        ),
        pytest.param(
            [("1900-02-26", "tomato", 70.0)],
            {("1900-02", "tomato"): 30.0, ("1900-03", "tomato"): 40.0},
            id="1900_is_not_a_leap_year",
        ),
        pytest.param(
            [("2020-01-06", "tomato", 70.0), ("2020-01-06", "tomato", 14.0), ("2020-01-13", "pear", 7.0)],
            {("2020-01", "tomato"): 84.0, ("2020-01", "pear"): 7.0},
            id="weeks_of_a_vegetable_in_a_month_are_summed",
        ),
    ],
)
def test_oracle_prorates_a_week_by_its_days_in_each_month(weeks, expected):
    assert oracle.monthly_kilos(weeks) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("weeks", "flagged"),
    [
        pytest.param(first_of_each_month("leek", [100.0]), [], id="one_month_is_never_an_outlier"),
        pytest.param(first_of_each_month("leek", [100.0] * 30), [], id="equal_months_are_not_above_their_mean"),
        # One spike among n - 1 equal months is (n - 1)/√n sample standard deviations above the mean:
        # 5.004 for 27 months, 4.90 for 26 (with the population deviation it would be 5.10 and 5.0).
        pytest.param(
            first_of_each_month("leek", [100.0] * 26 + [100_000.0]), [("2012-03", "leek")], id="spike_among_27_months"
        ),
        pytest.param(first_of_each_month("leek", [100.0] * 25 + [100_000.0]), [], id="spike_among_26_months_is_not"),
        pytest.param(
            first_of_each_month("potato", [1000.0] * 27) + first_of_each_month("garlic", [1.0] * 26 + [50.0]),
            [("2012-03", "garlic")],
            id="each_vegetable_against_its_own_months",
        ),
    ],
)
def test_oracle_flags_months_above_mean_plus_5_sample_deviations(weeks, flagged):
    assert [(month, vegetable) for month, vegetable, _, outlier in oracle.gold(weeks) if outlier] == flagged


def test_oracle_gold_rows_are_sorted_by_month_then_vegetable():
    weeks = [("2020-01-27", "tomato", 70.0), ("2020-01-06", "pear", 7.0)]
    assert oracle.gold(weeks) == [
        ("2020-01", "pear", 7.0, False),
        ("2020-01", "tomato", pytest.approx(50.0), False),
        ("2020-02", "tomato", pytest.approx(20.0), False),
    ]
