"""Data-quality figures: how complete each vegetable's weeks are, and whether its latest week
sits far from its history (a robust z-score, which a single spike in the history cannot hide)."""

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .records import ErrorCode, escaped_surrogates
from .rows import SilverRow

MAD_TO_SIGMA = 1.4826
"""Median absolute deviation x 1.4826 estimates the standard deviation of normal data."""
MIN_HISTORY_WEEKS = 3
NAME_CODES: frozenset[ErrorCode] = frozenset({"bad_name", "dirty_name", "unknown_vegetable", "ambiguous_vegetable"})
"""The codes of a record rejected for its vegetable name (a name that is there): what the
vocabulary or the feed's spelling may be missing."""


@dataclass(frozen=True, slots=True)
class VegetableQuality:
    vegetable: str
    weeks: int
    first_week: str
    last_week: str
    missing_weeks: int
    """7-day slots between the first and the last week with no sale stored."""
    latest_kilos: float
    latest_z: float | None
    """(latest - median) / (1.4826 x MAD) over the earlier weeks; None with under 3 of them, or
    when they are all equal to each other but not to the latest."""


def weekly_kilos(silver: Iterable[SilverRow]) -> dict[str, dict[str, float]]:
    """Kilos per canonical vegetable and week start, every raw spelling summed."""
    weeks: dict[str, dict[str, float]] = defaultdict(dict)
    for row in silver:
        by_week = weeks[row.vegetable]
        by_week[row.week_start] = by_week.get(row.week_start, 0.0) + row.kilo_sold
    return dict(weeks)


def robust_z(latest: float, history: list[float]) -> float | None:
    """How many robust standard deviations `latest` sits above (or below) `history`."""
    if len(history) < MIN_HISTORY_WEEKS:
        return None
    median = statistics.median(history)
    mad = statistics.median(abs(value - median) for value in history)
    if mad == 0:
        return 0.0 if latest == median else None
    return (latest - median) / (MAD_TO_SIGMA * mad)


def missing_weeks(weeks: list[str]) -> int:
    """7-day slots from the first week to the last in which no stored week starts."""
    days = sorted(dt.date.fromisoformat(week).toordinal() for week in weeks)
    covered = {(day - days[0]) // 7 for day in days}
    return (days[-1] - days[0]) // 7 + 1 - len(covered)


def vegetable_quality(silver: Iterable[SilverRow]) -> list[VegetableQuality]:
    """Per canonical vegetable: weeks stored, gaps, and the latest week's robust z-score."""
    figures = []
    for vegetable, by_week in sorted(weekly_kilos(silver).items()):
        weeks = sorted(by_week)
        latest = by_week[weeks[-1]]
        z = robust_z(latest, [by_week[week] for week in weeks[:-1]])
        figures.append(VegetableQuality(vegetable, len(weeks), weeks[0], weeks[-1], missing_weeks(weeks), latest, z))
    return figures


def rejected_names(records: Iterable[tuple[Any, int]], top: int = 10) -> list[tuple[str, int]]:
    """The most often rejected vegetable names, from (record as sent, times received) pairs; a lone
    surrogate in a name is written as its JSON escape (\\ud800), so that the figures always encode."""
    names: Counter[str] = Counter()
    for record, times in records:
        if isinstance(record, dict) and isinstance(name := record.get("vegetable"), str):
            names[escaped_surrogates(name)] += times
    return names.most_common(top)


def rejected_for_its_name(errors: Iterable[dict[str, str]]) -> bool:
    """Whether a quarantined record's reasons (as served: each with its code) include its name."""
    return any(error["code"] in NAME_CODES for error in errors)


def rejected_reasons(
    rejections: Iterable[tuple[Iterable[dict[str, str]], int]], top: int = 10
) -> list[tuple[str, int]]:
    """The most common reasons, by code, from (reasons as served, times received) pairs: a record
    counts once per code it was rejected for, as often as it was received."""
    codes: Counter[str] = Counter()
    for errors, times in rejections:
        for code in {error["code"] for error in errors}:
            codes[code] += times
    return sorted(codes.items(), key=lambda item: (-item[1], item[0]))[:top]
