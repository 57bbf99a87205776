"""What the SQL backends' write transactions share: reads, the quarantine and the settings."""

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from ..tables import BronzeRow, GoldRow, RejectedRow, SilverRow

BRONZE_COLUMNS = "date, vegetable, kilo_sold, week_start, received_at"
REJECTED_COLUMNS = "record_hash, record, truncated, errors, first_received, last_received, times"
SILVER_ROWS = (
    "SELECT week_start, kilo_sold, raw_vegetable, date FROM silver_sales "
    "WHERE vegetable = {p} AND week_start BETWEEN {p} AND {p} ORDER BY week_start, raw_vegetable"
)
GOLD_ROWS = "SELECT year_month, kilo_sold, is_outlier FROM gold_sales WHERE vegetable = {p}"
CHUNK = 500
"""Keys per `IN (...)` query: one statement per chunk instead of one per key."""


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


def rejected_row(
    record_hash: str, record: str, truncated: Any, errors: str, first: str, last: str, times: int
) -> RejectedRow:
    return RejectedRow(record_hash, record, bool(truncated), errors, first, last, times)


def rejected_values(row: RejectedRow) -> tuple[str, str, bool, str, str, str, int]:
    return (row.record_hash, row.record, row.truncated, row.errors, row.first_received, row.last_received, row.times)


class SqlTransaction(ABC):
    """A write transaction on a DB-API style `_connection`; PARAM is the driver's placeholder."""

    PARAM: str
    _connection: Any
    _gold: GoldCache

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self._connection.execute(sql.format(p=self.PARAM), parameters))

    def _run(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        self._connection.execute(sql.format(p=self.PARAM), parameters)

    def silver_rows(self, vegetable: str, first_week: str, last_week: str) -> list[SilverRow]:
        rows = self._query(SILVER_ROWS, (vegetable, first_week, last_week))
        return [SilverRow(week, vegetable, kilos, raw, date) for week, kilos, raw, date in rows]

    def gold_rows(self, vegetable: str) -> Mapping[str, GoldRow]:
        months = self._gold.by_vegetable.get(vegetable)
        if months is None:
            rows = self._query(GOLD_ROWS, (vegetable,))
            months = {month: GoldRow(month, vegetable, kilos, bool(flag)) for month, kilos, flag in rows}
            self._gold.by_vegetable[vegetable] = months
        return months

    def bronze_rows(self) -> list[BronzeRow]:
        return [BronzeRow(*row) for row in self._query(f"SELECT {BRONZE_COLUMNS} FROM bronze_sales")]

    def silver_names(self) -> dict[str, str]:
        return dict(self._query("SELECT DISTINCT raw_vegetable, vegetable FROM silver_sales"))

    def replace_tables(
        self, bronze: Sequence[BronzeRow] | None, silver: Sequence[SilverRow], gold: Sequence[GoldRow]
    ) -> None:
        self._gold.clear()
        if bronze is not None:
            self._run("DELETE FROM bronze_sales")
        self._run("DELETE FROM silver_sales")
        self._run("DELETE FROM gold_sales")
        self._run("UPDATE store_version SET epoch = epoch + 1")
        if bronze:
            self.put_bronze(bronze)
        self.put_silver(silver)
        self.put_gold(gold)

    def rejected_rows(self, hashes: Collection[str]) -> dict[str, RejectedRow]:
        keys, found = list(hashes), {}
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            marks = ", ".join([self.PARAM] * len(chunk))
            for values in self._query(
                f"SELECT {REJECTED_COLUMNS} FROM rejected_sales WHERE record_hash IN ({marks})", chunk
            ):
                found[values[0]] = rejected_row(*values)
        return found

    def all_rejected(self) -> list[RejectedRow]:
        return [rejected_row(*values) for values in self._query(f"SELECT {REJECTED_COLUMNS} FROM rejected_sales")]

    def trim_rejected(self, keep: int) -> int:
        count = int(self._query("SELECT count(*) FROM rejected_sales")[0][0])
        if count <= keep:
            return 0
        self._run(
            "DELETE FROM rejected_sales WHERE record_hash IN "
            "(SELECT record_hash FROM rejected_sales ORDER BY last_received, record_hash LIMIT {p})",
            (count - keep,),
        )
        return count - keep

    def meta(self) -> dict[str, str]:
        return dict(self._query("SELECT key, value FROM store_meta"))

    @abstractmethod
    def put_bronze(self, rows: Sequence[BronzeRow]) -> None: ...

    @abstractmethod
    def put_silver(self, rows: Sequence[SilverRow]) -> None: ...

    @abstractmethod
    def put_gold(self, rows: Sequence[GoldRow]) -> None: ...
