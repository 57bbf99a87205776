"""SQLite storage: one file, WAL journal, one writer at a time, readers never blocked."""

import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from ..tables import BronzeKey, BronzeRow, GoldRow, SilverRow
from .base import Changes, Cursor, StorageError, StoreBusy
from .sql import SqlReads

SCHEMA = """
CREATE TABLE IF NOT EXISTS store_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bronze_sales (
    date TEXT NOT NULL,
    vegetable TEXT NOT NULL,
    kilo_sold REAL NOT NULL,
    change_seq INTEGER NOT NULL,
    PRIMARY KEY (date, vegetable)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bronze_sales_change_seq ON bronze_sales (change_seq);
CREATE TABLE IF NOT EXISTS silver_sales (
    date TEXT NOT NULL,
    vegetable TEXT NOT NULL,
    kilo_sold REAL NOT NULL,
    raw_vegetable TEXT NOT NULL,
    PRIMARY KEY (date, raw_vegetable)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS silver_sales_vegetable_date ON silver_sales (vegetable, date, raw_vegetable);
CREATE TABLE IF NOT EXISTS gold_sales (
    year_month TEXT NOT NULL,
    vegetable TEXT NOT NULL,
    kilo_sold REAL NOT NULL,
    is_outlier INTEGER NOT NULL,
    change_seq INTEGER NOT NULL,
    PRIMARY KEY (vegetable, year_month)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS gold_sales_change_seq ON gold_sales (change_seq);
"""

TABLES = ("bronze_sales", "silver_sales", "gold_sales")
CHECKPOINT_SECONDS = 0.5
BUSY_TIMEOUT_SECONDS = 10
BULK_LOOKUP = 1000


class SqliteStore:
    """The three tables in one SQLite file, created (with its folder) on first use."""

    writes_wait_on_io = False

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = self._connect()
            self._writer.execute("PRAGMA busy_timeout = 0")  # waiting for other processes: see _begin()
            self._writer.execute("PRAGMA journal_mode = WAL")
            # Checkpoints (copying the WAL into the database, with an fsync) run in a background
            # thread, not inside the COMMIT of a post: a post never waits for one.
            self._writer.execute("PRAGMA wal_autocheckpoint = 0")
            self._writer.executescript(SCHEMA)
            # A random first epoch: a recreated database never reuses an old ETag.
            self._writer.execute("INSERT OR IGNORE INTO store_version VALUES (1, ?, 0)", (secrets.randbits(52),))
            self._checkpointer_stop = threading.Event()
            self._checkpointer = threading.Thread(
                target=self._checkpoint_regularly, args=(self._connect(),), name="sqlite-checkpoint", daemon=True
            )
            self._checkpointer.start()
        except (OSError, sqlite3.Error) as error:
            raise StorageError(f"cannot open SQLite database {self.path}: {error}") from error

    def _checkpoint_regularly(self, connection: sqlite3.Connection) -> None:
        while not self._checkpointer_stop.wait(CHECKPOINT_SECONDS):
            with suppress(sqlite3.Error):  # busy or closing: the next round will do it
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout = 10000")
        # WAL + NORMAL: a committed write survives a killed process; only a power cut can lose
        # the last transactions (never corrupt the file).
        connection.execute("PRAGMA synchronous = NORMAL")
        # 64 MiB of page cache per connection (the default is 2): large tables stay in memory
        # instead of being read back through the OS on every post.
        connection.execute("PRAGMA cache_size = -65536")
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
            for table in TABLES:
                connection.execute(f"DELETE FROM {table}")
            connection.execute("UPDATE store_version SET epoch = epoch + 1")

    @contextmanager
    def _transaction(self, wait: bool = True) -> Iterator[sqlite3.Connection]:
        if not self._write_lock.acquire(blocking=wait):
            raise StoreBusy
        try:
            if self._closed:
                raise StorageError(f"SQLite database {self.path} is closed")
            try:
                self._begin(wait)
                try:
                    yield self._writer
                except BaseException:
                    self._writer.execute("ROLLBACK")
                    raise
                self._writer.execute("COMMIT")
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
            yield SqliteWrite(connection)

    def bronze_changes(self, since: Cursor | None) -> Changes[BronzeRow]:
        return self._changes(since, "SELECT date, vegetable, kilo_sold FROM bronze_sales", BronzeRow)

    def gold_changes(self, since: Cursor | None) -> Changes[GoldRow]:
        query = "SELECT year_month, vegetable, kilo_sold, is_outlier FROM gold_sales"
        return self._changes(since, query, gold_row)

    def _changes(self, since: Cursor | None, select: str, make_row: Callable) -> Changes:
        connection = self._reader()
        try:
            # One read transaction: the version and the rows come from the same snapshot.
            connection.execute("BEGIN")
            try:
                epoch, seq = connection.execute("SELECT epoch, seq FROM store_version").fetchone()
                reset = since is None or since[0] != epoch
                if reset:
                    rows = connection.execute(select).fetchall()
                elif since[1] == seq:
                    rows = []
                else:
                    rows = connection.execute(f"{select} WHERE change_seq > ?", (since[1],)).fetchall()
            finally:
                connection.execute("COMMIT")
        except sqlite3.Error as error:
            raise StorageError(f"SQLite read failed: {error}") from error
        return Changes((epoch, seq), [make_row(*row) for row in rows], reset)

    def silver_names(self) -> dict[str, str]:
        try:
            return dict(self._reader().execute("SELECT DISTINCT raw_vegetable, vegetable FROM silver_sales"))
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


