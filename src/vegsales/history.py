"""The row history: every bronze and gold row each data version wrote or deleted, so that a read
`as_of` a version answers exactly what it answered when that version was current.

Written by every write of sales (`Recorded` collects the rows, `pipeline.record_version` stores them
with the version row), read back by `rows_as_of`, started by `keep_history` where a store has none
yet, and cut back to the retention by `compact`. One rule for every backend: the stores only keep
the rows (storage.schema.ROW_HISTORY)."""

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

import orjson

from .rows import KEY_SEPARATOR, BronzeRow, GoldRow, HistoryRow
from .storage import Store, WriteTransaction
from .storage.schema import BRONZE_SALES, GOLD_SALES

BRONZE, GOLD = BRONZE_SALES.name, GOLD_SALES.name
HISTORY_FROM = "history_from"
"""The setting that holds the oldest data version whose rows are all kept."""
_BRONZE_FIELDS = attrgetter(*(field.name for field in fields(BronzeRow)))
_GOLD_FIELDS = attrgetter(*(field.name for field in fields(GoldRow)))


def entries(
    version: int, bronze: Mapping[Any, BronzeRow | None], gold: Mapping[Any, GoldRow | None]
) -> list[HistoryRow]:
    """The history rows of a version: each row by its key, None for a deleted one."""
    found = [
        HistoryRow(version, BRONZE, KEY_SEPARATOR.join(key), orjson.dumps(_BRONZE_FIELDS(row)).decode() if row else "")
        for key, row in bronze.items()
    ]
    found += [
        HistoryRow(version, GOLD, KEY_SEPARATOR.join(key), orjson.dumps(_GOLD_FIELDS(row)).decode() if row else "")
        for key, row in gold.items()
    ]
    return found


class Recorded:
    """A write transaction that also collects every bronze and gold row written or deleted through
    it, for the row history of its version (see pipeline.record_version). Everything else is the
    transaction's own."""

    def __init__(self, transaction: WriteTransaction):
        self.transaction = transaction
        self.bronze: dict[tuple[str, str], BronzeRow | None] = {}
        self.gold: dict[tuple[str, str], GoldRow | None] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transaction, name)

    def data_version(self) -> int:
        return self.transaction.data_version()

    def put_bronze(self, rows: Sequence[BronzeRow]) -> None:
        self.transaction.put_bronze(rows)
        for row in rows:
            self.bronze[(row.week_start, row.vegetable)] = row

    def put_gold(self, rows: Sequence[GoldRow]) -> None:
        self.transaction.put_gold(rows)
        for row in rows:
            self.gold[(row.year_month, row.vegetable)] = row

    def replace_tables(
        self, bronze: Sequence[BronzeRow] | None, silver: Sequence[Any], gold: Sequence[GoldRow]
    ) -> None:
        old_gold = all_gold(self.transaction)
        old_bronze = {row.key: row for row in self.transaction.bronze_rows()} if bronze is not None else {}
        self.transaction.replace_tables(bronze, silver, gold)
        if bronze is not None:
            _changed(old_bronze, {row.key: row for row in bronze}, self.bronze)
        _changed(old_gold, {row.key: row for row in gold}, self.gold)

    def history(self, version: int) -> list[HistoryRow]:
        return entries(version, self.bronze, self.gold)


def _changed(old: Mapping[Any, Any], new: Mapping[Any, Any], into: dict[Any, Any]) -> None:
    """Into `into`: the rows of `new` that differ from `old`, and None for the keys it lost."""
    into.update((key, None) for key in old.keys() - new.keys())
    into.update((key, row) for key, row in new.items() if old.get(key) != row)


def all_gold(transaction: WriteTransaction) -> dict[tuple[str, str], GoldRow]:
    """Every gold row, by key."""
    vegetables = set(transaction.silver_names().values())
    return {row.key: row for vegetable in vegetables for row in transaction.gold_rows(vegetable).values()}


@dataclass(frozen=True)
class VersionRows:
    """The bronze and gold rows of one data version."""

    version: int
    bronze: list[BronzeRow]
    gold: list[GoldRow]


def rows_as_of(history: Iterable[HistoryRow], version: int) -> VersionRows:
    """The rows as of `version`, from the history of every version up to it (in version order)."""
    latest: dict[tuple[str, str], str] = {}
    for entry in history:
        latest[(entry.table_name, entry.row_key)] = entry.row_values
    bronze = [BronzeRow(*orjson.loads(row)) for (table, _), row in latest.items() if table == BRONZE and row]
    gold = [GoldRow(*orjson.loads(row)) for (table, _), row in latest.items() if table == GOLD and row]
    return VersionRows(version, bronze, gold)


def folded(history: Iterable[HistoryRow]) -> list[HistoryRow]:
    """The latest row of each key (deleted ones left out): the history up to a version, compacted."""
    latest: dict[tuple[str, str], HistoryRow] = {}
    for entry in history:
        latest[(entry.table_name, entry.row_key)] = entry
    return [entry for entry in latest.values() if entry.row_values]


def keep_history(store: Store) -> None:
    """Start the row history of a store that has none (new, or of an older schema): its rows as of
    its current version."""
    if HISTORY_FROM in store.meta():
        return
    with store.write() as transaction:
        if HISTORY_FROM in transaction.meta():
            return
        version = transaction.data_version()
        bronze = {row.key: row for row in transaction.bronze_rows()}
        transaction.put_history(entries(version, bronze, all_gold(transaction)))
        transaction.set_meta(HISTORY_FROM, str(version))


def oldest_kept(store: Store, history_days: int, now: dt.datetime | None = None) -> int:
    """The oldest data version an `as_of` read may name: the one current `history_days` ago (every
    later one is kept), and none before the history starts."""
    start = int(store.meta().get(HISTORY_FROM, "0"))
    at_cutoff = store.version_at(utc_text((now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=history_days)))
    return max(start, at_cutoff or 0)


def compact(store: Store, history_days: int, now: dt.datetime | None = None) -> int:
    """Drop the history of versions past the retention, keeping each row's latest state at the oldest
    version kept; returns how many history rows went. The history is read and folded before the
    write transaction, so that posts wait only for the delete and the insert."""
    start = store.meta().get(HISTORY_FROM)
    upto = oldest_kept(store, history_days, now)
    if start is None or upto <= int(start):
        return 0
    history = store.history(upto)
    kept = folded(history)
    with store.write() as transaction:
        if transaction.meta().get(HISTORY_FROM) != start:  # an init, or another process, came first
            return 0
        transaction.drop_history(upto)
        transaction.put_history(kept)
        transaction.set_meta(HISTORY_FROM, str(upto))
    return len(history) - len(kept)


def utc_text(moment: dt.datetime) -> str:
    """A moment as utc_now() writes it (2026-12-06T10:00:00.000000Z): text order is time order."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
