"""PostgreSQL storage: several API processes (replicas) on one database.

Writers are serialised by a row lock on `store_version`, taken at the start of every write
transaction and held until its commit: the incremental gold update of one post can never race
another's, on any replica, and commit order equals seq order, which the change feeds rely on.
A post holds the lock for about a millisecond. Readers never wait: a change-feed read is one
statement, so it sees one snapshot (version and rows together).
"""

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ..tables import BronzeKey, BronzeRow, GoldRow, SilverRow
from .base import Changes, Cursor, StorageError, StoreBusy
from .sql import SqlReads

# COLLATE "C": ORDER BY in code-point order, as Python sorts (the gold sums depend on it).
SCHEMA = """
CREATE TABLE IF NOT EXISTS store_version (
    id integer PRIMARY KEY CHECK (id = 1),
    epoch bigint NOT NULL,
    seq bigint NOT NULL
);
-- A random first epoch: a recreated database never reuses an old ETag.
INSERT INTO store_version VALUES (1, floor(random() * 2 ^ 52)::bigint, 0) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS bronze_sales (
    date text COLLATE "C" NOT NULL,
    vegetable text COLLATE "C" NOT NULL,
    kilo_sold double precision NOT NULL,
    change_seq bigint NOT NULL,
    PRIMARY KEY (date, vegetable)
);
CREATE INDEX IF NOT EXISTS bronze_sales_change_seq ON bronze_sales (change_seq);
CREATE TABLE IF NOT EXISTS silver_sales (
    date text COLLATE "C" NOT NULL,
    vegetable text COLLATE "C" NOT NULL,
    kilo_sold double precision NOT NULL,
    raw_vegetable text COLLATE "C" NOT NULL,
    PRIMARY KEY (date, raw_vegetable)
);
CREATE INDEX IF NOT EXISTS silver_sales_vegetable_date ON silver_sales (vegetable, date, raw_vegetable);
CREATE TABLE IF NOT EXISTS gold_sales (
    year_month text COLLATE "C" NOT NULL,
    vegetable text COLLATE "C" NOT NULL,
    kilo_sold double precision NOT NULL,
    is_outlier boolean NOT NULL,
    change_seq bigint NOT NULL,
    PRIMARY KEY (vegetable, year_month)
);
CREATE INDEX IF NOT EXISTS gold_sales_change_seq ON gold_sales (change_seq);
"""

# One statement: the version and the rows come from the same snapshot. A cursor from another
# epoch (the tables were emptied since) gets every row.
CHANGES = """
SELECT v.epoch, v.seq, t.*
FROM store_version v
LEFT JOIN (SELECT {columns}, change_seq FROM {table}) t
  ON t.change_seq > CASE WHEN v.epoch = %(epoch)s THEN %(seq)s ELSE -1 END
"""


class PostgresStore:
    """The three tables in a PostgreSQL database (or one schema of it), created on first use."""

    writes_wait_on_io = True

    def __init__(self, url: str, schema: str | None = None, pool_size: int = 8):
        self.url = url
        # UTF-8 whatever the server's encoding (a SQL_ASCII database would hand back bytes); a
        # schema of its own for tests; otherwise the URL's own settings, ?options=... included.
        options = {"client_encoding": "utf8"} | ({"options": f"-c search_path={schema}"} if schema else {})
        # Autocommit: a read is one statement and one round trip, with no COMMIT after it; writes
        # open their transaction explicitly.
        self._pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, kwargs={"autocommit": True, **options}, open=False
        )
        try:
            # A direct first connection fails fast with the server's own message.
            with psycopg.connect(url, connect_timeout=10, **options) as connection:
                # Concurrent first starts of several replicas: one creates the tables, the others wait.
                connection.execute("SELECT pg_advisory_xact_lock(hashtext('vegsales schema'))")
                connection.execute(SCHEMA)
            self._pool.open(wait=True, timeout=10)
        except (psycopg.Error, PoolTimeout) as error:
            self._pool.close()
            raise StorageError(f"cannot open PostgreSQL database {redact(url)}: {error}") from error

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        try:
            with self._pool.connection(timeout=10) as connection:
                yield connection
        except (psycopg.OperationalError, PoolTimeout, psycopg.errors.AdminShutdown) as error:
            raise StorageError(f"PostgreSQL is not available: {error}") from error
        except psycopg.Error as error:
            raise StorageError(f"PostgreSQL error: {error}") from error

    def init(self) -> None:
        with self._connection() as connection, connection.transaction():
            connection.execute("SELECT seq FROM store_version FOR UPDATE")
            connection.execute("TRUNCATE bronze_sales, silver_sales, gold_sales")
            connection.execute("UPDATE store_version SET epoch = epoch + 1, seq = seq + 1")

    @contextmanager
    def write(self, wait: bool = True) -> Iterator["PostgresWrite"]:
        # Pipeline mode: statements whose replies are not needed yet (the puts, the commit) travel
        # together with the next query, so the write lock is held for fewer round trips.
        with self._connection() as connection, connection.pipeline(), connection.transaction():
            try:
                if not wait:
                    connection.execute("SELECT seq FROM store_version FOR UPDATE NOWAIT").fetchone()
                seq = connection.execute("UPDATE store_version SET seq = seq + 1 RETURNING seq").fetchone()[0]
            except psycopg.errors.LockNotAvailable:
                raise StoreBusy from None
            transaction = PostgresWrite(connection, seq)
            yield transaction
            if not transaction.wrote:
                raise psycopg.Rollback  # a replay changed nothing: keep the version (and the ETags)

    def bronze_changes(self, since: Cursor | None) -> Changes[BronzeRow]:
        rows = self._changes("bronze_sales", "date, vegetable, kilo_sold", since)
        return self._to_changes(rows, since, lambda date, vegetable, kilos, _: BronzeRow(date, vegetable, kilos))

    def gold_changes(self, since: Cursor | None) -> Changes[GoldRow]:
        rows = self._changes("gold_sales", "year_month, vegetable, kilo_sold, is_outlier", since)
        return self._to_changes(
            rows, since, lambda month, vegetable, kilos, flag, _: GoldRow(month, vegetable, kilos, flag)
        )

    def _changes(self, table: str, columns: str, since: Cursor | None) -> list[tuple]:
        epoch, seq = since or (-1, -1)
        with self._connection() as connection:
            return connection.execute(
                CHANGES.format(table=table, columns=columns), {"epoch": epoch, "seq": seq}
            ).fetchall()

    @staticmethod
    def _to_changes(rows: list[tuple], since: Cursor | None, make_row) -> Changes:
        epoch, seq = rows[0][0], rows[0][1]
        found = [make_row(*row[2:]) for row in rows if row[2] is not None]
        return Changes((epoch, seq), found, since is None or since[0] != epoch)

    def silver_names(self) -> dict[str, str]:
        with self._connection() as connection:
            return dict(connection.execute("SELECT DISTINCT raw_vegetable, vegetable FROM silver_sales").fetchall())

    def check(self) -> None:
        with self._connection() as connection:
            connection.execute("SELECT seq FROM store_version").fetchone()

    def close(self) -> None:
        self._pool.close()


