"""The gold table recomputed the slow, obvious way, to check the service against.

The oracle uses the standard library only, nothing from vegsales: each week is walked day by day,
a seventh of its kilos going to the calendar month of each day, and a month is an outlier when its
kilos are strictly above mean + 5 sample standard deviations of its vegetable's months (none with
fewer than 2 months). tests/unit/test_oracle.py checks it against values worked out by hand.
"""

import datetime as dt
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import pytest

Week = tuple[str, str, float]
"""(first day of the week as YYYY-MM-DD, canonical vegetable, kilos sold that week)"""
Month = tuple[str, str, float, bool]
"""(year_month, vegetable, kilo_sold, is_outlier), as a gold row"""


def monthly_kilos(weeks: Iterable[Week]) -> dict[tuple[str, str], float]:
    """Kilos per (year_month, vegetable): kilos / 7 to the month of each of the week's 7 days."""
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for first_day, vegetable, kilos in weeks:
        for offset in range(7):
            day = dt.date.fromisoformat(first_day) + dt.timedelta(days=offset)
            totals[day.isoformat()[:7], vegetable] += kilos / 7
    return dict(totals)


def gold(weeks: Iterable[Week]) -> list[Month]:
    """Gold rows sorted by (year_month, vegetable), outlier months flagged per vegetable."""
    totals = monthly_kilos(weeks)
    months_of: dict[str, list[float]] = defaultdict(list)
    for (_, vegetable), kilos in totals.items():
        months_of[vegetable].append(kilos)
    threshold = {
        vegetable: statistics.mean(kilos) + 5 * statistics.stdev(kilos) if len(kilos) >= 2 else math.inf
        for vegetable, kilos in months_of.items()
    }
    return sorted(
        (month, vegetable, kilos, kilos > threshold[vegetable]) for (month, vegetable), kilos in totals.items()
    )


def assert_gold_equals(rows: Iterable[Any], expected: list[Month]) -> None:
    """Gold rows (with year_month, vegetable, kilo_sold, is_outlier) equal `expected`: the same months
    and flags, and kilos within 1e-9 relative. The service sums in another order (n/7 of a week at
    once) and rounds nothing, so only the last bits of a sum may differ."""
    got = [(row.year_month, row.vegetable, row.kilo_sold, row.is_outlier) for row in rows]
    assert [(m, v, outlier) for m, v, _, outlier in got] == [(m, v, outlier) for m, v, _, outlier in expected]
    assert [kilos for _, _, kilos, _ in got] == pytest.approx([kilos for _, _, kilos, _ in expected], rel=1e-9)
