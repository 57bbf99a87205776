"""ingest(store, vocabulary, items): validate, write bronze, bring silver and gold up to date."""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .monthly import monthly_sales, months_of_week, weeks_overlapping
from .outliers import gold_sales, outlier_months
from .records import FieldError, validate_record
from .storage import Store, WriteTransaction
from .tables import BronzeKey, BronzeRow, GoldRow, SilverRow
from .vegetables import UnknownVegetable, Vocabulary, VocabularyError


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    errors: list[FieldError]


@dataclass(slots=True)
class IngestReport:
    """What became of each record of a post: counts add up to `received`."""

    received: int
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def stored_any(self) -> bool:
        return self.received == 0 or len(self.rejected) < self.received


def clean_records(items: Sequence[Any], vocabulary: Vocabulary) -> tuple[list[SilverRow], list[Rejection]]:
    """Valid records as silver rows (raw name kept), in order, and the reasons for the others."""
    accepted, rejected = [], []
    for index, item in enumerate(items):
        checked = validate_record(item)
        if isinstance(checked, list):
            rejected.append(Rejection(index, checked))
            continue
        vegetable = vocabulary.resolve(checked.vegetable)
        if isinstance(vegetable, UnknownVegetable):
            rejected.append(Rejection(index, [FieldError("vegetable", vegetable.message)]))
            continue
        accepted.append(SilverRow(checked.date, vegetable, checked.kilo_sold, checked.vegetable))
    return accepted, rejected


def ingest(store: Store, vocabulary: Vocabulary, items: Sequence[Any], wait: bool = True) -> IngestReport:
    """Store every valid record (the last one wins for a repeated key) and report on each.

    With wait=False, raise StoreBusy (having stored nothing) if another writer holds the store."""
    return ingest_posts(store, vocabulary, [items], wait)[0]


def ingest_posts(
    store: Store, vocabulary: Vocabulary, posts: Sequence[Sequence[Any]], wait: bool = True
) -> list[IngestReport]:
    """Several posts in one transaction, applied in order as if sent one by one: one report each.

    One write lock, one commit and one gold update serve them all."""
    cleaned = [clean_records(items, vocabulary) for items in posts]
    reports = [
        IngestReport(received=len(items), rejected=rejected)
        for items, (_, rejected) in zip(posts, cleaned, strict=True)
    ]
    if not any(accepted for accepted, _ in cleaned):
        return reports
    keyed = [[((row.date, row.raw_vegetable), row) for row in accepted] for accepted, _ in cleaned]
    with store.write(wait) as transaction:
        kilos = transaction.bronze_kilos({key for post in keyed for key, _ in post})
        changed: dict[BronzeKey, SilverRow] = {}
        # Records apply in order, as if posted one by one: counts say what each one did.
        for report, post in zip(reports, keyed, strict=True):
            for key, row in post:
                before = kilos.get(key)
                if before == row.kilo_sold:
                    report.unchanged += 1
                    continue
                if before is None:
                    report.inserted += 1
                else:
                    report.updated += 1
                kilos[key] = row.kilo_sold
                changed[key] = row
        if changed:
            rows = list(changed.values())
            transaction.put_bronze([BronzeRow(r.date, r.raw_vegetable, r.kilo_sold) for r in rows])
            transaction.put_silver(rows)
            refresh_gold(transaction, rows)
    return reports


def refresh_gold(transaction: WriteTransaction, changed: Iterable[SilverRow]) -> None:
    """Recompute the months the changed weeks fall in, then the outlier flags of their vegetables."""
    months_by_vegetable: dict[str, set[str]] = defaultdict(set)
    for row in changed:
        months_by_vegetable[row.vegetable].update(months_of_week(row.date))
    for vegetable, months in months_by_vegetable.items():
        first_date = weeks_overlapping(min(months))[0]
        last_date = weeks_overlapping(max(months))[1]
        recomputed = monthly_sales(transaction.silver_rows(vegetable, first_date, last_date))
        before = {row.year_month: row for row in transaction.gold_rows(vegetable)}
        kilos_by_month = {month: row.kilo_sold for month, row in before.items()}
        kilos_by_month.update({month: kilos for (month, _), kilos in recomputed.items() if month in months})
        outliers = outlier_months(kilos_by_month)
        transaction.put_gold(
            [
                GoldRow(month, vegetable, kilos, month in outliers)
                for month, kilos in kilos_by_month.items()
                if (old := before.get(month)) is None or (old.kilo_sold, old.is_outlier) != (kilos, month in outliers)
            ]
        )


def silver_sales(bronze: Iterable[BronzeRow], vocabulary: Vocabulary) -> list[SilverRow]:
    """Bronze rows under their canonical vegetable name, sorted by (date, raw name)."""
    rows = []
    for row in sorted(bronze, key=lambda row: row.key):
        vegetable = vocabulary.resolve(row.vegetable)
        if isinstance(vegetable, UnknownVegetable):
            raise ValueError(vegetable.message)
        rows.append(SilverRow(row.date, vegetable, row.kilo_sold, row.vegetable))
    return rows


def sync_with_vocabulary(store: Store, vocabulary: Vocabulary) -> list[str]:
    """Rebuild silver and gold if the vocabulary now cleans some stored raw name differently.

    Returns the raw names that changed. Refuses (VocabularyError) when a stored name is no longer
    recognised at all: its records could not be kept in silver.
    """
    changed = {raw: old for raw, old in store.silver_names().items() if vocabulary.resolve(raw) != old}
    lost = sorted(raw for raw in changed if isinstance(vocabulary.resolve(raw), UnknownVegetable))
    if lost:
        raise VocabularyError(
            f"the vocabulary no longer recognises {', '.join(map(repr, lost))}, used by stored records: add them back"
        )
    if changed:
        with store.write() as transaction:
            silver = silver_sales(transaction.bronze_rows(), vocabulary)
            transaction.replace_silver_and_gold(silver, gold_sales(monthly_sales(silver)))
    return sorted(changed)


def gold_from_bronze(bronze: Iterable[BronzeRow], vocabulary: Vocabulary) -> list[GoldRow]:
    """The whole gold table computed from scratch: what the incremental updates must equal."""
    return gold_sales(monthly_sales(silver_sales(bronze, vocabulary)))
