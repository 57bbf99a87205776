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
from functools import partial

import uvicorn

from .api import Limits, SalesApp, create_app
from .http_protocol import LimitedHttpToolsProtocol
from .logs import configure_logging, default_format
from .pipeline import SyncReport, sync_with_rules
from .settings import InvalidSettings, Settings
from .silver import FeedRules
from .storage.registry import open_store
from .vegetables import Vocabulary

log = logging.getLogger("vegsales")


def build_app(settings: Settings) -> SalesApp:
    """The app over the configured store, its data first brought in line with the rules."""
    rules = FeedRules(Vocabulary.load(settings.vocabulary), settings.week_date)
    assert settings.location, "settings.resolved() names the location"
    store = open_store(settings.location, settings.backend, settings.database_timeouts())
    try:
        log_sync(sync_with_rules(store, rules))
    except BaseException:
        store.close()
        raise
    limits = Limits(max_rejected=settings.max_rejected, history_days=settings.history_days)
    return create_app(store, rules, limits, settings.security(), settings.metrics, settings.access_log)


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
    """App factory for worker processes (uvicorn --factory): the settings their server process
    resolved and checked, passed on as VEGSALES_* variables."""
    try:
        settings = Settings.load().resolved()
    except InvalidSettings as error:
        raise SystemExit(f"error: {error}") from None
    configure_logging(settings.log_format or default_format())
    LimitedHttpToolsProtocol.limits = settings.connection_limits().within_open_files()
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


def run_server(app: SalesApp, settings: Settings) -> None:
    """Run `app` until interrupted; with several workers, each builds its own from `settings`
    and they share the port (the store serialises their writes).

    Each process holds at most `max_connections` connections (lowered to fit the open-file limit);
    a request's header must arrive within `header_timeout` seconds of its first byte, its body
    within `body_timeout` of its header; a connection waits `keepalive_timeout` for a request; a
    header over `max_header_bytes` is answered 431."""
    run = partial(
        uvicorn.run,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=LimitedHttpToolsProtocol,  # uvicorn's httptools protocol, held to the connection limits
        access_log=False,  # the app writes its own access lines (telemetry.py), with the request id
        log_config=None,  # configure_logging() set up every logger, uvicorn's included
        log_level="info",
    )
    if settings.workers == 1:
        LimitedHttpToolsProtocol.limits = settings.connection_limits().within_open_files()
        tune_garbage_collector()
        run(app)
        return
    app.close()
    os.environ.update(settings.to_environment())  # each worker reads the same settings (app_from_environment)
    os.environ[PARENT_VARIABLE] = str(os.getpid())  # each worker ends with this process (end_with_parent)
    with tempfile.TemporaryDirectory(prefix="vegsales-metrics-") as metrics_folder:
        # The workers' counters, in files that a scrape of any worker adds up (prometheus-client).
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics_folder)
        run("vegsales.server:app_from_environment", factory=True, workers=settings.workers)
