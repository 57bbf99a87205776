import math

import pytest

from vegsales.gold import gold_sales
from vegsales.outliers import outlier_threshold
from vegsales.rows import GoldRow


def months(count: int, start_year: int = 2020) -> list[str]:
    return [f"{start_year + i // 12}-{i % 12 + 1:02d}" for i in range(count)]


@pytest.mark.parametrize(
    ("kilos", "expected"),
    [
        pytest.param([1, 2, 3, 4, 5], 3 + 5 * math.sqrt(2.5), id="sample_std_ddof_1"),
        pytest.param([10, 10, 10], 10.0, id="constant_values"),
        pytest.param([42], math.inf, id="one_month_has_no_threshold"),
        pytest.param([], math.inf, id="no_month"),
    ],
)
def test_outlier_threshold_is_mean_plus_five_sample_std(kilos, expected):
    assert outlier_threshold(kilos) == pytest.approx(expected, rel=1e-12)


def test_spike_among_48_months_is_the_only_outlier():
    kilos = [100.0 + (i % 5) for i in range(48)]
    kilos[30] = 2000.0
    monthly = {(ym, "tomato"): k for ym, k in zip(months(48), kilos, strict=True)}
    flagged = [row.year_month for row in gold_sales(monthly) if row.is_outlier]
    assert flagged == ["2022-07"]


def test_outliers_are_judged_per_vegetable_not_globally():
    # Garlic sells 10 kg a month, potatoes 10,000: a garlic spike of 100 kg is 7x its usual
    # level, yet far below any global threshold; it must be caught against garlic alone.
    monthly = {(ym, "garlic"): 10.0 for ym in months(48)}
    monthly[("2021-06", "garlic")] = 100.0
    monthly.update({(ym, "potato"): 10_000.0 + (i % 3) * 500 for i, ym in enumerate(months(48))})
    rows = gold_sales(monthly)
    assert [(r.year_month, r.vegetable) for r in rows if r.is_outlier] == [("2021-06", "garlic")]
    everything = list(monthly.values())
    assert outlier_threshold(everything) > 100.0


def test_a_vegetable_with_one_month_has_no_outlier():
    rows = gold_sales({("2020-01", "leek"): 1e9, ("2020-01", "pear"): 5.0, ("2020-02", "pear"): 6.0})
    assert rows == [
        GoldRow("2020-01", "leek", 1e9, False),
        GoldRow("2020-01", "pear", 5.0, False),
        GoldRow("2020-02", "pear", 6.0, False),
    ]


def test_a_value_equal_to_the_threshold_is_not_an_outlier():
    rows = gold_sales({("2020-01", "leek"): 3.0, ("2020-02", "leek"): 3.0})
    assert [row.is_outlier for row in rows] == [False, False]


def test_gold_rows_are_sorted_by_month_then_vegetable():
    monthly = {("2020-02", "apple"): 1.0, ("2020-01", "pear"): 2.0, ("2020-01", "apple"): 3.0}
    assert [row.key for row in gold_sales(monthly)] == [
        ("2020-01", "apple"),
        ("2020-01", "pear"),
        ("2020-02", "apple"),
    ]
