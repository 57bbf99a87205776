"""The CSV file of each table, generated from its declaration (schema.py): header, field parsers,
key; and the table kept in memory.

Each file is a true table: a header row, then one row per key, sorted by key, every line
readable by Python's csv module, pandas or a spreadsheet.
"""

import bisect
import csv
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

from ..rows import HistoryRow
from ..sorted_rows import BULK, Key, RenderedRows, Updated
from .base import StorageError
from .generated import group_function, key_function, values_function
from .schema import (
    BRONZE_SALES,
    DATA_VERSIONS,
    GOLD_SALES,
    REJECTED_SALES,
    ROW_HISTORY,
    SILVER_SALES,
    STORE_META,
    TABLES,
    Table,
    Type,
)

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


PARSERS: dict[Type, Callable[[str], Any]] = {
    Type.TEXT: _text(),
    Type.ORDERED: _text(),
    Type.DATE: _text(_DATE),
    Type.MONTH: _text(_YEAR_MONTH),
    Type.SETTING: str,
    Type.KILOS: _kilos,
    Type.FLAG: _flag,
    Type.COUNT: _count,
    Type.INTEGER: int,
    Type.BIG_INTEGER: int,
    Type.SEQ: int,  # in no file: the CSV store keeps its change feeds in memory
}
"""The type mapper of the CSV files: each column type's parser (a ValueError for a bad field)."""
FILES = {
    BRONZE_SALES.name: "bronze.csv",
    SILVER_SALES.name: "silver.csv",
    GOLD_SALES.name: "gold.csv",
    REJECTED_SALES.name: "rejected.csv",
    STORE_META.name: "meta.csv",
    DATA_VERSIONS.name: "versions.csv",
    ROW_HISTORY.name: "history.csv",
}
"""Each table's file (store_version has none: the CSV store's version lives in memory)."""
COMMIT_RECORD = "commit"
"""The key of meta.csv's commit records (csv_files.py), which are no setting."""


@dataclass(frozen=True)
class TableFormat:
    """A table's CSV file: one column per row column (schema.Table.row_columns), parsed by its type."""

    table: Table
    file_name: str
    header: tuple[str, ...]
    parsers: tuple[Callable[[str], Any], ...]
    make_row: Callable[..., Any]
    """The row of a line's parsed fields: the table's row class, or a dict by column name."""
    key: Callable[[Any], Key]
    index: Callable[[Any], str] | None
    """Rows are also listed per value of `index` (the table's group: a vegetable name) for range reads."""


def file_format(table: Table, as_dicts: bool = False) -> TableFormat:
    """The CSV file of a table; its rows as dicts when `as_dicts` or when it has no row class (a table
    of an older version)."""
    header = tuple(column.name for column in table.row_columns)
    parsers = tuple(PARSERS[column.type] for column in table.row_columns)
    if table.row is None or as_dicts:
        group = itemgetter(table.group) if table.group else None
        make_row = lambda *fields: dict(zip(header, fields, strict=True))  # noqa: E731
        return TableFormat(table, FILES[table.name], header, parsers, make_row, itemgetter(*table.key), group)
    return TableFormat(table, FILES[table.name], header, parsers, table.row, key_function(table), group_function(table))


FORMATS = {name: file_format(table) for name in FILES for table in TABLES if table.name == name}
"""The files of the current schema, by table name, in the order of FILES."""


def csv_line(values: Sequence[Any]) -> str:
    """One line of a CSV file, as Python's csv.writer writes it; a line whose fields need no quotes is
    joined directly, which is several times quicker (the write path renders every changed row)."""
    fields = [
        ("true" if v else "false") if isinstance(v, bool) else repr(v) if isinstance(v, float) else
        str(v) if isinstance(v, int) else v
        for v in values
    ]  # fmt: skip
    try:
        line = ",".join(fields)
    except TypeError:  # a field that is no text (None): the writer's own conversion
        return written_line(fields)
    if not line or '"' in line or "\n" in line or "\r" in line or line.count(",") != len(fields) - 1:
        if len(fields) < 2:  # a lone empty field is written "": the writer's own rule
            return written_line(fields)
        # Quoted where the writer quotes (a field holding , " or its line end \n), quotes doubled: a history
        # line's JSON, quoted by the writer, cost a post 45,000 instructions. Each field is copied once into
        # its quoted form, once into the line (which ends with the last field): a bulk post's JSON is 100 kB.
        *first, last = fields
        quoted = [f'"{field.replace(QUOTE, DOUBLED)}"' if _QUOTED.search(field) else field for field in first]
        quoted.append(f'"{last.replace(QUOTE, DOUBLED)}"\n' if _QUOTED.search(last) else f"{last}\n")
        return ",".join(quoted)
    return line + "\n"


_QUOTED = re.compile('[,"\n]')
QUOTE, DOUBLED = '"', '""'


