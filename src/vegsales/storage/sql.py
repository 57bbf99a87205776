"""What the SQL backends share: their DDL and statements, generated from the schema (schema.py) for
each dialect once, at import; the creation and migration of a store; and the reads, quarantine and
settings of a write transaction."""

import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter, itemgetter
from typing import Any, ClassVar

from ..rows import BronzeRow, GoldRow, HistoryRow, RejectedRow, SilverRow, VersionRow, utc_now
from . import migrations
from .base import Changes, Cursor, Row
from .generated import rows_reader
from .migrations import NOW, SCHEMA_VERSION
from .schema import (
    BRONZE_SALES,
    DATA_VERSIONS,
    GOLD_SALES,
    REJECTED_SALES,
    ROW_HISTORY,
    SILVER_SALES,
    STORE_META,
    TABLES,
    Column,
    Table,
    Type,
)

Statement = tuple[str, Sequence[Any]]
CHUNK = 500
"""Keys per `IN (...)` query: one statement per chunk instead of one per key."""


@dataclass(frozen=True)
class Dialect:
    """What the statements generated from the schema need to know of one SQL database."""

    types: Mapping[Type, str]
    """The type mapper: each column type's SQL type."""
    param: str
    """The driver's placeholder."""
    in_key_order: str
    """What follows `CREATE TABLE t (...)` for a table kept in key order."""
    flags_as_integers: bool
    """A FLAG column reads back as 0 or 1, not as a bool."""
    table_exists: str
    """A query of one value, true when the table its parameter names exists."""
    rename_key: str = ""
    """A statement that frees the name of a renamed table's primary key (`{table}`: the old name,
    `{old}`: the new one) for the table created in its place."""

    def __post_init__(self) -> None:
        if missing := set(Type) - set(self.types):
            raise ValueError(f"no SQL type for {sorted(kind.label for kind in missing)}")


# -- DDL -------------------------------------------------------------------------------------


def create_table(table: Table, dialect: Dialect, if_missing: bool = False) -> str:
    key = table.primary_key
    lines = [column_definition(table, column, dialect) for column in table.columns]
    if len(key) > 1:
        lines.append(f"PRIMARY KEY ({', '.join(key)})")
    create = "CREATE TABLE IF NOT EXISTS" if if_missing else "CREATE TABLE"
    body = ",\n    ".join(lines)
    return f"{create} {table.name} (\n    {body}\n){dialect.in_key_order if table.in_key_order else ''}"


def column_definition(table: Table, column: Column, dialect: Dialect) -> str:
    constraint = "PRIMARY KEY" if table.primary_key == (column.name,) else "NOT NULL"
    check = f" CHECK ({column.check})" if column.check else ""
    return f"{column.name} {dialect.types[column.type]} {constraint}{check}"


def create_indexes(table: Table, if_missing: bool = False) -> list[str]:
    create = "CREATE INDEX IF NOT EXISTS" if if_missing else "CREATE INDEX"
    return [f"{create} {table.index_name(columns)} ON {table.name} ({', '.join(columns)})" for columns in table.indexes]


def schema(dialect: Dialect) -> list[str]:
    """The current schema, every table and index created if missing, with its version."""
    statements = []
    for table in TABLES:
        statements += [create_table(table, dialect, if_missing=True), *create_indexes(table, if_missing=True)]
    statements.append(
        f"INSERT INTO store_meta VALUES ('schema_version', '{SCHEMA_VERSION}') ON CONFLICT (key) DO NOTHING"
    )
    return statements


def migration(version: int, dialect: Dialect) -> list[Statement]:
    """The statements that bring a store of `version` up to the current schema, one version at a time."""
    statements: list[Statement] = []
    now = utc_now()
    for start, step in migrations.steps_from(version):
        tables = migrations.tables_at(start + 1)
        for name in step.created:
            statements += [(ddl, ()) for ddl in [create_table(tables[name], dialect), *create_indexes(tables[name])]]
        for name, sources in step.rebuilt.items():
            statements += rebuilt(tables[name], f"{name}_v{start}", sources, dialect, now)
        set_setting = upsert_values(STORE_META, dialect)
        statements += [(set_setting, item) for item in {**step.settings, "schema_version": str(start + 1)}.items()]
    return statements


