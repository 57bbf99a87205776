"""SQLite storage: one file, WAL journal, one writer at a time, readers never blocked."""

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import cache
from itertools import chain
from pathlib import Path
from typing import Any

import orjson

from ..rows import BronzeRow, GoldRow, HistoryRow, RejectedRow, SilverRow, VersionRow
from .base import TABLES, Changes, Cursor, Row, StorageError, StoreBusy
from .generated import values_lists
from .migrations import SCHEMA_VERSION
from .schema import BRONZE_SALES, GOLD_SALES, REJECTED_SALES, ROW_HISTORY, SILVER_SALES, Type
from .sql import (
    Dialect,
    GoldCache,
    SqlTransaction,
    Statements,
    create_or_migrate,
    key_columns,
    key_order,
    select,
    to_changes,
    upsert_values,
)

SQLITE_TYPES = {
    Type.TEXT: "TEXT",
    Type.ORDERED: "TEXT",  # BINARY collation: UTF-8 bytes, in code-point order
    Type.DATE: "TEXT",
    Type.MONTH: "TEXT",
    Type.SETTING: "TEXT",
    Type.KILOS: "REAL",
    Type.FLAG: "INTEGER",
    Type.COUNT: "INTEGER",
    Type.INTEGER: "INTEGER",
    Type.BIG_INTEGER: "INTEGER",
    Type.SEQ: "INTEGER",
}
SQLITE = Dialect(
    types=SQLITE_TYPES,
    param="?",
    in_key_order=" WITHOUT ROWID",
    flags_as_integers=True,
    table_exists="SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
)
SQL = Statements(SQLITE)
REJECTED_LATEST = f"{select(REJECTED_SALES)} ORDER BY last_received DESC, record_hash DESC LIMIT ?"
COUNTS = {table: f"SELECT count(*) FROM {table}" for table in TABLES}
BRONZE_BETWEEN = (
    f"{select(BRONZE_SALES)} WHERE vegetable IN (SELECT value FROM json_each(?)) AND week_start BETWEEN ? AND ?"
)
PUT_BRONZE, PUT_SILVER, PUT_GOLD, PUT_REJECTED = (
    upsert_values(table, SQLITE) for table in (BRONZE_SALES, SILVER_SALES, GOLD_SALES, REJECTED_SALES)
)
ROWS_PER_STATEMENT = 128
"""Rows of a bulk write per INSERT (768 parameters at most, below every build's limit of 999): one
statement run per 128 rows rather than one per row takes 40 % off a bulk post's bronze and silver writes."""
PUT_HISTORY = upsert_values(ROW_HISTORY, SQLITE)
PUT_BRONZE_MANY, PUT_SILVER_MANY, PUT_HISTORY_MANY = (
    upsert_values(table, SQLITE, ROWS_PER_STATEMENT) for table in (BRONZE_SALES, SILVER_SALES, ROW_HISTORY)
)
BRONZE_VALUES, GOLD_VALUES = (values_lists(table, after="seq") for table in (BRONZE_SALES, GOLD_SALES))
SILVER_VALUES, REJECTED_VALUES, HISTORY_VALUES = (
    values_lists(table) for table in (SILVER_SALES, REJECTED_SALES, ROW_HISTORY)
)
BRONZE_KEY_COLUMNS, SILVER_KEY = key_columns(BRONZE_SALES), key_order(SILVER_SALES)

CURRENT_SEQ = "SELECT seq FROM store_version"
"""The current data version."""

log = logging.getLogger("vegsales")
CHECKPOINT_SECONDS = 0.5
IDLE_SECONDS = 1.0
"""A writer quiet this long gets its WAL truncated."""
WAL_LIMIT_BYTES = 4 * 1024 * 1024
"""The WAL is cut back to this size each time it restarts (journal_size_limit)."""
WAL_RESTART_BYTES = 16 * 1024 * 1024
"""Past this size the WAL is emptied even under load (a TRUNCATE checkpoint, waiting briefly for readers)."""
BUSY_TIMEOUT_SECONDS = 10


