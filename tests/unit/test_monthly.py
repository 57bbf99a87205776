import pytest

from vegsales.monthly import month_days, monthly_sales, weeks_overlapping
from vegsales.rows import SilverRow


def silver(date: str, kilos: float, vegetable: str = "tomato", raw: str = "Tomate") -> SilverRow:
    return SilverRow(date, vegetable, kilos, raw, date)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param([silver("2020-01-06", 70)], {("2020-01", "tomato"): 70.0}, id="week_inside_month"),
        pytest.param(
            [silver("2020-01-27", 70)],
            {("2020-01", "tomato"): 50.0, ("2020-02", "tomato"): 20.0},
            id="week_across_months_5_then_2_days",
        ),
        pytest.param(
            [silver("2019-12-30", 70)],
            {("2019-12", "tomato"): 20.0, ("2020-01", "tomato"): 50.0},
            id="week_across_year_end",
        ),
        pytest.param(
            [silver("2020-02-26", 70)],
            {("2020-02", "tomato"): 40.0, ("2020-03", "tomato"): 30.0},
            id="leap_day_4_days_in_february",
        ),
        pytest.param(
            [silver("2021-02-26", 70)],
            {("2021-02", "tomato"): 30.0, ("2021-03", "tomato"): 40.0},
            id="no_leap_day_3_days_in_february",
        ),
        pytest.param(
            [silver("2020-01-06", 70, raw="Tomate"), silver("2020-01-06", 14, raw="tomatto")],
            {("2020-01", "tomato"): 84.0},
            id="two_spellings_summed",
        ),
        pytest.param(
            [silver("2020-01-06", 70), silver("2020-01-13", 7), silver("2020-01-06", 5, "pear", "Poire")],
            {("2020-01", "tomato"): 77.0, ("2020-01", "pear"): 5.0},
            id="weeks_summed_vegetables_apart",
        ),
        pytest.param(
            [silver("2020-03-25", 1)],
            {("2020-03", "tomato"): 1.0},
            id="last_day_of_week_is_last_day_of_month",
        ),
        pytest.param([], {}, id="no_rows"),
    ],
)
def test_monthly_sales_prorates_weeks_by_days(rows, expected):
    result = monthly_sales(rows)
    assert result.keys() == expected.keys()
    for key, kilos in expected.items():
        assert result[key] == pytest.approx(kilos, abs=1e-9)


def test_monthly_sales_keeps_full_precision():
    result = monthly_sales([silver("2020-01-30", 1)])
    assert result[("2020-01", "tomato")] == 2 / 7
    assert result[("2020-02", "tomato")] == 5 / 7


@pytest.mark.parametrize(
    ("week_start", "expected"),
    [
        ("2020-01-06", (("2020-01", 7),)),
        ("2019-12-30", (("2019-12", 2), ("2020-01", 5))),
        ("2020-02-26", (("2020-02", 4), ("2020-03", 3))),
    ],
)
def test_month_days(week_start, expected):
    assert month_days(week_start) == expected


@pytest.mark.parametrize(
    ("year_month", "expected"),
    [
        ("2020-01", ("2019-12-26", "2020-01-31")),
        ("2020-02", ("2020-01-26", "2020-02-29")),
        ("2019-12", ("2019-11-25", "2019-12-31")),
    ],
)
def test_weeks_overlapping_a_month(year_month, expected):
    assert weeks_overlapping(year_month) == expected
