"""The CSV file format of each table: header, field parsers, key, and the table kept in memory.

Each file is a true table: a header row, then one row per key, sorted by key, every line
readable by Python's csv module, pandas or a spreadsheet.
"""

import bisect
import csv
import io
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..sorted_rows import BULK, Key, RenderedRows, Updated
from ..tables import BronzeRow, GoldRow, RejectedRow, SilverRow
from .base import StorageError

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_YEAR_MONTH = re.compile(r"\d{4}-\d{2}")


class BadFile(StorageError):
    """A CSV file that cannot be loaded as it is."""


def _kilos(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"kilo_sold must be a finite number >= 0, got {text!r}")
    return value


def _text(pattern: re.Pattern[str] | None = None) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not text or (pattern is not None and not pattern.fullmatch(text)):
            raise ValueError(f"unexpected value {text!r}")
        return text

    return parse


def _flag(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(f"expected true or false, got {text!r}")
    return text == "true"


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"expected a count >= 1, got {text!r}")
    return value


@dataclass(slots=True)
class Setting:
    """One row of meta.csv: a store setting or counter."""

    key: str
    value: str


@dataclass(frozen=True)
class TableFormat:
    file_name: str
    header: tuple[str, ...]
    row_type: type
    parsers: tuple[Callable[[str], Any], ...]
    key: Callable[[Any], Key]
    index: Callable[[Any], str] | None = None
    """Rows are also listed per value of `index` (a vegetable name) for range reads."""


BRONZE = TableFormat(
    "bronze.csv",
    ("date", "vegetable", "kilo_sold", "week_start", "received_at"),
    BronzeRow,
    (_text(), _text(), _kilos, _text(_DATE), _text()),
    lambda r: r.key,
    index=lambda r: r.vegetable,
)
SILVER = TableFormat(
    "silver.csv",
    ("week_start", "vegetable", "kilo_sold", "raw_vegetable", "date"),
    SilverRow,
    (_text(_DATE), _text(), _kilos, _text(), _text()),
    lambda r: r.key,
    index=lambda r: r.vegetable,
)
GOLD = TableFormat(
    "gold.csv",
    ("year_month", "vegetable", "kilo_sold", "is_outlier"),
    GoldRow,
    (_text(_YEAR_MONTH), _text(), _kilos, _flag),
    lambda r: r.key,
    index=lambda r: r.vegetable,
)
REJECTED = TableFormat(
    "rejected.csv",
    ("record_hash", "record", "truncated", "errors", "first_received", "last_received", "times"),
    RejectedRow,
    (_text(), _text(), _flag, _text(), _text(), _text(), _count),
    lambda r: r.key,
)
META = TableFormat("meta.csv", ("key", "value"), Setting, (_text(), str), lambda r: r.key)
FORMATS = (BRONZE, SILVER, GOLD, REJECTED, META)

# Version 1: bronze and silver keyed by the date as sent (always the first day of the week).
BRONZE_V1 = TableFormat("bronze.csv", ("date", "vegetable", "kilo_sold"), tuple, (_text(_DATE), _text(), _kilos), tuple)
SILVER_V1 = TableFormat(
    "silver.csv",
    ("date", "vegetable", "kilo_sold", "raw_vegetable"),
    tuple,
    (_text(_DATE), _text(), _kilos, _text()),
    tuple,
)


def csv_line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        [("true" if v else "false") if isinstance(v, bool) else repr(v) if isinstance(v, float) else v for v in values]
    )
    return buffer.getvalue()


class Table(RenderedRows[str]):
    """One table in memory: rows with their CSV lines in key order, and an optional index."""

    def __init__(self, table_format: TableFormat):
        super().__init__(table_format.key, lambda row: csv_line([getattr(row, f) for f in table_format.header]))
        self.format = table_format
        self.index: dict[str, list[Key]] = {}

    def update(self, rows: Sequence[Any], rendered: Sequence[str] | None = None) -> Updated:
        updated = super().update(rows, rendered)
        replaced = updated.replaced
        group_of = self.format.index
        if group_of:
            added: dict[str, list[Key]] = {}
            for row, before in zip(rows, replaced, strict=True):
                if before is None or group_of(before) != group_of(row):
                    if before is not None:
                        self.index[group_of(before)].remove(self.format.key(row))
                    added.setdefault(group_of(row), []).append(self.format.key(row))
            for group, keys in added.items():
                members = self.index.setdefault(group, [])
                if len(keys) > BULK:
                    members.extend(keys)
                    members.sort()
                else:
                    for key in keys:
                        bisect.insort(members, key)
        return updated

    def remove(self, key: Key) -> Any:
        row = super().remove(key)
        if self.format.index:
            self.index[self.format.index(row)].remove(key)
        return row

    def clear(self) -> None:
        super().clear()
        self.index.clear()

    def between(self, group: str, first: str, last: str) -> list[Any]:
        """Rows of one index group whose key starts with a value from first to last."""
        keys = self.index.get(group, [])
        start = bisect.bisect_left(keys, (first,))
        end = bisect.bisect_left(keys, (last + "\x00",))  # past every (last, any name)
        return [self.rows[key] for key in keys[start:end]]

    def render(self) -> str:
        return csv_line(self.format.header) + "".join(self.rendered)


def read_rows(path: Path, table_format: TableFormat) -> Iterator[Any]:
    """The rows of one CSV file; BadFile names the file and line of the first problem."""
    seen: dict[Key, int] = {}
    reader = None
    try:
        with open(path, encoding="utf-8", newline="") as file:
            reader = csv.reader(file, strict=True)
            header = next(reader, None)
            if tuple(header or ()) != table_format.header:
                raise BadFile(f"{path}, line 1: header must be {','.join(table_format.header)}, got {header}")
            for values in reader:
                line = reader.line_num
                if len(values) != len(table_format.header):
                    raise BadFile(f"{path}, line {line}: expected {len(table_format.header)} fields, got {len(values)}")
                try:
                    fields = [parse(value) for parse, value in zip(table_format.parsers, values, strict=True)]
                    row = (
                        table_format.row_type(fields)
                        if table_format.row_type is tuple
                        else table_format.row_type(*fields)
                    )
                except ValueError as error:
                    raise BadFile(f"{path}, line {line}: {error}") from None
                key = table_format.key(row)
                if key in seen:
                    raise BadFile(f"{path}, line {line}: duplicate of line {seen[key]} (same key {key})")
                seen[key] = line
                yield row
    except csv.Error as error:
        raise BadFile(f"{path}, line {reader.line_num if reader else 1}: {error}") from None
    except UnicodeDecodeError as error:
        raise BadFile(f"{path}: not UTF-8 text ({error})") from None
    except OSError as error:
        raise BadFile(f"cannot read {path}: {error}") from None


def header_of(path: Path) -> tuple[str, ...]:
    """The header row of a CSV file (empty if it has none or cannot be read)."""
    try:
        with open(path, encoding="utf-8", newline="") as file:
            return tuple(next(csv.reader(file), ()))
    except (OSError, UnicodeDecodeError, csv.Error):
        return ()