class TranslatingErrors:
    """Turns sqlite3's errors into the store's: StorageError("SQLite <failed>: <the error>")."""

    __slots__ = ("failed",)

    def __init__(self, failed: str):
        self.failed = failed

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: Any) -> None:
        if isinstance(error, sqlite3.Error):
            raise StorageError(f"SQLite {self.failed}: {error}") from error


@cache
def translating_errors(failed: str) -> TranslatingErrors:
    """The context that turns sqlite3's errors into StorageError("SQLite <failed>: <the error>"): one per
    message, made once (a @contextmanager costs every read 1 µs more)."""
    return TranslatingErrors(failed)


class SqliteStore:
    """The tables in one SQLite file, created (with its folder) on first use."""

    reads_wait_on_io = False
    writes_wait_on_io = False

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        self._gold = GoldCache()
        self._data_version: int | None = None
        """The writer's `PRAGMA data_version` after its last commit: another connection's commit changes it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = self._connect()
            self._writer.execute("PRAGMA busy_timeout = 0")  # waiting for other processes: see _begin()
            self._writer.execute("PRAGMA journal_mode = WAL")
            # Checkpoints (copying the WAL into the database, with an fsync) run in a background
            # thread, not inside the COMMIT of a post: a post never waits for one.
            self._writer.execute("PRAGMA wal_autocheckpoint = 0")
            self._last_write = time.monotonic()
            self._truncated = False
            with self._transaction() as connection:
                self._create_or_migrate(connection)
            self._checkpointer_stop = threading.Event()
            self._checkpointer = threading.Thread(
                target=self._checkpoint_regularly, args=(self._connect(),), name="sqlite-checkpoint", daemon=True
            )
            self._checkpointer.start()
        except (OSError, sqlite3.Error, StorageError) as error:
            for connection in self._connections:
                connection.close()
            raise StorageError(f"cannot open SQLite database {self.path}: {error}") from error

    def _create_or_migrate(self, connection: sqlite3.Connection) -> None:
        """Create the tables, or bring an older schema up to this one (in the caller's transaction)."""
        version = create_or_migrate(connection, SQLITE)
        if version is not None and version < SCHEMA_VERSION:
            log.warning("SQLite database %s: migrated from schema version %d to %d", self.path, version, SCHEMA_VERSION)

    def _checkpoint_regularly(self, connection: sqlite3.Connection) -> None:
        # Under load, PASSIVE checkpoints copy the WAL into the database without waiting for anyone;
        # the WAL restarts from its beginning when a writer finds it all copied, and
        # journal_size_limit then cuts the file back. Once writes pause, a TRUNCATE checkpoint
        # empties the file, so that a quiet database keeps no large WAL beside it. With several
        # processes some reader nearly always holds the WAL, so it never restarts by itself (it grew
        # to 650 MiB in 120 s with two workers): past WAL_RESTART_BYTES a TRUNCATE waits for them.
        connection.execute("PRAGMA busy_timeout = 100")  # a busy TRUNCATE gives up; the next round retries
        wal = Path(f"{self.path}-wal")
        while not self._checkpointer_stop.wait(CHECKPOINT_SECONDS):
            idle = time.monotonic() - self._last_write > IDLE_SECONDS
            with suppress(OSError):
                if wal.stat().st_size > WAL_RESTART_BYTES:
                    self._truncated, idle = False, True
            mode = "TRUNCATE" if idle and not self._truncated else "PASSIVE"
            with suppress(sqlite3.Error):  # busy or closing: the next round will do it
                busy = connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()[0]
                self._truncated = idle and (self._truncated or not busy)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout = 10000")
        # WAL + NORMAL: a committed write survives a killed process; only a power cut can lose
        # the last transactions (never corrupt the file).
        connection.execute("PRAGMA synchronous = NORMAL")
        # 64 MiB of page cache per connection (the default is 2): large tables stay in memory
        # instead of being read back through the OS on every post.
        connection.execute("PRAGMA cache_size = -65536")
        connection.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
        self._connections.append(connection)
        return connection

    def _reader(self) -> sqlite3.Connection:
        if self._closed:
            raise StorageError(f"SQLite database {self.path} is closed")
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._connect()
            connection.execute("PRAGMA query_only = ON")
        return connection

    def init(self) -> None:
        with self._transaction() as connection:
            self._gold.clear()
            for table in TABLES:
                connection.execute(f"DELETE FROM {table}")
            connection.execute("DELETE FROM store_meta WHERE key = 'rejected_dropped'")
            connection.execute(SQL.new_epoch)
            connection.execute("UPDATE store_version SET seq = seq + 1")  # emptied: a new data version
        # Give the space back: the file shrinks to the size of an empty store.
        with self._write_lock, suppress(sqlite3.OperationalError):  # busy (another process reads): kept for now
            self._writer.execute("VACUUM")
            self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    @contextmanager
    def _transaction(self, wait: bool = True) -> Iterator[sqlite3.Connection]:
        if not self._write_lock.acquire(blocking=wait):
            raise StoreBusy
        try:
            if self._closed:
                raise StorageError(f"SQLite database {self.path} is closed")
            with translating_errors("write failed"):
                self._begin(wait)
                try:
                    data_version = self._writer.execute("PRAGMA data_version").fetchone()[0]
                    if data_version != self._data_version:  # another process wrote: what this one cached is stale
                        self._gold.clear()
                    self._data_version = None  # until this transaction commits
                    yield self._writer
                    self._writer.execute("COMMIT")
                except BaseException:
                    self._gold.clear()
                    if self._writer.in_transaction:  # SQLite rolls back by itself after some errors (disk full)
                        self._writer.execute("ROLLBACK")
                    raise
                self._data_version = data_version
                self._last_write, self._truncated = time.monotonic(), False
        finally:
            self._write_lock.release()

    def _begin(self, wait: bool) -> None:
        """BEGIN IMMEDIATE: take the database's write lock, which another process may hold."""
        deadline, pause = time.monotonic() + BUSY_TIMEOUT_SECONDS, 0.001
        while True:
            try:
                self._writer.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                    raise
                if not wait:
                    raise StoreBusy from None
                if time.monotonic() > deadline:
                    raise StorageError(f"SQLite database {self.path} stayed locked by another process") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.05)

    @contextmanager
    def write(self, wait: bool = True) -> Iterator["SqliteWrite"]:
        with self._transaction(wait) as connection:
            yield SqliteWrite(connection, self._gold)

    def bronze_changes(self, since: Cursor | None) -> Changes[BronzeRow]:
        return self._changes(since, SQL.bronze_changes, SQL.read_bronze_changes)

    def gold_changes(self, since: Cursor | None) -> Changes[GoldRow]:
        return self._changes(since, SQL.gold_changes, SQL.read_gold_changes)

    def _changes(self, since: Cursor | None, query: str, read: Callable[..., list[Row]]) -> Changes[Row]:
        parameters = since or (-1, -1)
        with translating_errors("read failed"):
            # Through the writer's connection when no write is under way: its page cache holds what
            # it wrote, where a reader's connection drops its whole cache after any commit.
            if self._write_lock.acquire(blocking=False):
                try:
                    if self._closed:
                        raise StorageError(f"SQLite database {self.path} is closed")
                    rows = self._writer.execute(query, parameters).fetchall()
                finally:
                    self._write_lock.release()
            else:
                rows = self._reader().execute(query, parameters).fetchall()
        return to_changes(rows, since, read)

    def rejected_sales(self, limit: int) -> tuple[list[RejectedRow], int]:
        with translating_errors("read failed"):
            connection = self._reader()
            connection.execute("BEGIN")
            try:
                rows = SQL.read_rejected(connection.execute(REJECTED_LATEST, (limit,)))
                (total,) = connection.execute(SQL.rejected_count).fetchone()
            finally:
                connection.execute("COMMIT")
        return rows, total

    def table_sizes(self) -> dict[str, int]:
        with translating_errors("read failed"):
            return {table: self._reader().execute(query).fetchone()[0] for table, query in COUNTS.items()}

    def meta(self) -> dict[str, str]:
        with translating_errors("read failed"):
            return dict(self._reader().execute(SQL.settings))

    def data_version(self) -> int:
        with translating_errors("read failed"):
            return int(self._reader().execute(CURRENT_SEQ).fetchone()[0])

    def versions(self, limit: int) -> list[VersionRow]:
        with translating_errors("read failed"):
            return SQL.read_versions(self._reader().execute(SQL.versions, (limit,)))

    def version_at(self, moment: str) -> int | None:
        with translating_errors("read failed"):
            (version,) = self._reader().execute(SQL.version_at, (moment,)).fetchone()
        return None if version is None else int(version)

    def history(self, upto: int) -> list[HistoryRow]:
        with translating_errors("read failed"):
            return SQL.read_history(self._reader().execute(SQL.history, (upto,)))

    def check(self) -> None:
        with translating_errors("is not usable"):
            self._reader().execute("SELECT seq FROM store_version").fetchone()

    def close(self) -> None:
        self._checkpointer_stop.set()
        self._checkpointer.join()
        with self._write_lock:
            self._closed = True
            for connection in self._connections:
                connection.close()
            self._connections.clear()


