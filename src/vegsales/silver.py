"""Bronze rows -> silver rows: each record checked, its vegetable under one canonical name."""

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .records import FieldError, WeekDate, validate_record
from .rows import BronzeRow, SilverRow
from .vegetables import UnknownVegetable, Vocabulary

RULES_VERSION = 2
"""Bump when the code's reading of records changes (notations, name rules, matching): stores then
re-check their quarantine at start-up, as when the vocabulary file changes."""


@dataclass(frozen=True)
class FeedRules:
    """How the feed's records are read: the vocabulary, and what day a calendar date names."""

    vocabulary: Vocabulary = field(default_factory=Vocabulary.load)
    week_date: WeekDate = "start"

    @property
    def fingerprint(self) -> str:
        """Changes whenever a record could be read differently (week_date is recorded apart)."""
        text = f"{RULES_VERSION}:{self.vocabulary.fingerprint}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(slots=True)
class Accepted:
    """The valid records of a post, in order: each one's place in the post, bronze row and
    canonical vegetable, as three columns (no object per record: a post of 50,000 records would
    otherwise spend a third of its checks in the garbage collector)."""

    indexes: list[int] = field(default_factory=list)
    rows: list[BronzeRow] = field(default_factory=list)
    vegetables: list[str] = field(default_factory=list)

    def add(self, index: int, row: BronzeRow, vegetable: str) -> None:
        self.indexes.append(index)
        self.rows.append(row)
        self.vegetables.append(vegetable)

    def __iter__(self) -> Iterator[tuple[int, BronzeRow, str]]:
        return zip(self.indexes, self.rows, self.vegetables, strict=True)

    def __len__(self) -> int:
        return len(self.rows)


def silver_row(row: BronzeRow, vegetable: str) -> SilverRow:
    """A bronze row under its canonical vegetable name."""
    return SilverRow(row.week_start, vegetable, row.kilo_sold, row.vegetable, row.date)


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    errors: list[FieldError]


def clean_record(item: Any, rules: FeedRules, received_at: str = "") -> tuple[BronzeRow, str] | list[FieldError]:
    """The record as a bronze row with its canonical vegetable, or every reason it is not one."""
    checked = validate_record(item, rules.week_date, received_at)
    if isinstance(checked, list):
        return checked
    vegetable = rules.vocabulary.resolve(checked.vegetable)
    if isinstance(vegetable, UnknownVegetable):
        return [FieldError("vegetable", vegetable.code, vegetable.message)]
    return checked, vegetable


def clean_records(items: Sequence[Any], rules: FeedRules, received_at: str = "") -> tuple[Accepted, list[Rejection]]:
    """Valid records, in order, with their canonical names, and the reasons for the others."""
    accepted, rejected = Accepted(), []
    resolve, week_date = rules.vocabulary.resolve, rules.week_date
    # clean_record() inlined, and Accepted.add(): this loop is the hot path of a post.
    add_index, add_row, add_vegetable = accepted.indexes.append, accepted.rows.append, accepted.vegetables.append
    for index, item in enumerate(items):
        checked = validate_record(item, week_date, received_at)
        if isinstance(checked, list):
            rejected.append(Rejection(index, checked))
        elif isinstance(vegetable := resolve(checked.vegetable), UnknownVegetable):
            rejected.append(Rejection(index, [FieldError("vegetable", vegetable.code, vegetable.message)]))
        else:
            add_index(index)
            add_row(checked)
            add_vegetable(vegetable)
    return accepted, rejected


def silver_sales(bronze: Iterable[BronzeRow], vocabulary: Vocabulary) -> list[SilverRow]:
    """Bronze rows under their canonical vegetable name, sorted by (week start, raw name)."""
    rows = []
    for row in sorted(bronze, key=lambda row: row.key):
        vegetable = vocabulary.resolve(row.vegetable)
        if isinstance(vegetable, UnknownVegetable):
            raise ValueError(vegetable.message)
        rows.append(silver_row(row, vegetable))
    return rows
