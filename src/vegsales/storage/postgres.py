"""PostgreSQL storage: several API processes (replicas) on one database.

Writers are serialised by a row lock on `store_version`, taken at the start of every write
transaction and held until its commit: the incremental gold update of one post can never race
another's, on any replica, and commit order equals seq order, which the change feeds rely on.
A post holds the lock for about a millisecond. Readers never wait: a change-feed read is one
statement, so it sees one snapshot (version and rows together).

No request waits on the database without a bound (DatabaseTimeouts): a connection is opened, or
taken from the pool, within the database timeout; a statement runs within the statement timeout
and waits for a lock within the lock timeout; past any of them the request fails with a
StorageError (a 503), and the pool keeps trying to connect, so that service resumes by itself once
the database answers again.
"""

import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ..rows import BronzeRow, GoldRow, HistoryRow, RejectedRow, SilverRow, VersionRow
from .base import TABLES, Changes, Cursor, Row, StorageError, StoreBusy
from .generated import column_lists
from .migrations import SCHEMA_VERSION
from .schema import BRONZE_SALES, GOLD_SALES, REJECTED_SALES, ROW_HISTORY, SILVER_SALES, Table, Type
from .sql import (
    Dialect,
    GoldCache,
    SqlTransaction,
    Statements,
    column_list,
    create_or_migrate,
    inserted_columns,
    on_conflict_update,
    select,
    to_changes,
)
from .timeouts import DEFAULT_TIMEOUTS, DatabaseTimeouts

log = logging.getLogger("vegsales")

POSTGRES_TYPES = {
    Type.TEXT: "text",
    # Code-point order, as Python sorts (the gold sums depend on it).
    Type.ORDERED: 'text COLLATE "C"',
    Type.DATE: 'text COLLATE "C"',
    Type.MONTH: 'text COLLATE "C"',
    Type.SETTING: "text",
    Type.KILOS: "double precision",
    Type.FLAG: "boolean",
    Type.COUNT: "integer",
    Type.INTEGER: "integer",
    Type.BIG_INTEGER: "bigint",
    Type.SEQ: "bigint",
}
POSTGRES = Dialect(
    types=POSTGRES_TYPES,
    param="%s",
    in_key_order="",
    flags_as_integers=False,
    table_exists="SELECT to_regclass(%s) IS NOT NULL",
    # A renamed table keeps its constraints' names: its primary key's would clash with its successor's.
    rename_key="ALTER TABLE {old} RENAME CONSTRAINT {table}_pkey TO {old}_pkey",
)
SQL = Statements(POSTGRES)
REJECTED_LATEST = (
    f"SELECT {column_list(REJECTED_SALES)}, count(*) OVER () FROM rejected_sales "
    "ORDER BY last_received DESC, record_hash DESC LIMIT %s"
)
TABLE_SIZES = f"SELECT {', '.join(f'(SELECT count(*) FROM {table})' for table in TABLES)}"
EMPTIED = f"TRUNCATE {', '.join(TABLES)}"
BRONZE_BETWEEN = f"{select(BRONZE_SALES)} WHERE vegetable = ANY(%s) AND week_start BETWEEN %s AND %s"


def upsert_unnest(table: Table) -> str:
    """Insert or replace rows by key, from an array per row column (and the seq, first, if the table has one)."""
    arrays = ", ".join(f"%s::{POSTGRES_TYPES[column.type].split(' COLLATE')[0]}[]" for column in table.row_columns)
    seq = ", %s" if table.seq_column else ""
    names = ", ".join(inserted_columns(table))
    return f"INSERT INTO {table.name} ({names}) SELECT *{seq} FROM unnest({arrays}) {on_conflict_update(table)}"


PUT_BRONZE, PUT_SILVER, PUT_GOLD, PUT_REJECTED, PUT_HISTORY = (
    upsert_unnest(table) for table in (BRONZE_SALES, SILVER_SALES, GOLD_SALES, REJECTED_SALES, ROW_HISTORY)
)
BRONZE_ARRAYS, SILVER_ARRAYS, GOLD_ARRAYS, REJECTED_ARRAYS, HISTORY_ARRAYS = (
    column_lists(table) for table in (BRONZE_SALES, SILVER_SALES, GOLD_SALES, REJECTED_SALES, ROW_HISTORY)
)
"""The rows' values as an array per row column, as upsert_unnest takes them."""


