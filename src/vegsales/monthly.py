"""Weekly sales prorated into calendar months by days."""

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache

from .rows import SilverRow

WEEK_DAYS = 7


@lru_cache(maxsize=16_384)
def month_days(week_start: str) -> tuple[tuple[str, int], ...]:
    """(year_month, days of the week in that month) for the 7 days starting at `week_start`."""
    first = dt.date.fromisoformat(week_start)
    days: dict[str, int] = {}
    for offset in range(WEEK_DAYS):
        day = first + dt.timedelta(days=offset)
        year_month = f"{day.year:04d}-{day.month:02d}"
        days[year_month] = days.get(year_month, 0) + 1
    return tuple(days.items())


def months_of_week(week_start: str) -> list[str]:
    """The one or two calendar months a week starting at `week_start` falls in."""
    return [year_month for year_month, _ in month_days(week_start)]


@lru_cache(maxsize=4096)
def weeks_overlapping(year_month: str) -> tuple[str, str]:
    """First and last possible start date of a week with at least one day in `year_month`."""
    year, month = int(year_month[:4]), int(year_month[5:7])
    first_day = dt.date(year, month, 1)
    next_month = dt.date(year + month // 12, month % 12 + 1, 1)
    earliest = first_day - dt.timedelta(days=WEEK_DAYS - 1)
    return earliest.isoformat(), (next_month - dt.timedelta(days=1)).isoformat()


def monthly_sales(silver_rows: Iterable[SilverRow]) -> dict[tuple[str, str], float]:
    """Monthly kilos per (year_month, vegetable): each week split n/7 by the days in each month.

    Rows are summed in the order given; give them sorted by (week_start, raw_vegetable) so that a
    month recomputed alone comes out bit-for-bit equal to a full recomputation.
    """
    totals: dict[tuple[str, str], float] = {}
    for row in silver_rows:
        for year_month, days in month_days(row.week_start):
            key = (year_month, row.vegetable)
            totals[key] = totals.get(key, 0.0) + row.kilo_sold * days / WEEK_DAYS
    return totals
