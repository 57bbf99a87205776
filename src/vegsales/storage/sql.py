"""What the SQL backends' write transactions share: reads, and replacing silver and gold whole."""

from collections.abc import Sequence
from typing import Any

from ..tables import BronzeRow, GoldRow, SilverRow

SILVER_ROWS = (
    "SELECT date, kilo_sold, raw_vegetable FROM silver_sales "
    "WHERE vegetable = {p} AND date BETWEEN {p} AND {p} ORDER BY date, raw_vegetable"
)
GOLD_ROWS = "SELECT year_month, kilo_sold, is_outlier FROM gold_sales WHERE vegetable = {p}"


class SqlReads:
    """Mixed into a write transaction that has `_connection` (DB-API style), `put_silver` and
    `put_gold`; PARAM is the driver's placeholder."""

    PARAM: str
    _connection: Any

    def silver_rows(self, vegetable: str, first_date: str, last_date: str) -> list[SilverRow]:
        rows = self._connection.execute(SILVER_ROWS.format(p=self.PARAM), (vegetable, first_date, last_date))
        return [SilverRow(date, vegetable, kilos, raw) for date, kilos, raw in rows]

    def gold_rows(self, vegetable: str) -> list[GoldRow]:
        rows = self._connection.execute(GOLD_ROWS.format(p=self.PARAM), (vegetable,))
        return [GoldRow(month, vegetable, kilos, bool(flag)) for month, kilos, flag in rows]

    def bronze_rows(self) -> list[BronzeRow]:
        return [
            BronzeRow(*row) for row in self._connection.execute("SELECT date, vegetable, kilo_sold FROM bronze_sales")
        ]

    def replace_silver_and_gold(self, silver: Sequence[SilverRow], gold: Sequence[GoldRow]) -> None:
        self._connection.execute("DELETE FROM silver_sales")
        self._connection.execute("DELETE FROM gold_sales")
        self._connection.execute("UPDATE store_version SET epoch = epoch + 1")
        self.put_silver(silver)
        self.put_gold(gold)

    def put_silver(self, rows: Sequence[SilverRow]) -> None: ...

    def put_gold(self, rows: Sequence[GoldRow]) -> None: ...
