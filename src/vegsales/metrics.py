"""Prometheus metrics: HTTP, pipeline, store and data quality, in prometheus-client's text format.

With several worker processes (`--workers N`), PROMETHEUS_MULTIPROC_DIR is set before they
start: each writes its counters to files there, and a scrape of any worker adds them all up
(prometheus-client's multiprocess mode). Labels take bounded values only: route templates,
methods, status codes, field names of the record, error codes, canonical vegetables.
"""

import bisect
import datetime as dt
import itertools
import os
import time
from collections.abc import Callable, Iterable
from typing import Any, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from .pipeline import IngestReport, WarningCode
from .quality import VegetableQuality
from .records import FieldError

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: they double the output
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
RECORD_FIELDS = ("record", "date", "vegetable", "kilo_sold")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})
"""Request methods counted under their name; any other token a client sends counts as "other"."""
OUTCOMES = ("received", "inserted", "updated", "unchanged", "rejected")


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def rejection_reason(error: FieldError) -> tuple[str, str]:
    """(field, reason) labels of a rejection: the field if it is one of the record's (never the raw
    name of another), and the error's code (never its message, which may be reworded)."""
    return error.field if error.field in RECORD_FIELDS else "other", error.code


REQUESTS_HELP = "HTTP requests answered"
LATENCY_HELP = "Time to answer a request, from its first byte received to its last byte sent"
IN_FLIGHT_HELP = "Requests being answered"
BUCKET_BOUNDS = [*map(floatToGoString, LATENCY_BUCKETS), "+Inf"]  # as prometheus-client writes them


