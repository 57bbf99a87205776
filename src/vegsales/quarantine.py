"""Rejected records, kept with their reasons so that nothing the feed sends is lost.

Any record a post can hold is kept: as compact JSON text, which every store can hold, with each
number as it was sent and lone surrogates escaped. It is served back as JSON when any client can read
it, and as its text otherwise (NaN, a lone surrogate, deep nesting); stored rows are read that way
when they are served, so rows kept by earlier versions are served too.
"""

import hashlib
import json
import re
import secrets
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from .records import (
    ERROR_CODES,
    MAX_RECORD_DEPTH,
    ErrorCode,
    FieldError,
    NumberAsSent,
    escaped_surrogates,
    json_as_sent,
    json_depth,
    scalars,
)
from .rows import RejectedRow

MAX_RECORD_BYTES = 10 * 1024
"""A longer record is kept cut to this size (and marked): enough to see what went wrong."""
MAX_REJECTED = 100_000
"""Distinct rejected records kept; past that the least recently received go."""
_NOT_JSON = frozenset({"NaN", "Infinity", "-Infinity"})
"""Numbers a record may be sent with that JSON does not have: such a record is served as its text."""
_MAX_INTEGER_DIGITS = sys.int_info.default_max_str_digits
"""A longer integer is JSON, but Python's reader refuses it (clients such as `vegsales rejected` too)."""


def as_sent(value: Any) -> Any:
    """orjson's `default`: a NumberAsSent is written as its own text."""
    if isinstance(value, NumberAsSent):
        return orjson.Fragment(value.text)
    raise TypeError(f"{type(value).__name__} is not JSON")


def record_text(item: Any) -> str:
    """The record as JSON text, as compact as orjson writes it, each number as it was sent."""
    try:
        return orjson.dumps(item, default=as_sent).decode()
    except orjson.JSONEncodeError:  # a lone surrogate, nesting past 254 levels, an integer beyond 64 bits
        pass
    try:
        return _written_by_the_standard_library(item)
    except (RecursionError, ValueError, TypeError):  # a caller's own record: deeper, 4,300 digits, odd keys
        return _written(item)


def _written_by_the_standard_library(item: Any) -> str:
    """record_text() for what orjson refuses, in C: the standard library's writer recurses, but a
    record of a post nests at most MAX_BODY_DEPTH levels, far from the recursion limit."""
    numbers: list[str] = []
    token = secrets.token_hex(16)  # no record can hold it by chance

    def number_as_sent(value: Any) -> str:
        if isinstance(value, NumberAsSent):
            numbers.append(value.text)
            return f"{token}{len(numbers) - 1}"  # written as a string, then replaced by the number
        return repr(value)  # not a JSON value at all (a caller's own object): its repr, as a string

    text = json.dumps(item, ensure_ascii=False, separators=(",", ":"), default=number_as_sent)
    if numbers:
        text = re.sub(f'"{token}([0-9]+)"', lambda match: numbers[int(match[1])], text)
    return _SURROGATES.sub(lambda match: f"\\u{ord(match[0]):04x}", text)


_END = object()
_MAX_WRITTEN_DEPTH = 100_000
_SURROGATES = re.compile("([\ud800-\udfff])")


def _written(item: Any) -> str:
    """record_text() for what orjson refuses: level by level (no recursion), orjson's layout."""
    parts: list[str] = []
    open_containers: list[tuple[Any, str]] = []  # (iterator over the members left, closing bracket)
    value = item
    while True:
        if len(open_containers) > _MAX_WRITTEN_DEPTH:
            raise ValueError(f"a record nesting past {_MAX_WRITTEN_DEPTH:,} levels (or holding itself) is not kept")
        if isinstance(value, dict):
            parts.append("{")
            open_containers.append((iter(value.items()), "}"))
        elif isinstance(value, list | tuple):
            parts.append("[")
            open_containers.append((iter(value), "]"))
        else:
            parts.append(_scalar_text(value))
        while open_containers:
            members, closing = open_containers[-1]
            member: Any = next(members, _END)
            if member is _END:
                open_containers.pop()
                parts.append(closing)
                continue
            if parts[-1] not in ("{", "["):
                parts.append(",")
            if closing == "}":
                key, value = member
                parts.append(_string_text(key if isinstance(key, str) else str(key)) + ":")
            else:
                value = member
            break
        else:
            return "".join(parts)


def _scalar_text(value: Any) -> str:
    if isinstance(value, str):
        return _string_text(value)
    if isinstance(value, NumberAsSent):
        return value.text
    if isinstance(value, int) and not isinstance(value, bool):
        return _integer_text(value)
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # not a JSON value at all (a caller's own object): its repr, as a string
        return _string_text(repr(value))


