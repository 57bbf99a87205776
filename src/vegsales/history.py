"""The row history: every bronze, silver and gold row each data version wrote or deleted, so that a read
`as_of` a version answers exactly what it answered when that version was current.

Written by every write of sales (`Recorded` collects the rows, `pipeline.record_version` stores them
with the version row), read back by `rows_as_of`, started by `keep_history` where a store has none
yet, and cut back to the retention by `compact`. One rule for every backend: the stores only keep
the rows (storage.schema.ROW_HISTORY)."""

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import orjson

from .rows import KEY_SEPARATOR, BronzeRow, GoldRow, HistoryRow, SilverRow
from .storage import StorageError, Store, WriteTransaction
from .storage.schema import BRONZE_SALES, GOLD_SALES, SILVER_SALES

BRONZE, SILVER, GOLD = BRONZE_SALES.name, SILVER_SALES.name, GOLD_SALES.name
HISTORY_FROM = "history_from"
"""The setting that holds the oldest data version whose rows are all kept."""
Key = tuple[str, str]


PART_ROWS = 10_000
"""Rows a history row holds at most: a post of a few records writes one history row, a bulk post or
a compaction one per 10,000 rows."""
ALL_TABLES = "sales"
"""The table_name of a history row: its rows are of every table, by table."""


Values = list[Any] | None
"""A history row's state of a row: its fields (a bronze row's followed by the vegetable its name was
read as: its silver row), or None for a row deleted."""


def entries(version: int, changed: Mapping[str, Mapping[str, Values]]) -> list[HistoryRow]:
    """The history rows of a version: its changed rows (by table, then by joined key) as one JSON
    object, in parts of PART_ROWS. One row and one JSON encoding for a post of a few records: a row
    per changed row cost a post a fifth more instructions."""
    if sum(map(len, changed.values())) <= PART_ROWS:  # one part, as nearly every version has
        part = {table: rows for table, rows in changed.items() if rows}
        return [HistoryRow(version, ALL_TABLES, "0", orjson.dumps(part).decode())] if part else []
    return [
        HistoryRow(version, ALL_TABLES, str(number), orjson.dumps(part).decode())
        for number, part in enumerate(_parts(changed))
    ]


def _parts(changed: Mapping[str, Mapping[str, Values]]) -> list[dict[str, Mapping[str, Values]]]:
    """The changed rows in parts of PART_ROWS rows, table after table."""
    parts: list[dict[str, Mapping[str, Values]]] = []
    room = 0
    for table, rows in changed.items():
        items, left = iter(rows.items()), len(rows)
        while left:
            if room == 0:
                parts.append({})
                room = PART_ROWS
            taken = min(left, room)
            parts[-1][table] = rows if taken == len(rows) else dict(islice(items, taken))  # whole: no copy
            room, left = room - taken, left - taken
    return parts


def bronze_values(row: BronzeRow, vegetable: str | None) -> list[Any]:
    """A bronze row's state, with the vegetable it is read as (its silver row; None: none)."""
    return [row.date, row.vegetable, row.kilo_sold, row.week_start, row.received_at, vegetable]


VEGETABLE_AT = 5
"""Where a bronze row's state holds its vegetable."""


def gold_values(row: GoldRow) -> list[Any]:
    return [row.year_month, row.vegetable, row.kilo_sold, row.is_outlier]