class SqliteWrite(SqlTransaction):
    """The operations of one SQLite write transaction."""

    SQL = SQL

    def __init__(self, connection: sqlite3.Connection, gold: GoldCache):
        self._connection = connection
        self._gold = gold
        self._seq: int | None = None

    def _change_seq(self) -> int:
        # Only a transaction that really writes gets a new seq, so replays keep caches valid.
        if self._seq is None:
            query = "UPDATE store_version SET seq = seq + 1 RETURNING seq"
            self._seq = self._connection.execute(query).fetchall()[0][0]
        return self._seq

    def data_version(self) -> int:
        if self._seq is not None:
            return self._seq
        return int(self._connection.execute(CURRENT_SEQ).fetchone()[0])

    def bronze_between(self, vegetables: Collection[str], first_week: str, last_week: str) -> list[BronzeRow]:
        # Keyed by (vegetable, week_start): each name's weeks are one range of the primary key.
        rows = self._connection.execute(
            BRONZE_BETWEEN, (orjson.dumps(list(vegetables)).decode(), first_week, last_week)
        )
        return SQL.read_bronze(rows)

    def put_bronze(self, rows: Sequence[BronzeRow]) -> None:
        seq = self._change_seq()
        # In key order: each insertion lands next to the last one in the B-tree (a bulk post: 20 % quicker).
        # The key is (vegetable, week_start) and posts come week by week: sorted by week (in order
        # already: nearly free), then, stably, by name.
        values = BRONZE_VALUES(rows, seq)
        for column in BRONZE_KEY_COLUMNS:
            values.sort(key=column)
        self._put_many(PUT_BRONZE, PUT_BRONZE_MANY, values)

    def put_silver(self, rows: Sequence[SilverRow]) -> None:
        # As bronze; a bulk post's come in key order (vegetable, week_start, raw_vegetable) already.
        self._put_many(PUT_SILVER, PUT_SILVER_MANY, sorted(SILVER_VALUES(rows), key=SILVER_KEY))

    def _put_many(self, one: str, many: str, values: list[tuple[Any, ...]]) -> None:
        """Upserts of rows of distinct keys: ROWS_PER_STATEMENT at a time, then the rest one by one."""
        if whole := len(values) - len(values) % ROWS_PER_STATEMENT:
            starts = range(0, whole, ROWS_PER_STATEMENT)
            chunks = (tuple(chain.from_iterable(values[start : start + ROWS_PER_STATEMENT])) for start in starts)
            self._connection.executemany(many, chunks)
            values = values[whole:]
        self._connection.executemany(one, values)

    def put_gold(self, rows: Sequence[GoldRow]) -> None:
        seq = self._change_seq()
        self._connection.executemany(PUT_GOLD, GOLD_VALUES(rows, seq))
        self._gold.written(rows)

    def _put_history(self, rows: list[HistoryRow]) -> None:
        self._put_many(PUT_HISTORY, PUT_HISTORY_MANY, HISTORY_VALUES(rows))

    def put_rejected(self, rows: Sequence[RejectedRow]) -> None:
        self._connection.executemany(PUT_REJECTED, REJECTED_VALUES(rows))

    def delete_rejected(self, hashes: Collection[str]) -> None:
        self._connection.executemany("DELETE FROM rejected_sales WHERE record_hash = ?", [(h,) for h in hashes])

    def set_meta(self, key: str, value: str) -> None:
        self._connection.execute(SQL.set_setting, (key, value))
