"""Bronze rows -> silver rows: each record checked, its vegetable under one canonical name."""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .records import FieldError, WeekDate, validate_record
from .tables import BronzeRow, SilverRow
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


class Accepted(NamedTuple):
    index: int
    bronze: BronzeRow
    vegetable: str
    """The canonical name."""

    def silver(self) -> SilverRow:
        row = self.bronze
        return SilverRow(row.week_start, self.vegetable, row.kilo_sold, row.vegetable, row.date)


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
        return [FieldError("vegetable", vegetable.message)]
    return checked, vegetable


def clean_records(
    items: Sequence[Any], rules: FeedRules, received_at: str = ""
) -> tuple[list[Accepted], list[Rejection]]:
    """Valid records, in order, with their canonical names, and the reasons for the others."""
    accepted, rejected = [], []
    for index, item in enumerate(items):
        checked = clean_record(item, rules, received_at)
        if isinstance(checked, list):
            rejected.append(Rejection(index, checked))
        else:
            accepted.append(Accepted(index, *checked))
    return accepted, rejected


def silver_sales(bronze: Iterable[BronzeRow], vocabulary: Vocabulary) -> list[SilverRow]:
    """Bronze rows under their canonical vegetable name, sorted by (week start, raw name)."""
    rows = []
    for row in sorted(bronze, key=lambda row: row.key):
        vegetable = vocabulary.resolve(row.vegetable)
        if isinstance(vegetable, UnknownVegetable):
            raise ValueError(vegetable.message)
        rows.append(SilverRow(row.week_start, vegetable, row.kilo_sold, row.vegetable, row.date))
    return rows
