"""Serve the API with uvicorn, in one process or several on one database."""

import ctypes
import gc
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import uvicorn

from .api import Limits, SalesApp, create_app
from .guards import Security
from .logs import LogFormat, configure_logging
from .pipeline import SyncReport, sync_with_rules
from .quarantine import MAX_REJECTED
from .records import WeekDate
from .silver import FeedRules
from .storage.registry import BACKENDS, backend_of, open_store
from .vegetables import Vocabulary

log = logging.getLogger("vegsales")


@dataclass(frozen=True)
class Settings:
    """What a server process needs to build its app; passed to worker processes as VEGSALES_* variables."""

    backend: str = "sqlite"
    location: str = BACKENDS["sqlite"].default_location
    vocabulary: Path | None = None
    week_date: WeekDate = "start"
    max_rejected: int = MAX_REJECTED
    security: Security = field(default_factory=Security)
    log_format: LogFormat = "text"
    access_log: bool = False
    metrics: bool = True

    def to_environment(self) -> dict[str, str]:
        hosts = self.security.allowed_hosts
        variables = {
            "VEGSALES_BACKEND": self.backend,
            "VEGSALES_LOCATION": self.location,
            "VEGSALES_WEEK_DATE": self.week_date,
            "VEGSALES_MAX_REJECTED": str(self.max_rejected),
            "VEGSALES_ALLOWED_HOSTS": "*" if hosts is None else ",".join(hosts),
            "VEGSALES_ALLOWED_ORIGINS": ",".join(self.security.allowed_origins),
            "VEGSALES_LOG_FORMAT": self.log_format,
            "VEGSALES_ACCESS_LOG": "1" if self.access_log else "0",
            "VEGSALES_METRICS": "1" if self.metrics else "0",
        }
        if self.vocabulary:
            variables["VEGSALES_VOCABULARY"] = str(self.vocabulary)
        return variables

    @classmethod
    def from_environment(cls) -> "Settings":
        vocabulary = os.environ.get("VEGSALES_VOCABULARY")
        backend = os.environ.get("VEGSALES_BACKEND", "sqlite")
        return cls(
            backend=backend,
            location=os.environ.get("VEGSALES_LOCATION") or BACKENDS[backend].default_location,
            vocabulary=Path(vocabulary) if vocabulary else None,
            week_date="end" if os.environ.get("VEGSALES_WEEK_DATE") == "end" else "start",
            max_rejected=int(os.environ.get("VEGSALES_MAX_REJECTED", MAX_REJECTED)),
            security=security_settings(
                os.environ.get("VEGSALES_ALLOWED_HOSTS"), os.environ.get("VEGSALES_ALLOWED_ORIGINS"), "0.0.0.0"
            ),
            log_format="json" if os.environ.get("VEGSALES_LOG_FORMAT") == "json" else "text",
            access_log=os.environ.get("VEGSALES_ACCESS_LOG") == "1",
            metrics=os.environ.get("VEGSALES_METRICS", "1") == "1",
        )


def security_settings(hosts: str | None, origins: str | None, bind_host: str) -> Security:
    """The protections: hosts and origins as comma-separated lists (hosts `*`: any; unset: the
    loopback names when serving on a loopback address), tokens from VEGSALES_WRITE_TOKEN and
    VEGSALES_ADMIN_TOKEN (environment only: a flag would show them in `ps`)."""
    names = [name.strip() for name in (hosts or "").split(",") if name.strip()]
    return Security(
        allowed_hosts=None if names == ["*"] else tuple(names) if names else Security.default_hosts(bind_host),
        allowed_origins=tuple(origin.strip() for origin in (origins or "").split(",") if origin.strip()),
        write_token=os.environ.get("VEGSALES_WRITE_TOKEN") or None,
        admin_token=os.environ.get("VEGSALES_ADMIN_TOKEN") or None,
    )


def chosen_store(backend: str | None, location: str | None, aliases: dict[str, str | None]) -> tuple[str, str]:
    """(backend, location) from the settings: `location` (or the older flag of the backend, in
    `aliases` by flag), else the backend's default. Without a backend, the one the location
    names; a postgresql:// URL always means PostgreSQL (`app_sql.py --db postgresql://...`)."""
    name = backend or (backend_of(location).name if location else "sqlite")
    location = location or aliases.get(BACKENDS[name].location_flag) or BACKENDS[name].default_location
    if name == "sqlite" and BACKENDS["postgres"].recognises(location):
        name = "postgres"
    return name, location


def build_app(settings: Settings) -> SalesApp:
    """The app over the configured store, its data first brought in line with the rules."""
    rules = FeedRules(Vocabulary.load(settings.vocabulary), settings.week_date)
    store = open_store(settings.location, settings.backend)
    try:
        log_sync(sync_with_rules(store, rules))
    except BaseException:
        store.close()
        raise
    limits = Limits(max_rejected=settings.max_rejected)
    return create_app(store, rules, limits, settings.security, settings.metrics, settings.access_log)


