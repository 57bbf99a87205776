"""The table reads (raw, weekly, monthly) as data people use them: filters (`vegetable`, `from`,
`to`), keyset paging (`limit`, `after`; the next page pinned to the first page's data version),
formats (JSON, CSV, NDJSON, Parquet: formats.py) and earlier versions (`as_of`).

A read of a whole table as JSON, the load's own, stays on the cached bodies (negotiation.table_reply);
anything else selects rows from the same cached table: a bisection on its sorted keys for the
range, then the rows returned (and those a vegetable filter passes over)."""

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

import orjson
from anyio import to_thread
from isal import igzip, isal_zlib
from starlette.types import Receive, Scope

from ..asgi import ApiError, Reply
from ..context import current_request
from ..json_bodies import GZIP_MIN_BYTES, JsonBodies
from ..records import BadDate, week_start
from .as_of import Snapshot
from .formats import (
    CONTENT_TYPES,
    MONTHLY,
    PIECE_ROWS,
    RAW,
    WEEKLY,
    Format,
    TableShape,
    chosen_format,
    pieces,
    rendered,
)
from .negotiation import accepts_gzip, matches, table_answer, table_reply
from .operation import BOOLEANS
from .service import Service
from .vegetables import canonical

MAX_LIMIT = 100_000
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_AFTER_END = "\x00"
"""Appended to a key's last value: the least text after it, so the next key is the first greater one."""


@dataclass(frozen=True)
class TableKind:
    """One table read: where it is served, its columns, what `from`/`to` name, its tables."""

    path: str
    shape: TableShape
    period: Literal["week", "month"]
    current: Callable[[Service], JsonBodies[Any]]
    earlier: Callable[[Snapshot], JsonBodies[Any]]
    vegetable_of: Callable[[Service], Callable[[Any], object]]
    """The canonical vegetable of a row (a raw row's name read by the service's vocabulary)."""
    outlier_variant: bool = False


def _canonical_of_raw(service: Service) -> Callable[[Any], object]:
    resolve = service.writer.rules.vocabulary.resolve
    return lambda row: resolve(row.vegetable)  # an unknown name (not a str) matches no filter


def _vegetable(service: Service) -> Callable[[Any], object]:
    return lambda row: row.vegetable


RAW_SALES = TableKind(
    "/get_raw_sales", RAW, "week", lambda s: s.raw_sales, lambda earlier: earlier.raw_sales, _canonical_of_raw
)
WEEKLY_SALES = TableKind(
    "/get_weekly_sales", WEEKLY, "week", lambda s: s.weekly_sales, lambda earlier: earlier.weekly_sales, _vegetable
)
MONTHLY_SALES = TableKind(
    "/get_monthly_sales",
    MONTHLY,
    "month",
    lambda s: s.monthly_sales,
    lambda earlier: earlier.monthly_sales,
    _vegetable,
    outlier_variant=True,
)


@dataclass(frozen=True)
class TableRead:
    """What one request asks of a table."""

    format: Format
    variant: str
    vegetable: str | None
    first: str | None
    """The first week (its first day) or month, inclusive."""
    last: str | None
    limit: int | None
    after: tuple[str, ...] | None
    as_of: str | None

    @property
    def whole(self) -> bool:
        """The whole table (or its variant) as JSON: the cached bodies answer it."""
        asked = (self.vegetable, self.first, self.last, self.limit, self.after)
        return self.format == "json" and asked == (None,) * len(asked)


