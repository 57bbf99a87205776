"""The raw, weekly and monthly tables as served, declared once: for the current data and for an
earlier version."""

from collections.abc import Callable

from ..json_bodies import JsonBodies
from ..reports import raw_sale_json, weekly_sale_json
from ..rows import BronzeRow, GoldRow, SilverRow
from ..silver import silver_row
from ..storage import Changes, Cursor
from ..vegetables import UnknownVegetable, Vocabulary


def raw_table(changes: Callable[[Cursor | None], Changes[BronzeRow]]) -> JsonBodies[BronzeRow]:
    """Bronze, by (week, raw name)."""
    return JsonBodies(changes, key=lambda row: row.key, render=raw_sale_json)


def weekly_table(changes: Callable[[Cursor | None], Changes[SilverRow]]) -> JsonBodies[SilverRow]:
    """Silver, by (week, vegetable, raw name)."""
    return JsonBodies(changes, key=weekly_key, render=weekly_sale_json)


def weekly_key(row: SilverRow) -> tuple[str, str, str]:
    return (row.week_start, row.vegetable, row.raw_vegetable)


def monthly_table(changes: Callable[[Cursor | None], Changes[GoldRow]]) -> JsonBodies[GoldRow]:
    """Gold, by (month, vegetable), and without its outliers."""
    return JsonBodies(changes, key=lambda row: row.key, variants={"without_outliers": lambda row: not row.is_outlier})


def cleaned(
    bronze_changes: Callable[[Cursor | None], Changes[BronzeRow]], vocabulary: Vocabulary
) -> Callable[[Cursor | None], Changes[SilverRow]]:
    """The change feed of silver, from bronze's: silver is bronze under the names this vocabulary
    reads (the one the stored silver was written with, see pipeline.sync_with_rules)."""

    def changes(since: Cursor | None) -> Changes[SilverRow]:
        bronze = bronze_changes(since)
        rows = []
        for row in bronze.rows:
            vegetable = vocabulary.resolve(row.vegetable)
            if not isinstance(vegetable, UnknownVegetable):
                rows.append(silver_row(row, vegetable))
        return Changes(bronze.cursor, rows, bronze.reset)

    return changes