class RequestCounts(Collector):
    """The per-request series of one process as plain numbers: a request costs a few dictionary
    updates instead of prometheus-client's checks and locks on four series (a few per cent of a
    request); they become metric families, in the same text format, at scrape time."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.counts: dict[tuple[str, str, int], int] = {}
        self.buckets: dict[str, list[int]] = {}
        """Per route, the requests in each latency bucket (not cumulative), then those above the last."""
        self.sums: dict[str, float] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.in_flight -= 1
        key = (route, method, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        if route == "/metrics":  # its scrapes would skew the latencies
            return
        buckets = self.buckets.get(route)
        if buckets is None:
            buckets = self.buckets[route] = [0] * (len(LATENCY_BUCKETS) + 1)
            self.sums[route] = 0.0
        buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.sums[route] += seconds

    def collect(self) -> Iterable[Metric]:
        requests = CounterMetricFamily("vegsales_http_requests", REQUESTS_HELP, labels=["route", "method", "status"])
        for (route, method, status), count in list(self.counts.items()):
            requests.add_metric([route, method, str(status)], count)
        yield requests
        latency = HistogramMetricFamily("vegsales_http_request_duration_seconds", LATENCY_HELP, labels=["route"])
        for route, buckets in list(self.buckets.items()):
            cumulative = list(itertools.accumulate(buckets))
            latency.add_metric([route], list(zip(BUCKET_BOUNDS, cumulative, strict=True)), self.sums[route])
        yield latency
        yield GaugeMetricFamily("vegsales_http_requests_in_flight", IN_FLIGHT_HELP, value=self.in_flight)

    def describe(self) -> Iterable[Any]:
        return []


class Metrics:
    """The service's metrics, in a registry of their own (one per app)."""

    def __init__(self, *collectors: Collector) -> None:
        self.collectors = collectors
        """Figures computed at scrape time (rows per table, data quality)."""
        self.registry = CollectorRegistry(auto_describe=True)
        registry = None if multiprocess() else self.registry  # multiprocess: values live in files
        # The per-request series: in one process, plain numbers turned into metric families at
        # scrape time (RequestCounts); with several workers, prometheus-client's shared files.
        self._counts: RequestCounts | None = None
        self.requests: Counter | None = None
        self.latency: Histogram | None = None
        self.in_flight: Gauge | None = None
        if multiprocess():
            self.requests = Counter(
                "vegsales_http_requests", REQUESTS_HELP, ["route", "method", "status"], registry=registry
            )
            self.latency = Histogram(
                "vegsales_http_request_duration_seconds",
                LATENCY_HELP,
                ["route"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            )
            self.in_flight = Gauge(
                "vegsales_http_requests_in_flight", IN_FLIGHT_HELP, registry=registry, multiprocess_mode="livesum"
            )
        else:
            self._counts = RequestCounts()
            self.registry.register(self._counts)
        self.posts = Counter("vegsales_posts", "Posts of sales, by result", ["result"], registry=registry)
        self.records = Counter(
            "vegsales_records",
            "Records received, by what became of them (received counts them all)",
            ["outcome"],
            registry=registry,
        )
        self.rejections = Counter(
            "vegsales_rejections", "Reasons records were rejected for", ["field", "reason"], registry=registry
        )
        self.warnings = Counter(
            "vegsales_warnings", "Warnings about stored records, by code", ["code"], registry=registry
        )
        for code in get_args(WarningCode):  # each series from the start, at 0: a rate() needs the zero
            self.warnings.labels(code)
        self.last_post = Gauge(
            "vegsales_last_stored_post_timestamp_seconds",
            "When a post last stored something (Unix time)",
            registry=registry,
            multiprocess_mode="max",
        )
        self.store_errors = Counter("vegsales_store_errors", "Requests the store could not serve", registry=registry)
        if not multiprocess():
            ProcessCollector(registry=self.registry)
            for collector in collectors:
                self.registry.register(collector)
        # Each request updates a few series: their children are looked up once, not at every
        # request (labels() validates and locks each time, half the cost of counting).
        self._request_series: dict[tuple[str, str, int], tuple[Counter, Histogram | None]] = {}
        self._post_series = {True: self.posts.labels("stored"), False: self.posts.labels("all_rejected")}
        self._record_series = {outcome: self.records.labels(outcome) for outcome in OUTCOMES}

    def request_started(self) -> None:
        if self._counts is not None:
            self._counts.in_flight += 1
        else:
            assert self.in_flight is not None
            self.in_flight.inc()

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """A request answered (and no longer in flight)."""
        label = method if method in METHODS else "other"
        if self._counts is not None:
            self._counts.observe(route, label, status, seconds)
            return
        assert self.in_flight is not None and self.requests is not None and self.latency is not None
        self.in_flight.dec()
        series = self._request_series.get((route, label, status))
        if series is None:
            latency = None if route == "/metrics" else self.latency.labels(route)  # its scrapes would skew it
            series = self._request_series[route, label, status] = (
                self.requests.labels(route, label, str(status)),
                latency,
            )
        count, histogram = series
        count.inc()
        if histogram is not None:
            histogram.observe(seconds)

    def observe_post(self, report: IngestReport) -> None:
        self._post_series[report.stored_any].inc()
        counts = (report.received, report.inserted, report.updated, report.unchanged, len(report.rejected))
        for outcome, count in zip(OUTCOMES, counts, strict=True):
            if count:
                self._record_series[outcome].inc(count)
        for rejection in report.rejected:
            for error in rejection.errors:
                self.rejections.labels(*rejection_reason(error)).inc()
        for warning in report.warnings:
            self.warnings.labels(warning.code).inc()
        if report.inserted or report.updated:
            self.last_post.set(time.time())

    def scrape(self) -> bytes:
        """Every metric in the text format: this process's, or with several workers all of theirs."""
        if not multiprocess():
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in prometheus-client
        ProcessCollector(registry=registry)  # the answering worker's own memory, CPU and files
        for collector in self.collectors:
            registry.register(collector)
        return generate_latest(registry)


class StoreCollector(Collector):
    """Figures read from the store at scrape time: rows per table, quarantine, data quality."""

    def __init__(self, sizes: Callable[[], dict[str, int]], quality: Callable[[], list[VegetableQuality]]):
        self.sizes, self.quality = sizes, quality

    def collect(self) -> Iterable[Metric]:
        rows = GaugeMetricFamily("vegsales_table_rows", "Rows per table", labels=["table"])
        for table, count in self.sizes().items():
            rows.add_metric([table], count)
        yield rows
        z = GaugeMetricFamily(
            "vegsales_latest_week_robust_z",
            "How far each vegetable's latest week sits from its earlier weeks: (kilos - median) / (1.4826 x MAD)",
            labels=["vegetable"],
        )
        week = GaugeMetricFamily(
            "vegsales_latest_week_timestamp_seconds",
            "The first day of each vegetable's latest week",
            labels=["vegetable"],
        )
        for figures in self.quality():
            z.add_metric([figures.vegetable], figures.latest_z if figures.latest_z is not None else float("nan"))
            day = dt.datetime.fromisoformat(figures.last_week).replace(tzinfo=dt.UTC)
            week.add_metric([figures.vegetable], day.timestamp())
        yield z
        yield week

    def describe(self) -> Iterable[Any]:
        return []
