"""Every stored table, declared once: its columns (in the order the SQL stores keep them), key and
indexes. The SQL stores' DDL and statements (sql.py) and the CSV files' headers and parsers
(csv_format.py) are generated from these declarations, each backend mapping the column types to its
own: `SQLITE_TYPES` (sqlite.py), `POSTGRES_TYPES` (postgres.py), `PARSERS` (csv_format.py)."""

from dataclasses import dataclass, fields
from enum import Enum
from operator import attrgetter
from typing import Any

from ..rows import BronzeRow, GoldRow, HistoryRow, RejectedRow, Setting, SilverRow, VersionRow


class Type(Enum):
    """What a column holds, and the type of a row's field of it; each backend maps it to its own type."""

    TEXT = ("text", str)
    """Text that no query compares or sorts."""
    ORDERED = ("ordered text", str)
    """Text compared and sorted in code-point order, as Python compares str (PostgreSQL: COLLATE "C")."""
    DATE = ("date", str)
    """A day, ISO 8601 (2020-01-06), ordered."""
    MONTH = ("month", str)
    """A year and month (2020-01), ordered."""
    SETTING = ("setting", str)
    """Text, the empty text included."""
    KILOS = ("kilos", float)
    """A weight: a finite number >= 0."""
    FLAG = ("flag", bool)
    COUNT = ("count", int)
    """A number of times, >= 1."""
    INTEGER = ("integer", int)
    BIG_INTEGER = ("big integer", int)
    """64 bits."""
    SEQ = ("change seq", int)
    """The seq of the write transaction that last changed the row (64 bits), for the SQL stores'
    change feeds. The CSV store keeps its feeds in memory: a SEQ column is in no row and no CSV file."""

    def __init__(self, label: str, python: type) -> None:
        self.label = label
        self.python = python


@dataclass(frozen=True)
class Column:
    name: str
    type: Type
    check: str | None = None
    """A CHECK constraint of the column, in SQL."""


