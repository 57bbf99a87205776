"""The storage interface: every operation the pipeline and the API use, and nothing else."""

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from ..tables import BronzeKey, BronzeRow, GoldRow, SilverRow

Cursor = tuple[int, int]
"""(epoch, seq): epoch changes when the store is emptied, seq grows with every write transaction."""

Row = TypeVar("Row", BronzeRow, GoldRow)


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

    def bronze_kilos(self, keys: Collection[BronzeKey]) -> dict[BronzeKey, float]:
        """Stored kilos of those bronze keys that exist."""
        ...

    def put_bronze(self, rows: Sequence[BronzeRow]) -> None:
        """Insert or replace bronze rows by key."""
        ...

    def put_silver(self, rows: Sequence[SilverRow]) -> None:
        """Insert or replace silver rows by key."""
        ...

    def silver_rows(self, vegetable: str, first_date: str, last_date: str) -> list[SilverRow]:
        """Silver rows of a canonical vegetable with first_date <= date <= last_date,
        sorted by (date, raw_vegetable) in code-point order."""
        ...

    def gold_rows(self, vegetable: str) -> list[GoldRow]:
        """Every gold row of a canonical vegetable."""
        ...

    def put_gold(self, rows: Sequence[GoldRow]) -> None:
        """Insert or replace gold rows by (year_month, vegetable)."""
        ...

    def bronze_rows(self) -> list[BronzeRow]:
        """Every bronze row."""
        ...

    def replace_silver_and_gold(self, silver: Sequence[SilverRow], gold: Sequence[GoldRow]) -> None:
        """Empty silver and gold and write these rows instead; change feeds start over (new epoch)."""
        ...


class Store(Protocol):
    """Bronze, silver and gold tables, written in transactions, read as change feeds.

    Writers are serialised (one write transaction at a time, across processes too), so
    that the incremental gold update of one post never races another's.
    """

    writes_wait_on_io: bool
    """True when a write waits on I/O (files fsynced, a database across the network): the API
    then writes from worker threads, so that reads go on meanwhile and concurrent posts can
    share one commit. False when a write is quicker than the hop to a thread."""

    def init(self) -> None:
        """Create the tables if missing, else empty them."""
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

    def silver_names(self) -> dict[str, str]:
        """Each raw vegetable name in silver, with the canonical name it was cleaned into."""
        ...

    def check(self) -> None:
        """Raise StorageError unless the store can serve requests."""
        ...

    def close(self) -> None:
        """Release files and connections."""
        ...