def table_read(kind: TableKind, service: Service, query: Mapping[str, str], accept: str | None) -> TableRead:
    """The request's read, every parameter checked (400 naming it; 404 for an unknown vegetable)."""
    variant = "all"
    if kind.outlier_variant:
        value = query.get("remove_outliers", "false")
        flag = BOOLEANS.get(value)
        if flag is None:
            raise ApiError(400, "invalid_parameter", f"remove_outliers must be true or false, got {value!r}")
        variant = "without_outliers" if flag else "all"
    name = query.get("vegetable")
    first, last = (_period(kind, service, query, parameter) for parameter in ("from", "to"))
    if first is not None and last is not None and first > last:
        raise ApiError(400, "invalid_parameter", f"from ({query['from']}) is after to ({query['to']})")
    return TableRead(
        format=chosen_format(query.get("format"), accept),
        variant=variant,
        vegetable=None if name is None else canonical(service, name),
        first=first,
        last=last,
        limit=_limit(query.get("limit")),
        after=_after(query.get("after"), kind),
        as_of=query.get("as_of"),
    )


def _period(kind: TableKind, service: Service, query: Mapping[str, str], parameter: str) -> str | None:
    text = query.get(parameter)
    if text is None:
        return None
    if kind.period == "month":
        if not _MONTH.fullmatch(text):
            raise ApiError(400, "invalid_parameter", f"{parameter} must be a month YYYY-MM, got {text!r}")
        return text
    try:
        return week_start(text, service.writer.rules.week_date)
    except BadDate as error:
        raise ApiError(400, "invalid_parameter", f"{parameter}: {error}") from None