def log_sync(report: SyncReport) -> None:
    if report.week_date_changed:
        log.warning(
            "week date changed (%s): bronze re-keyed, silver and gold rebuilt from bronze; %d rows superseded",
            report.week_date_changed,
            len(report.superseded),
        )
        for row in report.superseded:
            log.warning("superseded by a later record of the same week: %s", row)
    if report.renamed:
        log.warning("vocabulary changed for %d stored names: silver and gold rebuilt from bronze", len(report.renamed))
    if report.replay and (report.replay.replayed or report.replay.still_rejected):
        log.warning(
            "rules changed: quarantine replayed %d, still rejected %d",
            report.replay.replayed,
            report.replay.still_rejected,
        )


def app_from_environment() -> SalesApp:
    """App factory for worker processes (uvicorn --factory)."""
    settings = Settings.from_environment()
    configure_logging(settings.log_format)
    end_with_parent(int(os.environ.get(PARENT_VARIABLE) or os.getppid()))
    app = build_app(settings)
    tune_garbage_collector()
    return app


PARENT_VARIABLE = "VEGSALES_PARENT_PID"
"""Set by the server process for its workers: its own pid."""
PR_SET_PDEATHSIG = 1
"""prctl(2): the signal the kernel sends this process when its parent ends."""
PARENT_CHECK_SECONDS = 0.5
ORPHAN_GRACE_SECONDS = 3.0
"""How long a worker whose parent ended may take to finish the requests it is answering."""


def end_with_parent(parent: int) -> None:
    """End this worker when `parent`, the server process that started it, ends, even by kill -9:
    orphaned workers would go on serving and hold the port, and the server could not be started
    again. On Linux the kernel sends SIGTERM then (PR_SET_PDEATHSIG); a thread that looks at the
    parent's pid every PARENT_CHECK_SECONDS does so too, elsewhere or if the parent was already
    gone. SIGTERM is uvicorn's graceful shutdown; a worker still there ORPHAN_GRACE_SECONDS later
    exits at once."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    log.warning("server process %d has ended: this worker (%d) stops", parent, os.getpid())
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(ORPHAN_GRACE_SECONDS)
    os._exit(1)


GC_THRESHOLDS = (50_000, 20, 20)


def tune_garbage_collector() -> None:
    """Fewer passes of the cycle collector over the service's long-lived objects.

    The tables a server holds in memory (rows, rendered JSON, caches) are many objects that never
    form cycles, yet every full collection walks them all: with the default thresholds a
    50,000-record post spent a quarter of its time there. What exists at start-up is frozen
    (never walked again), and collections run after 50,000 allocations instead of 700."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def serve(
    app: SalesApp,
    settings: Settings,
    host: str,
    port: int,
    workers: int = 1,
    *,
    max_connections: int | None = None,
    header_timeout: float | None = None,
    body_timeout: float | None = None,
    keepalive_timeout: float | None = None,
) -> None:
    """Run `app` until interrupted; with several workers, each builds its own from `settings`
    and they share the port (the store serialises their writes).

    Each process holds at most `max_connections` connections (1,000, lowered to fit the open-file
    limit); a request's header must arrive within `header_timeout` seconds of its first byte (10),
    its body within `body_timeout` of its header (30); a connection waits `keepalive_timeout` (5)
    for a request; a header over 64 KiB is answered 431. A limit not given (None) is read from its
    VEGSALES_* variable (VEGSALES_MAX_CONNECTIONS, VEGSALES_HEADER_TIMEOUT, VEGSALES_BODY_TIMEOUT,
    VEGSALES_KEEPALIVE_TIMEOUT, VEGSALES_MAX_HEADER_BYTES), else is the default."""
    from .connections import ConnectionLimits
    from .http_protocol import LimitedHttpToolsProtocol

    try:
        limits = ConnectionLimits.from_environment(
            max_connections=max_connections,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            keepalive_timeout=keepalive_timeout,
        ).within_open_files()
    except ValueError as error:
        app.close()
        raise SystemExit(f"error: {error}") from None
    run = partial(
        uvicorn.run,
        host=host,
        port=port,
        loop="uvloop",
        http=LimitedHttpToolsProtocol,  # uvicorn's httptools protocol, held to `limits`
        access_log=False,  # the app writes its own access lines (telemetry.py), with the request id
        log_config=None,  # configure_logging() set up every logger, uvicorn's included
        log_level="info",
    )
    if workers == 1:
        LimitedHttpToolsProtocol.limits = limits
        tune_garbage_collector()
        run(app)
        return
    app.close()
    os.environ.update(settings.to_environment())
    os.environ.update(limits.to_environment())  # each worker's protocol reads them
    os.environ[PARENT_VARIABLE] = str(os.getpid())  # each worker ends with this process (end_with_parent)
    with tempfile.TemporaryDirectory(prefix="vegsales-metrics-") as metrics_folder:
        # The workers' counters, in files that a scrape of any worker adds up (prometheus-client).
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics_folder)
        run("vegsales.server:app_from_environment", factory=True, workers=workers)
