"""SQLite storage: one file, WAL journal, one writer at a time, readers never blocked."""

import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from operator import itemgetter
from pathlib import Path

import orjson

from ..tables import BronzeRow, GoldRow, RejectedRow, SilverRow, utc_now
from . import migrations
from .base import SCHEMA_VERSION, TABLES, Changes, Cursor, Row, StorageError, StoreBusy
from .sql import BRONZE_COLUMNS, REJECTED_COLUMNS, GoldCache, SqlTransaction, rejected_row, rejected_values

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS store_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS store_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO store_meta VALUES ('schema_version', '{SCHEMA_VERSION}');
CREATE TABLE IF NOT EXISTS bronze_sales (
    week_start TEXT NOT NULL,
    vegetable TEXT NOT NULL,
    date TEXT NOT NULL,
    kilo_sold REAL NOT NULL,
    received_at TEXT NOT NULL,
    change_seq INTEGER NOT NULL,
    PRIMARY KEY (vegetable, week_start)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bronze_sales_change_seq ON bronze_sales (change_seq);
CREATE TABLE IF NOT EXISTS silver_sales (
    week_start TEXT NOT NULL,
    vegetable TEXT NOT NULL,
    kilo_sold REAL NOT NULL,
    raw_vegetable TEXT NOT NULL,
    date TEXT NOT NULL,
    PRIMARY KEY (vegetable, week_start, raw_vegetable)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gold_sales (
    year_month TEXT NOT NULL,
    vegetable TEXT NOT NULL,
    kilo_sold REAL NOT NULL,
    is_outlier INTEGER NOT NULL,
    change_seq INTEGER NOT NULL,
    PRIMARY KEY (vegetable, year_month)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS gold_sales_change_seq ON gold_sales (change_seq);
CREATE TABLE IF NOT EXISTS rejected_sales (
    record_hash TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    truncated INTEGER NOT NULL,
    errors TEXT NOT NULL,
    first_received TEXT NOT NULL,
    last_received TEXT NOT NULL,
    times INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS rejected_sales_last_received ON rejected_sales (last_received);
"""

log = logging.getLogger("vegsales")
CHECKPOINT_SECONDS = 0.5
IDLE_SECONDS = 1.0
"""A writer quiet this long gets its WAL truncated."""
WAL_LIMIT_BYTES = 4 * 1024 * 1024
"""The WAL is cut back to this size each time it restarts (journal_size_limit)."""
WAL_RESTART_BYTES = 16 * 1024 * 1024
"""Past this size the WAL is emptied even under load (a TRUNCATE checkpoint, waiting briefly for readers)."""
BUSY_TIMEOUT_SECONDS = 10


CHANGES = """
SELECT v.epoch, v.seq, {columns} FROM store_version v
LEFT JOIN {table} ON {table}.change_seq > CASE WHEN v.epoch = ? THEN ? ELSE -1 END
"""


def statements(script: str) -> list[str]:
    """The statements of a script, to run one by one inside a transaction (executescript commits)."""
    return [statement for statement in script.split(";") if statement.strip()]


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
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = SCHEMA_VERSION
        if "store_meta" in tables:
            version = int(dict(connection.execute("SELECT key, value FROM store_meta"))["schema_version"])
        elif "bronze_sales" in tables:
            version = 1  # version 1 had no settings table
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"it was written by a newer vegsales (schema version {version}, this one knows {SCHEMA_VERSION})"
            )
        for script in [*migrations.scripts(version, "sqlite"), SCHEMA]:
            for statement in statements(script):
                connection.execute(statement, {"now": utc_now()} if ":now" in statement else ())
        # A random first epoch: a recreated database never reuses an old ETag.
        connection.execute("INSERT OR IGNORE INTO store_version VALUES (1, ?, 0)", (secrets.randbits(52),))
        if version < SCHEMA_VERSION:
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
            connection.execute("UPDATE store_version SET epoch = epoch + 1")
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
            try:
                self._begin(wait)
                data_version = self._writer.execute("PRAGMA data_version").fetchone()[0]
                if data_version != self._data_version:  # another process wrote: what this one cached is stale
                    self._gold.clear()
                self._data_version = None  # until this transaction commits
                try:
                    yield self._writer
                except BaseException:
                    self._gold.clear()
                    if self._writer.in_transaction:  # SQLite rolls back by itself after some errors (disk full)
                        self._writer.execute("ROLLBACK")
                    raise
                self._writer.execute("COMMIT")
                self._data_version = data_version
                self._last_write, self._truncated = time.monotonic(), False
            except sqlite3.Error as error:
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
                raise StorageError(f"SQLite write failed: {error}") from error
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
        return self._changes(since, "bronze_sales", BRONZE_COLUMNS, BronzeRow)

    def gold_changes(self, since: Cursor | None) -> Changes[GoldRow]:
        return self._changes(since, "gold_sales", "year_month, vegetable, kilo_sold, is_outlier", gold_row)

    def _changes(self, since: Cursor | None, table: str, columns: str, make_row: Callable[..., Row]) -> Changes[Row]:
        epoch, seq = since or (None, -1)
        # One statement, one snapshot: the version and the rows changed since `since` (every row
        # when `since` is of another epoch: the table was emptied since).
        query = CHANGES.format(table=table, columns=columns)
        try:
            # Through the writer's connection when no write is under way: its page cache holds what
            # it wrote, where a reader's connection drops its whole cache after any commit.
            if self._write_lock.acquire(blocking=False):
                try:
                    if self._closed:
                        raise StorageError(f"SQLite database {self.path} is closed")
                    rows = self._writer.execute(query, (epoch, seq)).fetchall()
                finally:
                    self._write_lock.release()
            else:
                rows = self._reader().execute(query, (epoch, seq)).fetchall()
        except sqlite3.Error as error:
            raise StorageError(f"SQLite read failed: {error}") from error
        epoch_now, seq_now = rows[0][0], rows[0][1]
        changed = [make_row(*row[2:]) for row in rows] if rows[0][2] is not None else []
        return Changes((epoch_now, seq_now), changed, epoch_now != epoch)

    def rejected_sales(self, limit: int) -> tuple[list[RejectedRow], int]:
        query = f"SELECT {REJECTED_COLUMNS} FROM rejected_sales ORDER BY last_received DESC, record_hash DESC LIMIT ?"
        connection = self._reader()
        try:
            connection.execute("BEGIN")
            try:
                rows = [rejected_row(*values) for values in connection.execute(query, (limit,))]
                (total,) = connection.execute("SELECT count(*) FROM rejected_sales").fetchone()
            finally:
                connection.execute("COMMIT")
        except sqlite3.Error as error:
            raise StorageError(f"SQLite read failed: {error}") from error
        return rows, total

    def table_sizes(self) -> dict[str, int]:
        try:
            return {table: self._reader().execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}
        except sqlite3.Error as error:
            raise StorageError(f"SQLite read failed: {error}") from error

    def meta(self) -> dict[str, str]:
        try:
            return dict(self._reader().execute("SELECT key, value FROM store_meta"))
        except sqlite3.Error as error:
            raise StorageError(f"SQLite read failed: {error}") from error

    def check(self) -> None:
        try:
            self._reader().execute("SELECT seq FROM store_version").fetchone()
        except sqlite3.Error as error:
            raise StorageError(f"SQLite is not usable: {error}") from error

    def close(self) -> None:
        self._checkpointer_stop.set()
        self._checkpointer.join()
        with self._write_lock:
            self._closed = True
            for connection in self._connections:
                connection.close()
            self._connections.clear()


def gold_row(year_month: str, vegetable: str, kilo_sold: float, is_outlier: int) -> GoldRow:
    return GoldRow(year_month, vegetable, kilo_sold, is_outlier == 1)


class SqliteWrite(SqlTransaction):
    """The operations of one SQLite write transaction."""

    PARAM = "?"

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

    def bronze_between(self, vegetables: Collection[str], first_week: str, last_week: str) -> list[BronzeRow]:
        # Keyed by (vegetable, week_start): each name's weeks are one range of the primary key.
        rows = self._connection.execute(
            f"SELECT {BRONZE_COLUMNS} FROM bronze_sales "
            "WHERE vegetable IN (SELECT value FROM json_each(?)) AND week_start BETWEEN ? AND ?",
            (orjson.dumps(list(vegetables)).decode(), first_week, last_week),
        )
        return [BronzeRow(*row) for row in rows]

    def put_bronze(self, rows: Sequence[BronzeRow]) -> None:
        seq = self._change_seq()
        self._connection.executemany(
            "INSERT INTO bronze_sales (week_start, vegetable, date, kilo_sold, received_at, change_seq) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (vegetable, week_start) DO UPDATE "
            "SET date = excluded.date, kilo_sold = excluded.kilo_sold, received_at = excluded.received_at, "
            "change_seq = excluded.change_seq",
            # In key order: each insertion lands next to the last one in the B-tree (a bulk post: 20 % quicker).
            sorted(
                ((row.week_start, row.vegetable, row.date, row.kilo_sold, row.received_at, seq) for row in rows),
                key=itemgetter(1, 0),
            ),
        )

    def put_silver(self, rows: Sequence[SilverRow]) -> None:
        self._connection.executemany(
            "INSERT INTO silver_sales (week_start, vegetable, kilo_sold, raw_vegetable, date) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (vegetable, week_start, raw_vegetable) DO UPDATE "
            "SET kilo_sold = excluded.kilo_sold, date = excluded.date",
            sorted(  # in key order, as bronze
                ((row.week_start, row.vegetable, row.kilo_sold, row.raw_vegetable, row.date) for row in rows),
                key=itemgetter(1, 0, 3),
            ),
        )

    def put_gold(self, rows: Sequence[GoldRow]) -> None:
        seq = self._change_seq()
        self._connection.executemany(
            "INSERT INTO gold_sales (year_month, vegetable, kilo_sold, is_outlier, change_seq) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (vegetable, year_month) DO UPDATE "
            "SET kilo_sold = excluded.kilo_sold, is_outlier = excluded.is_outlier, "
            "change_seq = excluded.change_seq",
            [(row.year_month, row.vegetable, row.kilo_sold, row.is_outlier, seq) for row in rows],
        )
        self._gold.written(rows)

    def put_rejected(self, rows: Sequence[RejectedRow]) -> None:
        self._connection.executemany(
            f"INSERT OR REPLACE INTO rejected_sales ({REJECTED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            map(rejected_values, rows),
        )

    def delete_rejected(self, hashes: Collection[str]) -> None:
        self._connection.executemany("DELETE FROM rejected_sales WHERE record_hash = ?", [(h,) for h in hashes])

    def set_meta(self, key: str, value: str) -> None:
        self._connection.execute("INSERT OR REPLACE INTO store_meta VALUES (?, ?)", (key, value))
