"""The gold table: monthly kilos per vegetable, each month tagged against that vegetable's usual level."""

from collections import defaultdict
from collections.abc import Mapping

from .outliers import outlier_threshold
from .rows import GoldRow


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
