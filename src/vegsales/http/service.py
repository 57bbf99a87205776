"""One app's state, which its endpoints serve from."""

import asyncio
import logging
from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, get_args

from anyio import to_thread
from fastapi import FastAPI

from ..history import compact, keep_history
from ..metrics import Metrics, StoreCollector
from ..pipeline import IngestReport, PostWriter, WarningCode
from ..quality import VegetableQuality
from ..quarantine import MAX_REJECTED
from ..reports import bronze_quality
from ..rows import GoldRow
from ..silver import FeedRules
from ..storage import StorageError, Store
from .as_of import Snapshots
from .tables import cleaned, monthly_table, raw_table, weekly_table

RECENT_RECORDS = 1000
COMPACT_EVERY_SECONDS = 3600.0
"""How often the row history is cut back to the retention (and once at start)."""
log = logging.getLogger("vegsales")


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 16 * 1024 * 1024  # 100,000 records take ~7 MB
    max_records: int = 100_000
    max_rejected: int = MAX_REJECTED
    """Distinct rejected records kept in quarantine."""
    history_days: int = 400
    """Days of data versions kept for `as_of` reads."""


class Service:
    """What one app's endpoints serve from: the store and its writer, the limits, the raw and monthly
    tables as cached JSON, the outcome of the last records received, the metrics (None: off)."""

    def __init__(self, store: Store, rules: FeedRules, limits: Limits, metrics: bool):
        self.store, self.limits = store, limits
        self.writer = PostWriter(store, rules, limits.max_rejected)
        self.raw_sales = raw_table(store.bronze_changes)
        self.weekly_sales = weekly_table(cleaned(store.bronze_changes, rules.vocabulary))
        self.monthly_sales = monthly_table(store.gold_changes)
        self.snapshots = Snapshots(store, limits.history_days)
        self.table_reads: dict[tuple[str, bytes, str | None], tuple[Any, dict[str, str]]] = {}
        """Each table read's request (path, query string, Accept) as read the first time it came
        (http/table_reads.py): it names the same rows every time, whatever the data."""
        self.recent: deque[bool] = deque(maxlen=RECENT_RECORDS)
        """Whether each of the last records this process received was rejected."""
        self.warnings: Counter[str] = Counter({code: 0 for code in get_args(WarningCode)})
        """Warnings about stored records since this process started, by code."""
        self._quality: tuple[str, list[VegetableQuality]] = ("", [])
        self.metrics = Metrics(StoreCollector(store.table_sizes, self.quality)) if metrics else None

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        """While the app is served: the tables read at start-up, the row history kept to the retention
        (at start, then every hour, in a worker thread), the store closed at shutdown."""
        try:
            keep_history(self.store)
        except StorageError as error:  # reads go on; `as_of` answers 503 until a start that can write
            log.warning("history: cannot start the row history: %s", error)
        self._compact()
        self.raw_sales.refresh()
        self.monthly_sales.refresh()
        compacting = asyncio.get_running_loop().create_task(self._compact_regularly())
        yield
        compacting.cancel()  # a compaction under way ends first: its thread is never cut short
        with suppress(asyncio.CancelledError):
            await compacting
        self.store.close()

    async def _compact_regularly(self) -> None:
        while True:
            await asyncio.sleep(COMPACT_EVERY_SECONDS)
            await to_thread.run_sync(self._compact)

    def _compact(self) -> None:
        try:
            dropped = compact(self.store, self.limits.history_days)
        except StorageError as error:
            log.warning("history: compaction failed, tried again later: %s", error)
            return
        if dropped:
            log.info("history: %d rows of versions past %d days compacted", dropped, self.limits.history_days)

    def received(self, report: IngestReport) -> None:
        """A post's outcome, in the metrics and in the recent outcomes."""
        if self.metrics:
            self.metrics.observe_post(report)
        self.warnings.update(warning.code for warning in report.warnings)
        rejected = {rejection.index for rejection in report.rejected}
        self.recent.extend(
            index in rejected for index in range(max(0, report.received - RECENT_RECORDS), report.received)
        )

    def gold_rows(self) -> list[GoldRow]:
        """The monthly table's current rows."""
        return self.gold_rows_of_version()[0]

    def gold_rows_of_version(self, as_of: str | None = None) -> tuple[list[GoldRow], int]:
        """The monthly table's rows, current or as of an earlier version, and the data version they come from."""
        table = self.monthly_sales if as_of is None else self.snapshots.of(as_of).monthly_sales
        with table.lock:
            table.refresh()
            return table.rows(), table.data_version()

    def quality(self) -> list[VegetableQuality]:
        """Per vegetable: weeks, gaps and the latest week's robust z-score; computed once per bronze version."""
        self.raw_sales.refresh()
        version = self.raw_sales.etag()
        if self._quality[0] != version:
            self._quality = (version, bronze_quality(self.raw_sales.rows(), self.writer.rules.vocabulary))
        return self._quality[1]
