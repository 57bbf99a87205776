"""The raw and monthly tables as served, declared once: for the current data and for an earlier version."""

from collections.abc import Callable

from ..json_bodies import JsonBodies
from ..reports import raw_sale_json
from ..rows import BronzeRow, GoldRow
from ..storage import Changes, Cursor


def raw_table(changes: Callable[[Cursor | None], Changes[BronzeRow]]) -> JsonBodies[BronzeRow]:
    """Bronze, by (week, raw name)."""
    return JsonBodies(changes, key=lambda row: row.key, render=raw_sale_json)


def monthly_table(changes: Callable[[Cursor | None], Changes[GoldRow]]) -> JsonBodies[GoldRow]:
    """Gold, by (month, vegetable), and without its outliers."""
    return JsonBodies(changes, key=lambda row: row.key, variants={"without_outliers": lambda row: not row.is_outlier})
