"""One typed row per table: bronze (as received), silver (clean names), gold (monthly), the
quarantine of rejected records and the store's settings. How each is stored (column types, keys) is
declared in storage/schema.py.

Plain slotted dataclasses, not frozen: a frozen one costs 3x more to build, and gold rows are
built by the dozen on every post.
"""

import datetime as dt
import time
from dataclasses import dataclass
from functools import lru_cache

BronzeKey = tuple[str, str]
"""(first day of the week, vegetable exactly as sent): the identity of a bronze and a silver row."""


@dataclass(slots=True)
class BronzeRow:
    date: str
    """As sent: a calendar date or a week notation (an integer 202005 is kept as "202005")."""
    vegetable: str
    kilo_sold: float
    week_start: str
    """The first day (ISO date) of the 7-day week the record covers."""
    received_at: str
    """When the stored value was received (UTC, ISO 8601 with microseconds): the later one wins."""

    @property
    def key(self) -> BronzeKey:
        return (self.week_start, self.vegetable)


@dataclass(slots=True)
class SilverRow:
    week_start: str
    vegetable: str
    kilo_sold: float
    raw_vegetable: str
    date: str
    """The date as sent, next to the week it names."""

    @property
    def key(self) -> BronzeKey:
        return (self.week_start, self.raw_vegetable)


@dataclass(slots=True)
class GoldRow:
    year_month: str
    vegetable: str
    kilo_sold: float
    is_outlier: bool

    @property
    def key(self) -> tuple[str, str]:
        return (self.year_month, self.vegetable)


@dataclass(slots=True)
class RejectedRow:
    """A record that was rejected, kept once however often it was sent."""

    record_hash: str
    record: str
    """The record as sent, as JSON text (cut at MAX_RECORD_CHARS when `truncated`)."""
    truncated: bool
    errors: str
    """The reasons, as JSON text: the `errors` list of the post report."""
    first_received: str
    last_received: str
    times: int

    @property
    def key(self) -> str:
        return self.record_hash


@dataclass(slots=True)
class VersionRow:
    """One data version: a committed change of stored sales, and what it changed."""

    data_version: int
    committed_at: str
    """When it was committed, as utc_now() writes it."""
    operation: str
    """What made it: post, replay, delete, init, rules or migrate."""
    request_ids: str
    """The ids of the requests it holds, space-separated (posts that wait together share a commit)."""
    inserted: int
    updated: int
    deleted: int
    """Bronze rows."""
    months_changed: int
    """Gold rows whose kilos or flag changed."""

    @property
    def key(self) -> int:
        return self.data_version


@dataclass(slots=True)
class HistoryRow:
    """A bronze or gold row as one data version left it: what `as_of` reads are rebuilt from."""

    data_version: int
    table_name: str
    """bronze_sales or gold_sales."""
    row_key: str
    """The row's key, its values joined by KEY_SEPARATOR."""
    row_values: str
    """The row's fields as a JSON array, in the row class's order; empty when the version deleted it."""

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.data_version, self.table_name, self.row_key)


KEY_SEPARATOR = "\x1f"
"""Joins a row's key values into HistoryRow.row_key (a unit separator: no stored name holds one)."""


@dataclass(slots=True)
class Setting:
    """One of the store's settings or counters (schema_version, week_date, rules, rejected_dropped)."""

    key: str
    value: str


def utc_now() -> str:
    """Now, as `received_at` holds it (2026-12-06T10:00:00.123456Z): fixed width, so that text
    order is time order."""
    seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
    return f"{_utc_second(seconds)}.{micros:06d}Z"


@lru_cache(maxsize=1)
def _utc_second(seconds: int) -> str:
    # strftime costs three times the rest of utc_now(): once a second is enough.
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