class Recorded:
    """A write transaction that also collects every bronze, silver and gold row written or deleted
    through it, as the row history of its version holds them (see pipeline.record_version): by
    joined key, each bronze row's state with its vegetable (silver is bronze under the name its
    vocabulary read), each gold row's, None for a row deleted. Collected as written, not in a pass
    at the end: a pass cost a bulk post 1 % more instructions. Everything else is the transaction's own."""

    def __init__(self, transaction: WriteTransaction):
        self.transaction = transaction
        self.bronze: dict[str, Values] = {}
        self.gold: dict[str, Values] = {}
        self.vegetables: dict[str, str | None] = {}
        """The vegetable of each silver row written, by joined key (None: the row went)."""
        # The reads and writes a post makes, bound once: a lookup that misses the instance first (and
        # falls back to __getattr__) costs an AttributeError each.
        self.bronze_between = transaction.bronze_between
        self.silver_rows = transaction.silver_rows
        self.gold_rows = transaction.gold_rows
        self.put_version = transaction.put_version
        self.put_history = transaction.put_history

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transaction, name)

    def data_version(self) -> int:
        return self.transaction.data_version()

    @property
    def months_changed(self) -> int:
        return len(self.gold)

    def put_bronze(self, rows: Sequence[BronzeRow]) -> None:
        self.transaction.put_bronze(rows)
        bronze, vegetables = self.bronze, self.vegetables
        for row in rows:
            key = f"{row.week_start}{KEY_SEPARATOR}{row.vegetable}"
            bronze[key] = bronze_values(row, vegetables.get(key))

    def put_silver(self, rows: Sequence[SilverRow]) -> None:
        self.transaction.put_silver(rows)
        bronze, vegetables = self.bronze, self.vegetables
        for row in rows:
            key = f"{row.week_start}{KEY_SEPARATOR}{row.raw_vegetable}"
            vegetables[key] = row.vegetable
            if (state := bronze.get(key)) is not None:
                state[VEGETABLE_AT] = row.vegetable

    def put_gold(self, rows: Sequence[GoldRow]) -> None:
        self.transaction.put_gold(rows)
        gold = self.gold
        for row in rows:
            gold[f"{row.year_month}{KEY_SEPARATOR}{row.vegetable}"] = gold_values(row)

    def replace_tables(
        self, bronze: Sequence[BronzeRow] | None, silver: Sequence[SilverRow], gold: Sequence[GoldRow]
    ) -> None:
        transaction, join = self.transaction, KEY_SEPARATOR.join
        old_bronze = {row.key: row for row in transaction.bronze_rows()}
        old_silver = {key: row.vegetable for key, row in all_silver(transaction).items()}
        old_gold = all_gold(transaction)
        transaction.replace_tables(bronze, silver, gold)
        new_bronze = old_bronze if bronze is None else {row.key: row for row in bronze}
        new_silver = {row.key: row.vegetable for row in silver}
        new_gold = {row.key: row for row in gold}
        for key in old_bronze.keys() - new_bronze.keys():
            self.bronze[join(key)] = None
        for key, row in new_bronze.items():
            if old_bronze.get(key) != row or old_silver.get(key) != new_silver.get(key):
                self.bronze[join(key)] = bronze_values(row, new_silver.get(key))
                self.vegetables[join(key)] = new_silver.get(key)
        self.gold.update((join(key), None) for key in old_gold.keys() - new_gold.keys())
        self.gold.update((join(key), gold_values(row)) for key, row in new_gold.items() if old_gold.get(key) != row)

    def history(self, version: int) -> list[HistoryRow]:
        return entries(version, {BRONZE: self.bronze, GOLD: self.gold})


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


def latest_states(history: Iterable[HistoryRow]) -> tuple[dict[str, dict[str, Values]], int]:
    """Each table's rows as the last version of `history` (in version order) left them, by joined key
    (None: deleted); and how many row states the history held."""
    latest: dict[str, dict[str, Values]] = {BRONZE: {}, GOLD: {}}
    states = 0
    for entry in history:
        for table, rows in orjson.loads(entry.row_values).items():
            latest[table].update(rows)
            states += len(rows)
    return latest, states


def rows_as_of(history: Iterable[HistoryRow], version: int) -> VersionRows:
    """The rows as of `version`, from the history of every version up to it (in version order)."""
    latest, _ = latest_states(history)
    bronze, silver = [], []
    for values in latest[BRONZE].values():
        if values is not None:
            date, name, kilos, week, received_at, vegetable = values
            bronze.append(BronzeRow(date, name, kilos, week, received_at))
            if vegetable is not None:
                silver.append(SilverRow(week, vegetable, kilos, name, date))
    gold = [GoldRow(*values) for values in latest[GOLD].values() if values is not None]
    return VersionRows(version, bronze, silver, gold)


def folded(history: Iterable[HistoryRow], version: int) -> tuple[list[HistoryRow], int]:
    """The history up to `version` compacted into the rows it left (deleted ones left out), as the
    history rows of that version; and how many row states that drops."""
    latest, states = latest_states(history)
    kept = {
        table: {key: values for key, values in rows.items() if values is not None} for table, rows in latest.items()
    }
    return entries(version, kept), states - sum(map(len, kept.values()))


def keep_history(store: Store) -> None:
    """Start the row history of a store that has none (new, or of an older schema): its rows as of
    its current version."""
    if HISTORY_FROM in store.meta():
        return
    with store.write() as transaction:
        if HISTORY_FROM in transaction.meta():
            return
        version = transaction.data_version()
        vegetables, join = {key: row.vegetable for key, row in all_silver(transaction).items()}, KEY_SEPARATOR.join
        current = {
            BRONZE: {join(row.key): bronze_values(row, vegetables.get(row.key)) for row in transaction.bronze_rows()},
            GOLD: {join(key): gold_values(row) for key, row in all_gold(transaction).items()},
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