RECHECK_SECONDS = 0.001
"""How long a request waits for a connection once a wait for one has timed out, until one is had
again: during an outage only the first request waits the whole database timeout. Requests that
queue behind one another (the reads of one table refresh it one at a time, posts are written one
batch at a time) would otherwise each wait it in turn: 100 reads at once took 100 timeouts. Each
short wait still asks the pool for a new connection, so the first request after the database is
back finds one ready."""


LOCK_WAITING = "SELECT seq FROM store_version FOR UPDATE"
LOCK_NOW = "SELECT seq FROM store_version FOR UPDATE NOWAIT"
"""The write lock, which answers the current data version."""


class PostgresStore:
    """The three tables in a PostgreSQL database (or one schema of it), created on first use."""

    reads_wait_on_io = True
    writes_wait_on_io = True

    def __init__(
        self, url: str, schema: str | None = None, pool_size: int = 8, timeouts: DatabaseTimeouts = DEFAULT_TIMEOUTS
    ):
        self.url, self.schema, self.timeouts = url, schema, timeouts
        # UTF-8 whatever the server's encoding (a SQL_ASCII database would hand back bytes); a
        # schema of its own for tests; otherwise the URL's own settings, ?options=... included.
        options: dict[str, Any] = {"client_encoding": "utf8", **timeouts.connection_parameters()}
        if schema:
            options["options"] = f"-c search_path={schema}"
        # Autocommit: a read is one statement and one round trip, with no COMMIT after it; writes
        # open their transaction explicitly.
        self._gold = GoldCache()
        self._last_seq: int | None = None
        """The seq of this process's last committed write: a write that finds another seq before it
        follows another replica's, and what this one cached is stale."""
        self._waiting_in_vain = False
        """True from a wait for a connection that timed out until a connection is had again."""
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, **options},
            configure=self._configure,
            timeout=timeouts.connect,
            # A connection attempt that keeps failing is given up after this long; the next request
            # that waits starts a new one. With the pool's default (five minutes) the attempts back
            # off to 1, 2, 4 ... 128 s apart, and service could come back minutes after the database.
            reconnect_timeout=timeouts.connect,
            open=False,
        )
        try:
            # A direct first connection fails fast with the server's own message. Its statements
            # (a migration, waiting for another replica's) are not held to the statement and lock
            # timeouts: they run once, before the server serves anything.
            with psycopg.connect(url, **options) as connection:
                # Concurrent first starts of several replicas: one creates the tables, the others wait.
                connection.execute("SELECT pg_advisory_xact_lock(hashtext('vegsales schema'))")
                self._create_or_migrate(connection)
            self._pool.open(wait=True, timeout=options["connect_timeout"])
        except (psycopg.Error, PoolTimeout, StorageError) as error:
            self._pool.close()
            raise StorageError(f"cannot open PostgreSQL database {redact(url)}: {error}") from error

    def _configure(self, connection: psycopg.Connection[Any]) -> None:
        """Each pooled connection's own timeouts, set once when it is opened (the pool never resets them)."""
        connection.execute(
            "SELECT set_config('statement_timeout', %s, false), set_config('lock_timeout', %s, false)",
            (milliseconds(self.timeouts.statement), milliseconds(self.timeouts.lock)),
        )

    def _create_or_migrate(self, connection: psycopg.Connection[Any]) -> None:
        """Create the tables, or bring an older schema up to this one (in the caller's transaction)."""
        version = create_or_migrate(connection, POSTGRES)
        if version is not None and version < SCHEMA_VERSION:
            log.warning(
                "PostgreSQL database %s: migrated from schema version %d to %d",
                redact(self.url),
                version,
                SCHEMA_VERSION,
            )

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection; every failure of the database as a StorageError, saying which bound was passed."""
        timeouts, waiting_in_vain = self.timeouts, self._waiting_in_vain
        try:
            with self._pool.connection(RECHECK_SECONDS if waiting_in_vain else timeouts.connect) as connection:
                if waiting_in_vain:
                    self._waiting_in_vain = False
                yield connection
        except PoolTimeout as error:
            self._waiting_in_vain = True
            if waiting_in_vain:
                raise StorageError("PostgreSQL: still no connection; the pool goes on trying") from error
            raise StorageError(
                f"PostgreSQL: no connection within {timeouts.connect:g} s: the database does not answer, "
                f"or all {self._pool.max_size} of this process's connections stayed busy"
            ) from error
        except psycopg.errors.LockNotAvailable as error:
            raise StorageError(f"PostgreSQL: a lock was not granted within {timeouts.lock:g} s ({error})") from error
        except psycopg.errors.QueryCanceled as error:
            raise StorageError(f"PostgreSQL: a statement ran past {timeouts.statement:g} s ({error})") from error
        except psycopg.OperationalError as error:
            raise StorageError(f"PostgreSQL is not available: {error}") from error
        except psycopg.Error as error:
            raise StorageError(f"PostgreSQL error: {error}") from error

    def init(self) -> None:
        with self._connection() as connection, connection.transaction():
            connection.execute("SELECT seq FROM store_version FOR UPDATE")
            connection.execute(EMPTIED)
            connection.execute("DELETE FROM store_meta WHERE key = 'rejected_dropped'")
            connection.execute("UPDATE store_version SET epoch = epoch + 1, seq = seq + 1")
            self._gold.clear()

    @contextmanager
    def write(self, wait: bool = True) -> Iterator["PostgresWrite"]:
        # Pipeline mode: statements whose replies are not needed yet (the puts, the commit) travel
        # together with the next query, so the write lock is held for fewer round trips.
        try:
            with self._connection() as connection, connection.pipeline(), connection.transaction():
                try:
                    # The write lock: waits for another replica's write at most the lock timeout (a
                    # StorageError past it), or not at all.
                    current = int(value(connection, LOCK_WAITING if wait else LOCK_NOW))
                except psycopg.errors.LockNotAvailable:
                    if wait:
                        raise
                    raise StoreBusy from None
                if current != self._last_seq:  # another replica changed sales since this one did
                    self._gold.clear()
                transaction = PostgresWrite(connection, current + 1, self._gold)
                yield transaction
                if transaction.changed_sales:  # a new data version; quarantine changes alone make none
                    connection.execute("UPDATE store_version SET seq = %s", (current + 1,))
                # Set before the commit, which the `with` runs: a failed commit clears it again below.
                self._last_seq = transaction.data_version()
                if not transaction.wrote:
                    raise psycopg.Rollback  # a replay changed nothing: keep the version (and the ETags)
        except BaseException:
            self._gold.clear()
            self._last_seq = None
            raise

    def bronze_changes(self, since: Cursor | None) -> Changes[BronzeRow]:
        return self._changes(since, SQL.bronze_changes, SQL.read_bronze_changes)

    def gold_changes(self, since: Cursor | None) -> Changes[GoldRow]:
        return self._changes(since, SQL.gold_changes, SQL.read_gold_changes)

    def _changes(self, since: Cursor | None, query: str, read: Callable[..., list[Row]]) -> Changes[Row]:
        with self._connection() as connection:
            rows = connection.execute(query, since or (-1, -1)).fetchall()
        return to_changes(rows, since, read)

    def rejected_sales(self, limit: int) -> tuple[list[RejectedRow], int]:
        with self._connection() as connection:
            found = connection.execute(REJECTED_LATEST, (limit,)).fetchall()
            if found:
                return SQL.read_rejected(values[:-1] for values in found), int(found[0][-1])
            return [], int(value(connection, SQL.rejected_count))

    def data_version(self) -> int:
        with self._connection() as connection:
            return int(value(connection, "SELECT seq FROM store_version"))

    def versions(self, limit: int) -> list[VersionRow]:
        with self._connection() as connection:
            return SQL.read_versions(connection.execute(SQL.versions, (limit,)))

    def version_at(self, moment: str) -> int | None:
        with self._connection() as connection:
            row = connection.execute(SQL.version_at, (moment,)).fetchone()
        return row[0] if row else None

    def history(self, upto: int) -> list[HistoryRow]:
        with self._connection() as connection:
            return SQL.read_history(connection.execute(SQL.history, (upto,)))

    def table_sizes(self) -> dict[str, int]:
        with self._connection() as connection:
            row = connection.execute(TABLE_SIZES).fetchone() or ()
        return dict(zip(TABLES, map(int, row), strict=True))

    def meta(self) -> dict[str, str]:
        with self._connection() as connection:
            return dict(connection.execute(SQL.settings).fetchall())

    def check(self) -> None:
        with self._connection() as connection:
            connection.execute("SELECT seq FROM store_version").fetchone()

    def close(self) -> None:
        self._pool.close()


class PostgresWrite(SqlTransaction):
    """The operations of one PostgreSQL write transaction (which holds the write lock)."""

    SQL = SQL

    def __init__(self, connection: psycopg.Connection, seq: int, gold: GoldCache):
        self._connection = connection
        self._seq = seq
        self._gold = gold
        self.wrote = False
        self.changed_sales = False

    def _change_seq(self) -> int:
        self.wrote = self.changed_sales = True
        return self._seq

    def data_version(self) -> int:
        return self._seq if self.changed_sales else self._seq - 1

    def _write(self, sql: str, parameters: Sequence[Any]) -> None:
        self.wrote = True
        self._connection.execute(sql, parameters)

    def bronze_between(self, vegetables: Collection[str], first_week: str, last_week: str) -> list[BronzeRow]:
        rows = self._connection.execute(BRONZE_BETWEEN, (list(vegetables), first_week, last_week))
        return SQL.read_bronze(rows)

    def put_bronze(self, rows: Sequence[BronzeRow]) -> None:
        self._connection.execute(PUT_BRONZE, (self._change_seq(), *BRONZE_ARRAYS(rows)))

    def put_silver(self, rows: Sequence[SilverRow]) -> None:
        self._write(PUT_SILVER, SILVER_ARRAYS(rows))

    def put_gold(self, rows: Sequence[GoldRow]) -> None:
        if not rows:
            return
        self._connection.execute(PUT_GOLD, (self._change_seq(), *GOLD_ARRAYS(rows)))
        self._gold.written(rows)

    def put_rejected(self, rows: Sequence[RejectedRow]) -> None:
        self._write(PUT_REJECTED, REJECTED_ARRAYS(rows))

    def delete_rejected(self, hashes: Collection[str]) -> None:
        self._write("DELETE FROM rejected_sales WHERE record_hash = ANY(%s)", (list(hashes),))

    def trim_rejected(self, keep: int) -> int:
        dropped = super().trim_rejected(keep)
        self.wrote = self.wrote or dropped > 0
        return dropped

    def replace_tables(
        self, bronze: Sequence[BronzeRow] | None, silver: Sequence[SilverRow], gold: Sequence[GoldRow]
    ) -> None:
        self.wrote = self.changed_sales = True
        super().replace_tables(bronze, silver, gold)

    def set_meta(self, key: str, value: str) -> None:
        self._write(SQL.set_setting, (key, value))

    def _put_history(self, rows: list[HistoryRow]) -> None:
        self._write(PUT_HISTORY, HISTORY_ARRAYS(rows))


def milliseconds(seconds: float) -> str:
    """A PostgreSQL duration setting (milliseconds) for a time in seconds, 1 ms at least."""
    return str(max(1, round(seconds * 1000)))


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(invalid URL)"
    info.pop("password", None)
    return psycopg.conninfo.make_conninfo("", **info)


def value(connection: psycopg.Connection[Any], query: str) -> Any:
    """The one value a one-row query returns."""
    row = connection.execute(query).fetchone()
    if row is None:
        raise StorageError(f"PostgreSQL returned no row for {query!r}")
    return row[0]
