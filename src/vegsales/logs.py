"""Logging: one line per event on stderr, as text or as JSON, each with the request id it
belongs to (a context variable, copied into the worker threads of that request)."""

import logging
import sys
from contextvars import ContextVar
from typing import Literal

from pythonjsonlogger.orjson import OrjsonFormatter

LogFormat = Literal["json", "text"]
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
access_log = logging.getLogger("vegsales.access")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def default_format() -> LogFormat:
    """Text for a person at a terminal, JSON for a log collector."""
    return "text" if sys.stderr.isatty() else "json"


def configure_logging(log_format: LogFormat, level: int = logging.INFO) -> None:
    """Every logger (uvicorn's included) through one stderr handler in `log_format`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(
            OrjsonFormatter(
                "{levelname}{name}{message}{request_id}",
                style="{",
                timestamp="time",  # ISO 8601, UTC, microseconds
                rename_fields={"levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    # Neither format shows the caller, thread or process: not looking them up makes a record about
    # a third cheaper (the logging HOWTO's "Optimization"), which the access line, once a request, needs.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