@dataclass(frozen=True)
class Table:
    """A stored table. `row`, when given, is its row class, whose fields are the columns but SEQ ones,
    in the row's own order (the CSV files' column order), and whose `key` is `key`."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    """The columns that identify a row."""
    group: str | None = None
    """The column whose rows are read together (a vegetable's weeks or months): the first column of
    the SQL primary key, so that they are one range of it, and the CSV store's index."""
    indexes: tuple[tuple[str, ...], ...] = ()
    """Secondary indexes (SQL), by their columns; each is named <table>_<columns>."""
    row: type[Any] | None = None
    in_key_order: bool = True
    """Rows kept in primary-key order where the backend offers it (SQLite: WITHOUT ROWID); not for a
    table of large rows, nor one keyed by an INTEGER PRIMARY KEY."""

    def __post_init__(self) -> None:
        if self.row is not None:
            check_row_class(self)

    @property
    def primary_key(self) -> tuple[str, ...]:
        if self.group is None:
            return self.key
        return (self.group, *(name for name in self.key if name != self.group))

    @property
    def row_columns(self) -> tuple[Column, ...]:
        """The columns but SEQ ones, in the row class's order: a row's fields, a CSV file's columns."""
        stored = {column.name: column for column in self.columns if column.type is not Type.SEQ}
        order = [field.name for field in fields(self.row)] if self.row is not None else list(stored)
        return tuple(stored[name] for name in order)

    @property
    def seq_column(self) -> str | None:
        """The table's SEQ column, if it has one."""
        return next((column.name for column in self.columns if column.type is Type.SEQ), None)

    def index_name(self, columns: tuple[str, ...]) -> str:
        return f"{self.name}_{'_'.join(columns)}"


def check_row_class(table: Table) -> None:
    """TypeError unless the row class of `table` has a field per column but SEQ ones, of the column's
    Python type, and its `key` is the key columns' values."""
    assert table.row is not None
    columns = {column.name: column.type.python for column in table.columns if column.type is not Type.SEQ}
    row_fields = {field.name: field.type for field in fields(table.row)}
    if row_fields != columns:
        raise TypeError(f"{table.row.__name__} has fields {row_fields}, table {table.name} has columns {columns}")
    sample: Any = table.row(*row_fields)  # each field holding its own name
    if sample.key != attrgetter(*table.key)(sample):
        raise TypeError(f"{table.row.__name__}.key is not the key of table {table.name}, {table.key}")


STORE_VERSION = Table(
    "store_version",
    (Column("id", Type.INTEGER, check="id = 1"), Column("epoch", Type.BIG_INTEGER), Column("seq", Type.BIG_INTEGER)),
    key=("id",),
    in_key_order=False,
)
"""One row: the epoch (changed when the store is emptied) and the seq of the last write transaction."""
STORE_META = Table("store_meta", (Column("key", Type.TEXT), Column("value", Type.SETTING)), key=("key",), row=Setting)
BRONZE_SALES = Table(
    "bronze_sales",
    (
        Column("week_start", Type.DATE),
        Column("vegetable", Type.ORDERED),
        Column("date", Type.ORDERED),
        Column("kilo_sold", Type.KILOS),
        Column("received_at", Type.TEXT),
        Column("change_seq", Type.SEQ),
    ),
    key=("week_start", "vegetable"),
    group="vegetable",
    indexes=(("change_seq",),),
    row=BronzeRow,
)
SILVER_SALES = Table(
    "silver_sales",
    (
        Column("week_start", Type.DATE),
        Column("vegetable", Type.ORDERED),
        Column("kilo_sold", Type.KILOS),
        Column("raw_vegetable", Type.ORDERED),
        Column("date", Type.ORDERED),
    ),
    key=("week_start", "raw_vegetable"),
    group="vegetable",
    row=SilverRow,
)
GOLD_SALES = Table(
    "gold_sales",
    (
        Column("year_month", Type.MONTH),
        Column("vegetable", Type.ORDERED),
        Column("kilo_sold", Type.KILOS),
        Column("is_outlier", Type.FLAG),
        Column("change_seq", Type.SEQ),
    ),
    key=("year_month", "vegetable"),
    group="vegetable",
    indexes=(("change_seq",),),
    row=GoldRow,
)
REJECTED_SALES = Table(
    "rejected_sales",
    (
        Column("record_hash", Type.ORDERED),
        Column("record", Type.TEXT),
        Column("truncated", Type.FLAG),
        Column("errors", Type.TEXT),
        Column("first_received", Type.ORDERED),
        Column("last_received", Type.ORDERED),
        Column("times", Type.COUNT),
    ),
    key=("record_hash",),
    indexes=(("last_received",),),
    row=RejectedRow,
    in_key_order=False,
)

DATA_VERSIONS = Table(
    "data_versions",
    (
        Column("data_version", Type.BIG_INTEGER),
        Column("committed_at", Type.ORDERED),
        Column("operation", Type.TEXT),
        Column("request_ids", Type.SETTING),
        Column("inserted", Type.INTEGER),
        Column("updated", Type.INTEGER),
        Column("deleted", Type.INTEGER),
        Column("months_changed", Type.INTEGER),
    ),
    key=("data_version",),
    row=VersionRow,
    in_key_order=False,
)
"""The history: one row per data version, kept from the last init on."""

ROW_HISTORY = Table(
    "row_history",
    (
        Column("data_version", Type.BIG_INTEGER),
        Column("table_name", Type.ORDERED),
        Column("row_key", Type.ORDERED),
        Column("row_values", Type.SETTING),
    ),
    key=("data_version", "table_name", "row_key"),
    row=HistoryRow,
)
"""Every bronze and gold row each data version wrote or deleted, from the oldest version kept on
(the `history_from` setting): keyed by version first, so that a write appends at the end."""

TABLES = (
    STORE_VERSION,
    STORE_META,
    BRONZE_SALES,
    SILVER_SALES,
    GOLD_SALES,
    REJECTED_SALES,
    DATA_VERSIONS,
    ROW_HISTORY,
)
"""Every table of the current schema, in the order they are created."""
SALES_TABLES = (BRONZE_SALES, SILVER_SALES, GOLD_SALES, REJECTED_SALES, DATA_VERSIONS, ROW_HISTORY)
"""The tables of data (emptied by Store.init, counted by Store.table_sizes)."""