def written_line(fields: Sequence[Any]) -> str:
    """One line as csv.writer writes it: fields quoted where they must be."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()


def history_line(row: HistoryRow) -> str:
    """A row_history line, as csv_line writes it, with its fields' tests cut to what they can hold: a
    version's rows as a JSON object (quoted, its quotes doubled) after a table name and a part
    number. Two fifths of csv_line's instructions for a one-record post's history line."""
    table, part, rows = row.table_name, row.row_key, row.row_values
    plain = not ("," in table or "," in part or QUOTE in table or QUOTE in part or "\n" in table or "\n" in part)
    if not plain or QUOTE not in rows:  # QUOTE in rows: a JSON object, which the writer quotes
        return csv_line((row.data_version, table, part, rows))
    return f'{row.data_version},{table},{part},"{rows.replace(QUOTE, DOUBLED)}"\n'


if [column.name for column in ROW_HISTORY.row_columns] != ["data_version", "table_name", "row_key", "row_values"]:
    raise RuntimeError("history_line writes row_history's columns in their order: change both together")
LINES: dict[str, Callable[[Any], str]] = {ROW_HISTORY.name: history_line}
"""Tables whose lines are written by a function of their own, not by csv_line."""


class CsvFileRows(RenderedRows[str]):
    """One table in memory: rows with their CSV lines in key order, and an optional index."""

    def __init__(self, table_format: TableFormat):
        values = values_function(table_format.table)
        self.line: Callable[[Any], str] = LINES.get(table_format.table.name) or (lambda row: csv_line(values(row)))
        """A row's line."""
        super().__init__(table_format.key, self.line)
        self.format = table_format
        self.index: dict[str, list[Key]] = {}
        self._groups: dict[str, dict[Any, Any]] = {}
        """Groups' rows by the first value of their key, each built when first asked for (group_rows)."""

    def update(self, rows: Sequence[Any], rendered: Sequence[str] | None = None) -> Updated:
        updated = super().update(rows, rendered)
        replaced = updated.replaced
        group_of = self.format.index
        if group_of:
            key_of, groups = self.format.key, self._groups
            added: dict[str, list[Key]] = {}
            for row, before in zip(rows, replaced, strict=True):
                group, key = group_of(row), key_of(row)
                if before is None or (old := group_of(before)) != group:
                    if before is not None:
                        self.index[old].remove(key)
                        if (cached := groups.get(old)) is not None:
                            del cached[key[0]]
                    added.setdefault(group, []).append(key)
                if (cached := groups.get(group)) is not None:
                    cached[key[0]] = row
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
            group = self.format.index(row)
            self.index[group].remove(key)
            if (cached := self._groups.get(group)) is not None:
                del cached[key[0]]
        return row

    def clear(self) -> None:
        super().clear()
        self.index.clear()
        self._groups.clear()

    def group_rows(self, group: str) -> dict[Any, Any]:
        """One index group's rows by the first value of their key (gold: a vegetable's months by
        year_month), kept up to date from then on: to be read, not changed."""
        rows = self._groups.get(group)
        if rows is None:
            rows = self._groups[group] = {key[0]: self.rows[key] for key in self.index.get(group, [])}
        return rows

    def between(self, group: str, first: str, last: str) -> list[Any]:
        """Rows of one index group whose key starts with a value from first to last."""
        keys = self.index.get(group, [])
        start = bisect.bisect_left(keys, (first,))
        end = bisect.bisect_left(keys, (last + "\x00",))  # past every (last, any name)
        return [self.rows[key] for key in keys[start:end]]

    def render(self) -> str:
        return csv_line(self.format.header) + "".join(self.rendered)


FIELD_LIMIT = 2**31 - 1
"""history.csv holds a version's rows in one field, up to 10,000 of them (a megabyte or more): past
the csv module's default limit of 128 KiB."""


def read_rows(path: Path, table_format: TableFormat, appended: bool = False) -> list[Any]:
    """The rows of one CSV file; BadFile names the file and line of the first problem. A key may
    repeat in a file that holds appended lines (`appended`), and a setting after meta.csv's first
    commit record: its last line is its row. A commit record is no row."""
    rows: dict[Key, Any] = {}
    lines: dict[Key, int] = {}
    records = table_format.file_name == FILES[STORE_META.name]
    reader = None
    try:
        with open(path, encoding="utf-8", newline="") as file:
            if csv.field_size_limit() < FIELD_LIMIT:
                csv.field_size_limit(FIELD_LIMIT)  # the module's one setting, for every reader of this process
            reader = csv.reader(file, strict=True)
            header = next(reader, None)
            if tuple(header or ()) != table_format.header:
                raise BadFile(f"{path}, line 1: header must be {','.join(table_format.header)}, got {header}")
            for values in reader:
                line = reader.line_num
                if len(values) != len(table_format.header):
                    raise BadFile(f"{path}, line {line}: expected {len(table_format.header)} fields, got {len(values)}")
                if records and values[0] == COMMIT_RECORD:
                    appended = True  # the settings after a record were appended with one
                    continue
                try:
                    row = table_format.make_row(
                        *[parse(value) for parse, value in zip(table_format.parsers, values, strict=True)]
                    )
                except ValueError as error:
                    raise BadFile(f"{path}, line {line}: {error}") from None
                key = table_format.key(row)
                if key in lines and not appended:
                    raise BadFile(f"{path}, line {line}: duplicate of line {lines[key]} (same key {key})")
                lines[key] = line
                rows[key] = row
    except csv.Error as error:
        raise BadFile(f"{path}, line {reader.line_num if reader else 1}: {error}") from None
    except UnicodeDecodeError as error:
        raise BadFile(f"{path}: not UTF-8 text ({error})") from None
    except OSError as error:
        raise BadFile(f"cannot read {path}: {error}") from None
    return list(rows.values())