class PostgresWrite(SqlReads):
    """The operations of one PostgreSQL write transaction (which holds the write lock)."""

    PARAM = "%s"

    def __init__(self, connection: psycopg.Connection, seq: int):
        self._connection = connection
        self._seq = seq
        self.wrote = False

    def _change_seq(self) -> int:
        self.wrote = True
        return self._seq

    def bronze_kilos(self, keys: Collection[BronzeKey]) -> dict[BronzeKey, float]:
        dates, vegetables = zip(*keys, strict=True) if keys else ((), ())
        rows = self._connection.execute(
            "SELECT b.date, b.vegetable, b.kilo_sold FROM bronze_sales b "
            "JOIN unnest(%s::text[], %s::text[]) AS k(date, vegetable) USING (date, vegetable)",
            (list(dates), list(vegetables)),
        )
        return {(date, vegetable): kilos for date, vegetable, kilos in rows}

    def put_bronze(self, rows: Sequence[BronzeRow]) -> None:
        self._connection.execute(
            "INSERT INTO bronze_sales (date, vegetable, kilo_sold, change_seq) "
            "SELECT date, vegetable, kilo_sold, %s FROM unnest(%s::text[], %s::text[], %s::float8[]) "
            "AS r(date, vegetable, kilo_sold) "
            "ON CONFLICT (date, vegetable) DO UPDATE "
            "SET kilo_sold = excluded.kilo_sold, change_seq = excluded.change_seq",
            (self._change_seq(), [r.date for r in rows], [r.vegetable for r in rows], [r.kilo_sold for r in rows]),
        )

    def put_silver(self, rows: Sequence[SilverRow]) -> None:
        self.wrote = True
        self._connection.execute(
            "INSERT INTO silver_sales (date, vegetable, kilo_sold, raw_vegetable) "
            "SELECT * FROM unnest(%s::text[], %s::text[], %s::float8[], %s::text[]) "
            "ON CONFLICT (date, raw_vegetable) DO UPDATE "
            "SET vegetable = excluded.vegetable, kilo_sold = excluded.kilo_sold",
            (
                [r.date for r in rows],
                [r.vegetable for r in rows],
                [r.kilo_sold for r in rows],
                [r.raw_vegetable for r in rows],
            ),
        )

    def put_gold(self, rows: Sequence[GoldRow]) -> None:
        if not rows:
            return
        self._connection.execute(
            "INSERT INTO gold_sales (year_month, vegetable, kilo_sold, is_outlier, change_seq) "
            "SELECT month, vegetable, kilo_sold, is_outlier, %s "
            "FROM unnest(%s::text[], %s::text[], %s::float8[], %s::boolean[]) "
            "AS r(month, vegetable, kilo_sold, is_outlier) "
            "ON CONFLICT (vegetable, year_month) DO UPDATE "
            "SET kilo_sold = excluded.kilo_sold, is_outlier = excluded.is_outlier, change_seq = excluded.change_seq",
            (
                self._change_seq(),
                [r.year_month for r in rows],
                [r.vegetable for r in rows],
                [r.kilo_sold for r in rows],
                [r.is_outlier for r in rows],
            ),
        )


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(invalid URL)"
    info.pop("password", None)
    return psycopg.conninfo.make_conninfo(**info)