def _limit(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdecimal() or not 1 <= int(text) <= MAX_LIMIT:
        raise ApiError(400, "invalid_parameter", f"limit must be a whole number from 1 to {MAX_LIMIT:,}, got {text!r}")
    return int(text)


def after_token(key: tuple[str, ...]) -> str:
    """The `after` of the page that follows the row of this key."""
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


def _after(text: str | None, kind: TableKind) -> tuple[str, ...] | None:
    if text is None:
        return None
    try:
        key = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        key = None
    width = 3 if kind.shape is WEEKLY else 2
    if not (isinstance(key, list) and len(key) == width and all(isinstance(value, str) for value in key)):
        raise ApiError(400, "invalid_parameter", f"after must be the token of a next link, got {text!r}")
    return tuple(key)


JSON_ACCEPTS = frozenset({None, b"*/*", b"application/json"})
"""Accept headers of the load's reads (and of most scripts), as sent: no negotiation needed."""


KNOWN_READS = 256
"""Requests whose reading is kept: clients repeat a few (the load's `remove_outliers=true`)."""


async def answer(kind: TableKind, service: Service, scope: Scope, receive: Receive) -> Reply:
    """A table read's answer: the cached whole table, or the rows the request selects."""
    query_string, sent = scope["query_string"], current_request().headers.get(b"accept")
    if not query_string and sent in JSON_ACCEPTS:
        return await table_answer(service.store, kind.current(service), "all")
    accept = None if sent is None else sent.decode("latin-1")  # as RequestContext.header reads it
    known = service.table_reads.get((kind.path, query_string, accept))
    if known is None:
        query = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
        read = table_read(kind, service, query, accept)
        if len(service.table_reads) >= KNOWN_READS:
            service.table_reads.clear()
        service.table_reads[kind.path, query_string, accept] = known = (read, query)
    read, query = known
    if read.whole and read.as_of is None:
        return await table_answer(service.store, kind.current(service), read.variant)
    return await to_thread.run_sync(selected, kind, service, read, query)


def selected(kind: TableKind, service: Service, read: TableRead, query: Mapping[str, str]) -> Reply:
    """The rows a read selects, in its format, with the link to the next page while rows remain."""
    version = None if read.as_of is None else service.snapshots.version(read.as_of)
    table, chosen = kind.current(service), None
    # The current table serves a version while it is that version: checked and read under its lock,
    # so that a post landing meanwhile (and a read refreshing the table) cannot slip in between.
    with table.lock:
        table.refresh()
        if version is None or table.data_version() == version:
            if read.whole:
                return table_reply(table, read.variant, -math.inf)  # as refreshed above
            chosen = _chosen(kind, service, read, table)
    if chosen is None:  # an earlier version
        earlier = kind.earlier(service.snapshots.of(str(version)))
        earlier.refresh()
        if read.whole:
            return table_reply(earlier, read.variant)
        chosen = _chosen(kind, service, read, earlier)
    return _reply(kind, read, query, *chosen)


def _chosen(
    kind: TableKind, service: Service, read: TableRead, table: JsonBodies[Any]
) -> tuple[Any, int, list[Any], list[bytes], Any]:
    """What a read selects of a table: its cursor and version, the rows, their JSON, and the key of
    the last row when more follow."""
    low: tuple[str, ...] = (read.first,) if read.first else ()
    if read.after is not None:
        low = max(low, (*read.after[:-1], read.after[-1] + _AFTER_END))
    high = (read.last + _AFTER_END,) if read.last else None
    keep = None
    if read.vegetable is not None:
        vegetable, vegetable_of = read.vegetable, kind.vegetable_of(service)
        keep = lambda row: vegetable_of(row) == vegetable  # noqa: E731
    with table.lock:
        return (table.cursor(), table.data_version(), *table.select(low, high, read.variant, keep, read.limit))


def _reply(
    kind: TableKind,
    read: TableRead,
    query: Mapping[str, str],
    cursor: Any,
    version: int,
    rows: list[Any],
    texts: list[bytes],
    last_key: Any,
) -> Reply:
    headers = {
        "ETag": _etag(cursor, read),
        "X-Data-Version": str(version),
        "Vary": "Accept, Accept-Encoding",
        "Cache-Control": "no-cache",
    }
    if last_key is not None:
        following = {name: value for name, value in query.items() if name not in ("after", "as_of")}
        following |= {"as_of": str(version), "after": after_token(tuple(last_key))}
        headers["Link"] = f'<{kind.path}?{urlencode(following)}>; rel="next"'
    request, content_type = current_request(), CONTENT_TYPES[read.format]
    if (if_none_match := request.header(b"if-none-match")) is not None and matches(headers["ETag"], if_none_match):
        return Reply(304, b"", headers, content_type=content_type)
    gzipped = read.format != "parquet" and accepts_gzip(request.header(b"accept-encoding") or "")
    if len(rows) > STREAM_ROWS:  # sent as it is made: a request never holds a big answer whole
        chunks = _json_pieces(texts) if read.format == "json" else pieces(rows, kind.shape, read.format)
        if gzipped:
            chunks, headers["Content-Encoding"] = _gzip_pieces(chunks), "gzip"
        return Reply(200, b"", headers, content_type=content_type, chunks=chunks)
    body = b"[" + b",".join(texts) + b"]" if read.format == "json" else rendered(rows, kind.shape, read.format)
    if gzipped and len(body) >= GZIP_MIN_BYTES:
        body, headers["Content-Encoding"] = igzip.compress(body, 1), "gzip"
    return Reply(200, body, headers, content_type=content_type)


STREAM_ROWS = PIECE_ROWS
"""Past this many rows, an answer is streamed, a piece of PIECE_ROWS rows at a time."""


def _json_pieces(texts: list[bytes]) -> Iterator[bytes]:
    """The JSON array of the rows' cached JSON, in pieces."""
    for start in range(0, len(texts), PIECE_ROWS):
        yield (b"[" if start == 0 else b",") + b",".join(texts[start : start + PIECE_ROWS])
    yield b"]" if texts else b"[]"


def _gzip_pieces(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The pieces gzip-compressed as one stream."""
    compressor = isal_zlib.compressobj(1, isal_zlib.DEFLATED, 31)  # 31: a gzip header and trailer
    for chunk in chunks:
        yield compressor.compress(chunk)
    yield compressor.flush()


def _etag(cursor: Any, read: TableRead) -> str:
    """The state of the table and what the request selects of it."""
    asked = orjson.dumps([read.format, read.variant, read.vegetable, read.first, read.last, read.limit, read.after])
    epoch, seq = cursor or (0, 0)
    return f'W/"{epoch}.{seq}.{hashlib.blake2b(asked, digest_size=8).hexdigest()}"'
