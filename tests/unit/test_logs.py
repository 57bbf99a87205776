"""The JSON log line: exactly the documented fields, extra fields after them, tracebacks kept."""

import json
import logging
import sys

from vegsales.logs import JsonFormatter


def record(**extra) -> logging.LogRecord:
    made = logging.LogRecord("vegsales.access", logging.INFO, "(unknown file)", 0, "GET %s %d", ("/health", 200), None)
    made.created = 1_780_000_000.25  # 2026-05-28T20:26:40.25Z
    made.request_id = "r-1"
    made.__dict__.update(extra)
    return made


def test_a_record_becomes_one_json_object_in_the_documented_order():
    line = JsonFormatter().format(record(method="GET", status=200, duration_ms=1.5))
    assert "\n" not in line
    assert list(json.loads(line).items()) == [
        ("time", "2026-05-28T20:26:40.250000+00:00"),
        ("level", "INFO"),
        ("logger", "vegsales.access"),
        ("message", "GET /health 200"),
        ("request_id", "r-1"),
        ("method", "GET"),
        ("status", 200),
        ("duration_ms", 1.5),
    ]


def test_a_traceback_and_values_json_cannot_hold_are_kept_as_text():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        failed = record(body=b"\xff", path=object.__new__(type("Where", (), {"__str__": lambda self: "here"})))
        failed.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(failed))
    assert line["path"] == "here" and line["body"] == "b'\\xff'"
    assert line["exc_info"].startswith("Traceback (most recent call last):")
    assert line["exc_info"].endswith("RuntimeError: boom")
