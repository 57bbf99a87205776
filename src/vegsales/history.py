"""The row history: every bronze, silver and gold row each data version wrote or deleted, so that a read
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

from .rows import KEY_SEPARATOR, BronzeRow, GoldRow, HistoryRow, SilverRow
from .storage import StorageError, Store, WriteTransaction
from .storage.schema import BRONZE_SALES, GOLD_SALES, SILVER_SALES

BRONZE, SILVER, GOLD = BRONZE_SALES.name, SILVER_SALES.name, GOLD_SALES.name
HISTORY_FROM = "history_from"
"""The setting that holds the oldest data version whose rows are all kept."""
ROW_CLASSES: dict[str, type[Any]] = {BRONZE: BronzeRow, SILVER: SilverRow, GOLD: GoldRow}
_FIELDS = {name: attrgetter(*(field.name for field in fields(row))) for name, row in ROW_CLASSES.items()}
Key = tuple[str, str]


PART_ROWS = 10_000
"""Rows a history row holds at most: a post of a few records writes one history row, a bulk post or
a compaction one per 10,000 rows."""
ALL_TABLES = "sales"
"""The table_name of a history row: its rows are of every table, by table."""


def entries(version: int, changed: Mapping[str, Mapping[Key, Any]]) -> list[HistoryRow]:
    """The history rows of a version: its changed rows as one JSON object, by table then by key (each
    row's fields, null for a deleted one), in parts of PART_ROWS. One row and one JSON encoding for
    a post of a few records: a row per changed row cost a post a fifth more instructions."""
    if sum(map(len, changed.values())) <= PART_ROWS:
        part = {
            table: {KEY_SEPARATOR.join(key): values(row) if row else None for key, row in rows.items()}
            for table, rows in changed.items()
            if rows
            for values in (_FIELDS[table],)
        }
        return [HistoryRow(version, ALL_TABLES, "0", orjson.dumps(part).decode())] if part else []
    parts: list[dict[str, dict[str, Any]]] = [{}]
    for table, rows in changed.items():
        values = _FIELDS[table]
        for key, row in rows.items():
            if sum(map(len, parts[-1].values())) >= PART_ROWS:
                parts.append({})
            parts[-1].setdefault(table, {})[KEY_SEPARATOR.join(key)] = values(row) if row else None
    return [
        HistoryRow(version, ALL_TABLES, str(number), orjson.dumps(part).decode()) for number, part in enumerate(parts)
    ]


class Recorded:
    """A write transaction that also collects every bronze, silver and gold row written or deleted
    through it, for the row history of its version (see pipeline.record_version). Everything else
    is the transaction's own."""

    def __init__(self, transaction: WriteTransaction):
        self.transaction = transaction
        self.changed: dict[str, dict[Key, Any]] = {BRONZE: {}, SILVER: {}, GOLD: {}}

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.transaction, name)
        setattr(self, name, found)  # found here directly next time
        return found

    def data_version(self) -> int:
        return self.transaction.data_version()

    @property
    def months_changed(self) -> int:
        return len(self.changed[GOLD])

    def put_bronze(self, rows: Sequence[BronzeRow]) -> None:
        self.transaction.put_bronze(rows)
        self.changed[BRONZE].update(((row.week_start, row.vegetable), row) for row in rows)

    def put_silver(self, rows: Sequence[SilverRow]) -> None:
        self.transaction.put_silver(rows)
        self.changed[SILVER].update(((row.week_start, row.raw_vegetable), row) for row in rows)

    def put_gold(self, rows: Sequence[GoldRow]) -> None:
        self.transaction.put_gold(rows)
        self.changed[GOLD].update(((row.year_month, row.vegetable), row) for row in rows)

    def replace_tables(
        self, bronze: Sequence[BronzeRow] | None, silver: Sequence[SilverRow], gold: Sequence[GoldRow]
    ) -> None:
        before: dict[str, Mapping[Key, Any]] = {SILVER: all_silver(self.transaction), GOLD: all_gold(self.transaction)}
        if bronze is not None:
            before[BRONZE] = {row.key: row for row in self.transaction.bronze_rows()}
        self.transaction.replace_tables(bronze, silver, gold)
        after: dict[str, Sequence[Any]] = {SILVER: silver, GOLD: gold}
        if bronze is not None:
            after[BRONZE] = bronze
        for table, old in before.items():
            new = {row.key: row for row in after[table]}
            changed = self.changed[table]
            changed.update((key, None) for key in old.keys() - new.keys())
            changed.update((key, row) for key, row in new.items() if old.get(key) != row)

    def history(self, version: int) -> list[HistoryRow]:
        return entries(version, self.changed)


