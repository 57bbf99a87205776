"""Outlier months: far above the usual level of the same vegetable."""

import math
from collections.abc import Mapping

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
