"""Outlier months: far above the usual level of the same vegetable."""

import math
from collections import defaultdict
from collections.abc import Mapping

from .tables import GoldRow

OUTLIER_SIGMAS = 5.0


def outlier_threshold(kilos: list[float]) -> float:
    """Mean + 5 sample standard deviations (ddof=1); +inf when fewer than 2 values."""
    if len(kilos) < 2:
        return math.inf
    mean = math.fsum(kilos) / len(kilos)
    variance = math.fsum([(value - mean) ** 2 for value in kilos]) / (len(kilos) - 1)  # a list: faster here
    return mean + OUTLIER_SIGMAS * math.sqrt(variance)


def outlier_months(kilos_by_month: Mapping[str, float]) -> set[str]:
    """The months of one vegetable whose kilos exceed its outlier threshold."""
    kilos = list(kilos_by_month.values())
    threshold = outlier_threshold(kilos)
    if not kilos or max(kilos) <= threshold:  # the usual case, at C speed: no outlier
        return set()
    return {year_month for year_month, value in kilos_by_month.items() if value > threshold}


def gold_sales(monthly: Mapping[tuple[str, str], float]) -> list[GoldRow]:
    """Monthly kilos per vegetable, each tagged as an outlier against that vegetable's months.

    The threshold is per vegetable: garlic and potatoes sell on scales far apart, and one
    global mean would flag every potato month and no garlic month.
    """
    by_vegetable: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for (year_month, vegetable), kilos in monthly.items():
        by_vegetable[vegetable].append((year_month, kilos))
    rows: list[GoldRow] = []
    for vegetable, months in by_vegetable.items():
        threshold = outlier_threshold([kilos for _, kilos in months])
        rows.extend(GoldRow(year_month, vegetable, kilos, kilos > threshold) for year_month, kilos in months)
    rows.sort(key=lambda row: row.key)
    return rows