def all_gold(transaction: WriteTransaction) -> dict[Key, GoldRow]:
    """Every gold row, by key."""
    vegetables = set(transaction.silver_names().values())
    return {row.key: row for vegetable in vegetables for row in transaction.gold_rows(vegetable).values()}


def all_silver(transaction: WriteTransaction) -> dict[Key, SilverRow]:
    """Every silver row, by key."""
    vegetables = set(transaction.silver_names().values())
    return {row.key: row for vegetable in vegetables for row in transaction.silver_rows(vegetable, "", "\uffff")}


@dataclass(frozen=True)
class VersionRows:
    """The bronze, silver and gold rows of one data version."""

    version: int
    bronze: list[BronzeRow]
    silver: list[SilverRow]
    gold: list[GoldRow]


def latest_states(history: Iterable[HistoryRow]) -> tuple[dict[str, dict[str, Any]], int]:
    """Each table's rows as the last version of `history` (in version order) left them, by joined key
    (None: deleted); and how many row states the history held."""
    latest: dict[str, dict[str, Any]] = {BRONZE: {}, SILVER: {}, GOLD: {}}
    states = 0
    for entry in history:
        for table, rows in orjson.loads(entry.row_values).items():
            latest[table].update(rows)
            states += len(rows)
    return latest, states


def rows_as_of(history: Iterable[HistoryRow], version: int) -> VersionRows:
    """The rows as of `version`, from the history of every version up to it (in version order)."""
    latest, _ = latest_states(history)
    tables = {
        table: [ROW_CLASSES[table](*values) for values in rows.values() if values is not None]
        for table, rows in latest.items()
    }
    return VersionRows(version, tables[BRONZE], tables[SILVER], tables[GOLD])


def folded(history: Iterable[HistoryRow], version: int) -> tuple[list[HistoryRow], int]:
    """The history up to `version` compacted into the rows it left (deleted ones left out), as the
    history rows of that version; and how many row states that drops."""
    latest, states = latest_states(history)
    parts: list[dict[str, dict[str, Any]]] = [{}]
    for table, states_of_table in latest.items():
        for key, values in states_of_table.items():
            if values is not None:
                if sum(map(len, parts[-1].values())) >= PART_ROWS:
                    parts.append({})
                parts[-1].setdefault(table, {})[key] = values
    compacted = [
        HistoryRow(version, ALL_TABLES, str(number), orjson.dumps(part).decode())
        for number, part in enumerate(parts)
        if part
    ]
    return compacted, states - sum(len(part_rows) for part in parts for part_rows in part.values())


def keep_history(store: Store) -> None:
    """Start the row history of a store that has none (new, or of an older schema): its rows as of
    its current version."""
    if HISTORY_FROM in store.meta():
        return
    with store.write() as transaction:
        if HISTORY_FROM in transaction.meta():
            return
        version = transaction.data_version()
        current: dict[str, Mapping[Key, Any]] = {
            BRONZE: {row.key: row for row in transaction.bronze_rows()},
            SILVER: all_silver(transaction),
            GOLD: all_gold(transaction),
        }
        transaction.put_history(entries(version, current))
        transaction.set_meta(HISTORY_FROM, str(version))


def oldest_kept(store: Store, history_days: int, now: dt.datetime | None = None) -> int:
    """The oldest data version an `as_of` read may name: the one current `history_days` ago (every
    later one is kept), and none before the history starts."""
    started = store.meta().get(HISTORY_FROM)
    if started is None:
        raise StorageError("the row history has not started yet (it starts when the service starts)")
    start = int(started)
    at_cutoff = store.version_at(utc_text((now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=history_days)))
    return max(start, at_cutoff or 0)


def compact(store: Store, history_days: int, now: dt.datetime | None = None) -> int:
    """Drop the history of versions past the retention, keeping each row's latest state at the oldest
    version kept; returns how many row states went. The history is read and folded before the
    write transaction, so that posts wait only for the delete and the insert."""
    start = store.meta().get(HISTORY_FROM)
    if start is None:
        return 0
    upto = oldest_kept(store, history_days, now)
    if upto <= int(start):
        return 0
    kept, dropped = folded(store.history(upto), upto)
    with store.write() as transaction:
        if transaction.meta().get(HISTORY_FROM) != start:  # an init, or another process, came first
            return 0
        transaction.drop_history(upto)
        transaction.put_history(kept)
        transaction.set_meta(HISTORY_FROM, str(upto))
    return dropped


def utc_text(moment: dt.datetime) -> str:
    """A moment as utc_now() writes it (2026-12-06T10:00:00.000000Z): text order is time order."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
