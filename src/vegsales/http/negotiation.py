"""A cached table as an answer: its ETag (304 when the client has it), gzip when the client takes it."""

import time
from functools import lru_cache
from typing import Any

from anyio import to_thread

from ..asgi import Reply
from ..context import current_request
from ..json_bodies import JsonBodies
from ..storage import Store


async def table_answer(store: Store, table: JsonBodies[Any], variant: str) -> Reply:
    """`table_reply`, in a worker thread when reading waits on a database, so that the loop goes on."""
    asked = time.monotonic()
    if store.reads_wait_on_io:
        return await to_thread.run_sync(table_reply, table, variant, asked)
    return table_reply(table, variant, asked)


def table_reply(table: JsonBodies[Any], variant: str, asked: float | None = None) -> Reply:
    """The table's current JSON (as of `asked`: see JsonBodies.refresh), with an ETag; 304 when the
    client already has it."""
    request = current_request()
    accept_encoding, if_none_match = request.header(b"accept-encoding") or "", request.header(b"if-none-match")
    with table.lock:
        table.refresh(asked)
        etag = table.etag(variant)
        headers = {
            "ETag": etag,
            "X-Data-Version": str(table.data_version()),
            "Vary": "Accept, Accept-Encoding",  # the same URL answers CSV to Accept: text/csv
            "Cache-Control": "no-cache",
        }
        if if_none_match is not None and matches(etag, if_none_match):  # most reads send none: no parsing
            return Reply(304, b"", headers)
        gzipped = accepts_gzip(accept_encoding) and table.worth_compressing(variant)
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        return Reply(200, table.body(variant, gzipped), headers)


def matches(etag: str, if_none_match: str) -> bool:
    """Whether an If-None-Match header names the ETag, by weak comparison (RFC 9110 13.1.2): W/"x"
    matches "x"."""
    client_tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",") if tag.strip()}
    return etag.removeprefix("W/") in client_tags or "*" in client_tags


@lru_cache(maxsize=256)  # clients repeat their header: parsed once each
def accepts_gzip(accept_encoding: str) -> bool:
    """Whether Accept-Encoding allows gzip: an explicit gzip entry wins over `*`; q=0 refuses."""
    weights = {}
    for coding in accept_encoding.lower().split(","):
        name, _, params = coding.partition(";")
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[name.strip()] = weight
    return weights.get("gzip", weights.get("*", 0.0)) > 0
