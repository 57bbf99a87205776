"""One app's state, which its endpoints serve from."""

from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI

from ..json_bodies import JsonBodies
from ..metrics import Metrics, StoreCollector
from ..pipeline import IngestReport, PostWriter
from ..quality import VegetableQuality
from ..quarantine import MAX_REJECTED
from ..reports import bronze_quality, raw_sale_json
from ..rows import BronzeRow, GoldRow
from ..silver import FeedRules
from ..storage import Store

RECENT_RECORDS = 1000


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 16 * 1024 * 1024  # 100,000 records take ~7 MB
    max_records: int = 100_000
    max_rejected: int = MAX_REJECTED
    """Distinct rejected records kept in quarantine."""


class Service:
    """What one app's endpoints serve from: the store and its writer, the limits, the raw and monthly
    tables as cached JSON, the outcome of the last records received, the metrics (None: off)."""

    def __init__(self, store: Store, rules: FeedRules, limits: Limits, metrics: bool):
        self.store, self.limits = store, limits
        self.writer = PostWriter(store, rules, limits.max_rejected)
        self.raw_sales: JsonBodies[BronzeRow] = JsonBodies(
            store.bronze_changes, key=lambda row: row.key, render=raw_sale_json
        )
        self.monthly_sales: JsonBodies[GoldRow] = JsonBodies(
            store.gold_changes, key=lambda row: row.key, variants={"without_outliers": lambda row: not row.is_outlier}
        )
        self.recent: deque[bool] = deque(maxlen=RECENT_RECORDS)
        """Whether each of the last records this process received was rejected."""
        self._quality: tuple[str, list[VegetableQuality]] = ("", [])
        self.metrics = Metrics(StoreCollector(store.table_sizes, self.quality)) if metrics else None

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        """While the app is served: the tables read at start-up, the store closed at shutdown."""
        self.raw_sales.refresh()
        self.monthly_sales.refresh()
        yield
        self.store.close()

    def received(self, report: IngestReport) -> None:
        """A post's outcome, in the metrics and in the recent outcomes."""
        if self.metrics:
            self.metrics.observe_post(report)
        rejected = {rejection.index for rejection in report.rejected}
        self.recent.extend(
            index in rejected for index in range(max(0, report.received - RECENT_RECORDS), report.received)
        )

    def gold_rows(self) -> list[GoldRow]:
        """The monthly table's current rows."""
        return self.gold_rows_of_version()[0]

    def gold_rows_of_version(self) -> tuple[list[GoldRow], int]:
        """The monthly table's current rows, and the data version they come from."""
        with self.monthly_sales.lock:
            self.monthly_sales.refresh()
            return self.monthly_sales.rows(), self.monthly_sales.data_version()

    def quality(self) -> list[VegetableQuality]:
        """Per vegetable: weeks, gaps and the latest week's robust z-score; computed once per bronze version."""
        self.raw_sales.refresh()
        version = self.raw_sales.etag()
        if self._quality[0] != version:
            self._quality = (version, bronze_quality(self.raw_sales.rows(), self.writer.rules.vocabulary))
        return self._quality[1]