def _string_text(text: str) -> str:
    try:
        return orjson.dumps(text).decode()
    except orjson.JSONEncodeError:  # lone surrogates: orjson's escapes between them, \ud800 for each
        pieces = _SURROGATES.split(text)  # text, surrogate, text, ...
        return (
            '"'
            + "".join(
                f"\\u{ord(piece):04x}" if i % 2 else orjson.dumps(piece).decode()[1:-1]
                for i, piece in enumerate(pieces)
            )
            + '"'
        )


def _integer_text(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # past str()'s 4,300 digits: 4,000 digits at a time
        chunks = []
        sign, value = ("-", -value) if value < 0 else ("", value)
        while value:
            value, chunk = divmod(value, 10**4000)
            chunks.append(chunk)
        return sign + str(chunks[-1]) + "".join(f"{chunk:04000d}" for chunk in reversed(chunks[:-1]))


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


def read_record(text: str) -> Any:
    """A kept record read back as validation saw it when it was sent; ValueError when it cannot be
    (not JSON, or nesting past MAX_BODY_DEPTH: no post could have sent it)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN, numbers beyond a double, lone surrogates, deep nesting
        return json_as_sent(text)


def served_record(row: RejectedRow) -> tuple[Any, bool]:
    """The record as /get_rejected_sales serves it, and whether that is its JSON text rather than the
    record itself: when it is truncated, or when a JSON reader could not take it back (NaN or
    Infinity, a lone surrogate, nesting past MAX_RECORD_DEPTH, an integer of over 4,300 digits, text
    that is not JSON at all). The
    record is served as the text kept, never written again: numbers stay as they were sent."""
    text = row.record
    if not row.truncated and json_depth(text) <= MAX_RECORD_DEPTH:
        try:
            orjson.loads(text)  # JSON, in UTF-8: orjson refuses NaN, Infinity and lone surrogates
            return orjson.Fragment(text), False
        except orjson.JSONDecodeError:
            pass
        try:
            value = json_as_sent(text, MAX_RECORD_DEPTH)
        except ValueError:
            pass
        else:  # numbers orjson cannot read (1e400, 400 digits) are still JSON
            if not any(_not_json(scalar) for scalar in scalars(value)):
                return orjson.Fragment(text), False
    return escaped_surrogates(text), True


def _not_json(value: Any) -> bool:
    if isinstance(value, str):
        return escaped_surrogates(value) != value
    if not isinstance(value, NumberAsSent):
        return False
    digits = value.text.removeprefix("-")
    return value.text in _NOT_JSON or (digits.isdigit() and len(digits) > _MAX_INTEGER_DIGITS)


def served_errors(row: RejectedRow) -> list[Any]:
    """The reasons kept with a record, each as {"field", "code", "message"}: a reason kept before
    reasons carried a code gets the one its message meant then; a row whose reasons cannot be read
    shows their text as one, `unclassified`."""
    try:
        errors = orjson.loads(row.errors)
    except orjson.JSONDecodeError:
        errors = None
    if not isinstance(errors, list):
        return [_served_error("record", "unclassified", escaped_surrogates(row.errors))]
    served = []
    for error in errors:
        if not isinstance(error, dict):
            served.append(_served_error("record", "unclassified", orjson.dumps(error).decode()))
            continue
        field, code, message = error.get("field"), error.get("code"), error.get("message")
        field = field if isinstance(field, str) else "record"
        message = message if isinstance(message, str) else ""
        if code not in _CODES:
            code = _earlier_code(field, message)
        served.append(_served_error(field, code, message))
    return served


_CODES = frozenset(ERROR_CODES)


def _served_error(field: str, code: str, message: str) -> dict[str, str]:
    return {"field": field, "code": code, "message": message}


EARLIER_MESSAGES: dict[str, tuple[tuple[str, ErrorCode], ...]] = {
    # field -> (a message's start, its code), first match wins; then the field's last resort below
    "record": (("nests ", "too_deep"), ("must be a JSON object", "not_an_object"),
               ("Input should be a valid string", "extra_field")),
    "vegetable": (("contains ", "dirty_name"), ("unknown vegetable", "unknown_vegetable")),
}  # fmt: skip
EARLIER_FALLBACK: dict[str, ErrorCode] = {"record": "unclassified", "vegetable": "bad_name"}


def _earlier_code(field: str, message: str) -> ErrorCode:
    """The code of a reason kept before reasons carried one. Its message is one of those versions',
    which will never change: reading it is safe here, and only here (a replay stores today's reasons,
    with their codes)."""
    if message == "Field required":
        return "missing"
    if message == "Extra inputs are not permitted":
        return "extra_field"
    if field == "date":
        out_of_range = " is outside " in message or "every day of a week must fall within" in message
        return "date_out_of_range" if out_of_range else "bad_date"
    if field == "kilo_sold":
        return "out_of_range" if "than or equal to" in message else "bad_number"
    if field == "vegetable" and "matches several vegetables" in message:
        return "ambiguous_vegetable"
    for start, code in EARLIER_MESSAGES.get(field, ()):
        if message.startswith(start):
            return code
    return EARLIER_FALLBACK.get(field, "extra_field")