def rebuilt(
    table: Table, old: str, sources: Mapping[str, str | migrations.Source], dialect: Dialect, now: str
) -> list[Statement]:
    """The table renamed `old`, created again in its new shape, its rows copied over (each column from
    the old column of the same name, or as `sources` says), `old` dropped."""
    names = [column.name for column in table.columns]
    values = [sources.get(name, name) for name in names]
    selected = ", ".join(dialect.param if value is NOW else str(value) for value in values)
    return [
        (f"ALTER TABLE {table.name} RENAME TO {old}", ()),
        *([(dialect.rename_key.format(table=table.name, old=old), ())] if dialect.rename_key else []),
        (create_table(table, dialect), ()),
        (f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {selected} FROM {old}", [now] * values.count(NOW)),
        (f"DROP TABLE {old}", ()),
        *((ddl, ()) for ddl in create_indexes(table)),
    ]


def create_or_migrate(connection: Any, dialect: Dialect) -> int | None:
    """Create the tables, or bring an older schema up to this one, in the caller's transaction on this
    DB-API style connection; the version the store had (None: a new store). StorageError for a store
    of a newer version."""

    def has_table(name: str) -> bool:
        return bool(connection.execute(dialect.table_exists, (name,)).fetchone()[0])

    version = migrations.stored_version(has_table, lambda: dict(connection.execute(select(STORE_META)).fetchall()))
    statements = [*migration(version or SCHEMA_VERSION, dialect), *((ddl, ()) for ddl in schema(dialect))]
    # A random first epoch: a recreated database never reuses an old ETag.
    first_version = f"INSERT INTO store_version VALUES (1, {dialect.param}, 0) ON CONFLICT (id) DO NOTHING"
    for statement, parameters in [*statements, (first_version, (secrets.randbits(52),))]:
        connection.execute(statement, parameters)
    return version


# -- statements and rows ---------------------------------------------------------------------


def column_list(table: Table, prefix: str = "", given: Collection[str] = ()) -> str:
    """The row columns but the `given` ones, in the row's order: what a SELECT of rows names."""
    return ", ".join(prefix + column.name for column in table.row_columns if column.name not in given)


def select(table: Table, given: Collection[str] = ()) -> str:
    """A SELECT of the table's rows, without the `given` columns (a WHERE clause names their values)."""
    return f"SELECT {column_list(table, given=given)} FROM {table.name}"


def inserted_columns(table: Table) -> list[str]:
    """The row columns, then the SEQ column: an insert's columns."""
    return [column.name for column in table.row_columns] + ([table.seq_column] if table.seq_column else [])


def on_conflict_update(table: Table) -> str:
    updated = [column.name for column in table.columns if column.name not in table.primary_key]
    assignments = ", ".join(f"{name} = excluded.{name}" for name in updated)
    return f"ON CONFLICT ({', '.join(table.primary_key)}) DO UPDATE SET {assignments}"


def upsert_values(table: Table, dialect: Dialect, rows: int = 1) -> str:
    """Insert or replace `rows` rows, by key, from a parameter per inserted column of each, row after
    row (no two of them may share a key: PostgreSQL refuses to update a row twice in one statement)."""
    names = inserted_columns(table)
    marks = ", ".join([f"({', '.join([dialect.param] * len(names))})"] * rows)
    return f"INSERT INTO {table.name} ({', '.join(names)}) VALUES {marks} {on_conflict_update(table)}"


def changes_query(table: Table, dialect: Dialect) -> str:
    """The version and the rows changed since a cursor, parameters (epoch, seq), in one statement and so
    one snapshot; every row for a cursor of another epoch (the table was emptied since)."""
    p, selected = dialect.param, column_list(table, prefix="t.")
    return (
        f"SELECT v.epoch, v.seq, {selected} FROM store_version v LEFT JOIN {table.name} t "
        f"ON t.{table.seq_column} > CASE WHEN v.epoch = {p} THEN {p} ELSE -1 END"
    )


def to_changes(rows: list[tuple[Any, ...]], since: Cursor | None, read: Callable[..., list[Row]]) -> Changes[Row]:
    """The Changes a changes_query answered, its rows made by `read` (a rows_reader that skips 2 values)."""
    epoch, seq = rows[0][0], rows[0][1]
    changed = read(rows) if rows[0][2] is not None else []
    return Changes((epoch, seq), changed, since is None or since[0] != epoch)


def key_order(table: Table) -> Callable[[tuple[Any, ...]], Any]:
    """The primary key of an insert's values (row columns, then the seq): inserts in key order each land
    next to the last one in the B-tree (a bulk post: 20 % quicker)."""
    names = [column.name for column in table.row_columns]
    return itemgetter(*(names.index(name) for name in table.primary_key))


def key_columns(table: Table) -> list[Callable[[tuple[Any, ...]], Any]]:
    """Each primary-key column of an insert's values, the last first: stable sorts by each in turn put
    values in key order, as one sort by key_order() does. A sort by one text column compares quicker
    than one by a tuple, and one that finds its values in order (a post's weeks) is nearly free."""
    names = [column.name for column in table.row_columns]
    return [itemgetter(names.index(name)) for name in reversed(table.primary_key)]


class Statements:
    """The statements of the shared write-transaction operations, and the readers of their rows, for one
    dialect: generated once, when its backend is imported."""

    def __init__(self, dialect: Dialect):
        p, flags = dialect.param, dialect.flags_as_integers
        self.param = p
        of_vegetable = ("vegetable",)
        self.silver_rows = (
            f"{select(SILVER_SALES, given=of_vegetable)} WHERE vegetable = {p} AND week_start BETWEEN {p} AND {p} "
            "ORDER BY week_start, raw_vegetable"
        )
        self.read_silver_of = rows_reader(SILVER_SALES, flags, given=of_vegetable)
        self.gold_rows = f"{select(GOLD_SALES, given=of_vegetable)} WHERE vegetable = {p}"
        self.read_gold_of = rows_reader(GOLD_SALES, flags, given=of_vegetable)
        self.bronze_rows = select(BRONZE_SALES)
        self.read_bronze = rows_reader(BRONZE_SALES, flags)
        self.silver_names = "SELECT DISTINCT raw_vegetable, vegetable FROM silver_sales"
        self.rejected_rows = f"{select(REJECTED_SALES)} WHERE record_hash IN ({{marks}})"
        self.all_rejected = select(REJECTED_SALES)
        self.read_rejected = rows_reader(REJECTED_SALES, flags)
        self.rejected_count = "SELECT count(*) FROM rejected_sales"
        self.trim_rejected = (
            "DELETE FROM rejected_sales WHERE record_hash IN "
            f"(SELECT record_hash FROM rejected_sales ORDER BY last_received, record_hash LIMIT {p})"
        )
        self.replaced = [f"DELETE FROM {table.name}" for table in (SILVER_SALES, GOLD_SALES)]
        self.emptied_bronze = "DELETE FROM bronze_sales"
        self.new_epoch = "UPDATE store_version SET epoch = epoch + 1"
        self.settings = select(STORE_META)
        self.set_setting = upsert_values(STORE_META, dialect)
        self.bronze_changes = changes_query(BRONZE_SALES, dialect)
        self.read_bronze_changes = rows_reader(BRONZE_SALES, flags, skipped=2)
        self.gold_changes = changes_query(GOLD_SALES, dialect)
        self.read_gold_changes = rows_reader(GOLD_SALES, flags, skipped=2)
        self.put_version = upsert_values(DATA_VERSIONS, dialect)
        self.version_values = attrgetter(*(column.name for column in DATA_VERSIONS.row_columns))
        """A version row's values, in the order put_version takes them (no copy, as astuple() makes)."""
        self.versions = f"{select(DATA_VERSIONS)} ORDER BY data_version DESC LIMIT {p}"
        self.read_versions = rows_reader(DATA_VERSIONS, flags)
        self.data_version = "SELECT seq FROM store_version"
        self.version_at = f"SELECT max(data_version) FROM data_versions WHERE committed_at <= {p}"
        self.history = f"{select(ROW_HISTORY)} WHERE data_version <= {p} ORDER BY data_version"
        self.read_history = rows_reader(ROW_HISTORY, flags)
        self.dropped_history = [
            f"DELETE FROM row_history WHERE data_version <= {p}",
            f"DELETE FROM data_versions WHERE data_version < {p}",
        ]

    @lru_cache(maxsize=8)  # noqa: B019 - one Statements per dialect, kept for the process's life
    def rejected_in(self, count: int) -> str:
        return self.rejected_rows.format(marks=", ".join([self.param] * count))


class GoldCache:
    """Each vegetable's gold rows as this process last read or wrote them, for the write path (a post
    recomputes the outlier flags over all of its vegetable's months). Valid only while no other
    process or replica has written since this one's last write: the store checks that at the start
    of each write transaction, and clears it then, or when a transaction fails."""

    def __init__(self) -> None:
        self.by_vegetable: dict[str, dict[str, GoldRow]] = {}

    def clear(self) -> None:
        self.by_vegetable.clear()

    def written(self, rows: Sequence[GoldRow]) -> None:
        for row in rows:
            months = self.by_vegetable.get(row.vegetable)
            if months is not None:  # a vegetable not read yet will be read whole, this row included
                months[row.year_month] = row


class SqlTransaction(ABC):
    """A write transaction on a DB-API style `_connection`, with the statements of its dialect."""

    SQL: ClassVar[Statements]
    _connection: Any
    _gold: GoldCache

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self._connection.execute(sql, parameters))

    def _run(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        """The statement's cursor: an iterable of value tuples."""
        return self._connection.execute(sql, parameters)

    def silver_rows(self, vegetable: str, first_week: str, last_week: str) -> list[SilverRow]:
        return self.SQL.read_silver_of(self._run(self.SQL.silver_rows, (vegetable, first_week, last_week)), vegetable)

    def gold_rows(self, vegetable: str) -> Mapping[str, GoldRow]:
        months = self._gold.by_vegetable.get(vegetable)
        if months is None:
            rows = self.SQL.read_gold_of(self._run(self.SQL.gold_rows, (vegetable,)), vegetable)
            months = self._gold.by_vegetable[vegetable] = {row.year_month: row for row in rows}
        return months

    def bronze_rows(self) -> list[BronzeRow]:
        return self.SQL.read_bronze(self._run(self.SQL.bronze_rows))

    def silver_names(self) -> dict[str, str]:
        return dict(self._query(self.SQL.silver_names))

    def put_version(self, row: VersionRow) -> None:
        self._write(self.SQL.put_version, self.SQL.version_values(row))

    def put_history(self, rows: Sequence[HistoryRow]) -> None:
        if rows:
            self._put_history(list(rows))

    def drop_history(self, upto: int) -> None:
        for statement in self.SQL.dropped_history:
            self._write(statement, (upto,))

    def _write(self, sql: str, parameters: Sequence[Any]) -> None:
        """Run a statement that changes no sales."""
        self._connection.execute(sql, parameters)

    @abstractmethod
    def _put_history(self, rows: list[HistoryRow]) -> None: ...

    def replace_tables(
        self, bronze: Sequence[BronzeRow] | None, silver: Sequence[SilverRow], gold: Sequence[GoldRow]
    ) -> None:
        self._gold.clear()
        if bronze is not None:
            self._run(self.SQL.emptied_bronze)
        for statement in self.SQL.replaced:
            self._run(statement)
        self._run(self.SQL.new_epoch)
        if bronze:
            self.put_bronze(bronze)
        self.put_silver(silver)
        self.put_gold(gold)

    def rejected_rows(self, hashes: Collection[str]) -> dict[str, RejectedRow]:
        keys, found = list(hashes), {}
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            for row in self.SQL.read_rejected(self._run(self.SQL.rejected_in(len(chunk)), chunk)):
                found[row.record_hash] = row
        return found

    def all_rejected(self) -> list[RejectedRow]:
        return self.SQL.read_rejected(self._run(self.SQL.all_rejected))

    def trim_rejected(self, keep: int) -> int:
        count = int(self._query(self.SQL.rejected_count)[0][0])
        if count <= keep:
            return 0
        self._run(self.SQL.trim_rejected, (count - keep,))
        return count - keep

    def meta(self) -> dict[str, str]:
        return dict(self._query(self.SQL.settings))

    @abstractmethod
    def put_bronze(self, rows: Sequence[BronzeRow]) -> None: ...

    @abstractmethod
    def put_silver(self, rows: Sequence[SilverRow]) -> None: ...

    @abstractmethod
    def put_gold(self, rows: Sequence[GoldRow]) -> None: ...
