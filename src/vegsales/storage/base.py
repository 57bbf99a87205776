"""The storage interface: every operation the pipeline and the API use, and nothing else."""

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from ..rows import BronzeRow, GoldRow, HistoryRow, RejectedRow, SilverRow, VersionRow
from .schema import SALES_TABLES

Cursor = tuple[int, int]
"""(epoch, data version): epoch changes when the store is emptied or its tables replaced; the data
version grows by one with every transaction that changes sales (bronze, silver, gold) and with
every init, is never reused, and is kept across restarts. Quarantine changes alone make none."""

Row = TypeVar("Row", BronzeRow, SilverRow, GoldRow)

TABLES = tuple(table.name for table in SALES_TABLES)
"""The tables of sales and rejected records, by name (their columns: storage/schema.py)."""


class StorageError(RuntimeError):
    """The store cannot serve the request now (disk full, database down, locked too long)."""


class StoreBusy(Exception):
    """Another writer holds the store, and the caller asked not to wait."""


@dataclass(frozen=True, slots=True)
class Changes(Generic[Row]):
    """Rows written after a cursor; `reset` means `rows` is the whole table instead."""

    cursor: Cursor
    rows: list[Row]
    reset: bool


class WriteTransaction(Protocol):
    """One atomic write: everything done through it is committed together or not at all."""

    def bronze_between(self, vegetables: Collection[str], first_week: str, last_week: str) -> list[BronzeRow]:
        """Bronze rows of those raw names whose week starts between first_week and last_week (inclusive)."""
        ...

    def put_bronze(self, rows: Sequence[BronzeRow]) -> None:
        """Insert or replace bronze rows by key."""
        ...

    def put_silver(self, rows: Sequence[SilverRow]) -> None:
        """Insert or replace silver rows by key."""
        ...

    def silver_rows(self, vegetable: str, first_week: str, last_week: str) -> list[SilverRow]:
        """Silver rows of a canonical vegetable with first_week <= week_start <= last_week,
        sorted by (week_start, raw_vegetable) in code-point order."""
        ...

    def gold_rows(self, vegetable: str) -> Mapping[str, GoldRow]:
        """Every gold row of a canonical vegetable, by year_month (read only: it may be the store's cache)."""
        ...

    def put_gold(self, rows: Sequence[GoldRow]) -> None:
        """Insert or replace gold rows by (year_month, vegetable)."""
        ...

    def bronze_rows(self) -> list[BronzeRow]:
        """Every bronze row."""
        ...

    def silver_names(self) -> dict[str, str]:
        """Each raw vegetable name in silver, with the canonical name it was cleaned into."""
        ...

    def replace_tables(
        self, bronze: Sequence[BronzeRow] | None, silver: Sequence[SilverRow], gold: Sequence[GoldRow]
    ) -> None:
        """Empty silver and gold, and bronze when rows are given for it, and write these rows
        instead; change feeds start over (new epoch)."""
        ...

    def rejected_rows(self, hashes: Collection[str]) -> dict[str, RejectedRow]:
        """The quarantined records among those hashes."""
        ...

    def all_rejected(self) -> list[RejectedRow]:
        """Every quarantined record."""
        ...

    def put_rejected(self, rows: Sequence[RejectedRow]) -> None:
        """Insert or replace quarantined records by hash."""
        ...

    def delete_rejected(self, hashes: Collection[str]) -> None:
        """Take those records out of quarantine."""
        ...

    def trim_rejected(self, keep: int) -> int:
        """Delete all but the `keep` most recently received records (by last_received, then hash);
        return how many were deleted."""
        ...

    def meta(self) -> dict[str, str]:
        """The store's settings and counters (schema_version, week_date, rules, rejected_dropped)."""
        ...

    def data_version(self) -> int:
        """The data version at which this transaction's changes are visible: a new one once it has
        changed sales, else the current one."""
        ...

    def put_version(self, row: VersionRow) -> None:
        """Record a data version in the history."""
        ...

    def put_history(self, rows: Sequence[HistoryRow]) -> None:
        """Insert or replace rows of the row history by key, each key once (history.entries writes one
        row a part); makes no data version."""
        ...

    def drop_history(self, upto: int) -> None:
        """Delete the row history of versions up to `upto`, and the data versions before it."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Set one setting or counter."""
        ...


class Store(Protocol):
    """Bronze, silver and gold tables and the quarantine, written in transactions, read as change feeds.

    Writers are serialised (one write transaction at a time, across processes too), so
    that the incremental gold update of one post never races another's.
    """

    writes_wait_on_io: bool
    """True when a write waits on I/O (files fsynced, a database across the network): the API
    then writes from worker threads, so that reads go on meanwhile and concurrent posts can
    share one commit. False when a write is quicker than the hop to a thread."""

    reads_wait_on_io: bool
    """True when a read waits on I/O (a database across the network): the API then reads from worker
    threads, so that the event loop goes on meanwhile."""

    def init(self) -> None:
        """Create the tables if missing, else empty them (and the count of dropped rejections)."""
        ...

    def write(self, wait: bool = True) -> AbstractContextManager[WriteTransaction]:
        """A write transaction: commits when the block ends, rolls back if it raises. With
        wait=False, raise StoreBusy at once instead of waiting for another writer to finish."""
        ...

    def bronze_changes(self, since: Cursor | None) -> Changes[BronzeRow]:
        """Bronze rows written after `since` (all of them when `since` is None or stale)."""
        ...

    def gold_changes(self, since: Cursor | None) -> Changes[GoldRow]:
        """Gold rows written after `since` (all of them when `since` is None or stale)."""
        ...

    def rejected_sales(self, limit: int) -> tuple[list[RejectedRow], int]:
        """The `limit` most recently received quarantined records, newest first, and how many there are."""
        ...

    def meta(self) -> dict[str, str]:
        """The store's settings and counters, as WriteTransaction.meta()."""
        ...

    def data_version(self) -> int:
        """The current data version (see Cursor)."""
        ...

    def versions(self, limit: int) -> list[VersionRow]:
        """The `limit` latest data versions of the history, the newest first."""
        ...

    def version_at(self, moment: str) -> int | None:
        """The latest data version of the history committed at or before `moment` (as utc_now()
        writes it), None when there is none."""
        ...

    def history(self, upto: int) -> list[HistoryRow]:
        """The row history of versions up to `upto`, in version order."""
        ...

    def table_sizes(self) -> dict[str, int]:
        """Rows in each table, by name (TABLES)."""
        ...

    def check(self) -> None:
        """Raise StorageError unless the store can serve requests."""
        ...

    def close(self) -> None:
        """Release files and connections."""
        ...