class SqliteWrite(SqlReads):
    """The operations of one SQLite write transaction."""

    PARAM = "?"

    def __init__(self, connection: sqlite3.Connection):
        self._connection = connection
        self._seq: int | None = None

    def _change_seq(self) -> int:
        # Only a transaction that really writes gets a new seq, so replays keep caches valid.
        if self._seq is None:
            query = "UPDATE store_version SET seq = seq + 1 RETURNING seq"
            self._seq = self._connection.execute(query).fetchall()[0][0]
        return self._seq

    def bronze_kilos(self, keys: Collection[BronzeKey]) -> dict[BronzeKey, float]:
        if len(keys) > BULK_LOOKUP:
            # One range scan over the dates concerned beats thousands of point lookups.
            dates = [date for date, _ in keys]
            rows = self._connection.execute(
                "SELECT date, vegetable, kilo_sold FROM bronze_sales WHERE date BETWEEN ? AND ?",
                (min(dates), max(dates)),
            )
            return {(date, vegetable): kilos for date, vegetable, kilos in rows if (date, vegetable) in keys}
        query = "SELECT kilo_sold FROM bronze_sales WHERE date = ? AND vegetable = ?"
        found = {}
        for key in keys:
            row = self._connection.execute(query, key).fetchone()
            if row is not None:
                found[key] = row[0]
        return found

    def put_bronze(self, rows: Sequence[BronzeRow]) -> None:
        seq = self._change_seq()
        self._connection.executemany(
            "INSERT INTO bronze_sales (date, vegetable, kilo_sold, change_seq) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (date, vegetable) DO UPDATE "
            "SET kilo_sold = excluded.kilo_sold, change_seq = excluded.change_seq",
            [(row.date, row.vegetable, row.kilo_sold, seq) for row in rows],
        )

    def put_silver(self, rows: Sequence[SilverRow]) -> None:
        self._connection.executemany(
            "INSERT INTO silver_sales (date, vegetable, kilo_sold, raw_vegetable) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (date, raw_vegetable) DO UPDATE "
            "SET vegetable = excluded.vegetable, kilo_sold = excluded.kilo_sold",
            [(row.date, row.vegetable, row.kilo_sold, row.raw_vegetable) for row in rows],
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
