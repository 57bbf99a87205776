"""Rejected records, kept with their reasons so that nothing the feed sends is lost."""

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from .records import FieldError
from .tables import RejectedRow

MAX_RECORD_BYTES = 10 * 1024
"""A longer record is kept cut to this size (and marked): enough to see what went wrong."""
MAX_REJECTED = 100_000
"""Distinct rejected records kept; past that the least recently received go."""


class NumberAsSent(float):
    """A JSON number beyond a double (1e400): infinite to validation, written back as it was sent."""

    text: str

    def __new__(cls, text: str) -> "NumberAsSent":
        number = super().__new__(cls, text)
        number.text = text
        return number


def _number(text: str) -> float:
    number = float(text)
    return number if math.isfinite(number) else NumberAsSent(text)


def json_value(text: str | bytes) -> Any:
    """JSON that orjson refuses (numbers beyond a double), read by the standard library; those
    numbers are kept as sent, so that a quarantined record is kept whole."""
    return json.loads(text, parse_float=_number)


def as_sent(value: Any) -> Any:
    """orjson's `default`: a NumberAsSent is written as its own text."""
    if isinstance(value, NumberAsSent):
        return orjson.Fragment(value.text)
    raise TypeError(f"{type(value).__name__} is not JSON")


def record_text(item: Any) -> str:
    """The record as JSON text, as compact as orjson writes it."""
    try:
        return orjson.dumps(item, default=as_sent).decode()
    except orjson.JSONEncodeError:  # lone surrogates, integers beyond 64 bits: escaped by the stdlib
        return json.dumps(item, ensure_ascii=True, separators=(",", ":"))


def record_value(text: str) -> Any:
    """A kept record read back from its JSON text."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # numbers beyond a double, or what record_text() wrote with the stdlib
        return json_value(text)


def errors_text(errors: Sequence[FieldError]) -> str:
    return orjson.dumps(errors).decode()  # orjson writes dataclasses as objects, natively


def rejected_row(item: Any, errors: Sequence[FieldError], received_at: str) -> RejectedRow:
    """A rejected record as a quarantine row, keyed by a hash of the whole record."""
    text = record_text(item)
    encoded = text.encode()
    digest = hashlib.blake2b(encoded, digest_size=16).hexdigest()
    truncated = len(encoded) > MAX_RECORD_BYTES
    if truncated:
        text = encoded[:MAX_RECORD_BYTES].decode(errors="ignore")  # never half a character
    return RejectedRow(digest, text, truncated, errors_text(errors), received_at, received_at, 1)


def merged(new: Iterable[RejectedRow], stored: dict[str, RejectedRow]) -> list[RejectedRow]:
    """The new rejections folded into what is stored: one row per record, counted, latest reasons."""
    rows: dict[str, RejectedRow] = {}
    for row in new:
        before = rows.get(row.record_hash) or stored.get(row.record_hash)
        if before is not None:
            row.first_received = min(before.first_received, row.first_received)
            row.last_received = max(before.last_received, row.last_received)
            row.times += before.times
        rows[row.record_hash] = row
    return list(rows.values())
