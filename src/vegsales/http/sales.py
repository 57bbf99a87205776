"""The hot endpoints: POST /post_sales, GET /get_raw_sales and GET /get_monthly_sales.

They are answered from ASGI scopes by `asgi.HotRoutes`, without FastAPI's routing and request
machinery; the endpoints FastAPI holds for them are never run and only document them."""

from typing import Any
from urllib.parse import parse_qsl

import orjson
from anyio import to_thread
from fastapi.responses import Response
from starlette.types import Receive, Scope

from ..asgi import ApiError, Reply, json_reply, read_body
from ..context import current_request
from ..pipeline import IngestReport
from ..records import MAX_BODY_DEPTH, SALE_RECORD, TooDeep, json_as_sent
from ..reports import ErrorBody, RawSale
from ..rows import GoldRow
from .negotiation import table_answer, table_reply
from .operation import (
    BOOLEANS,
    ERROR,
    NOT_MODIFIED,
    STORAGE_DOWN,
    VERSION_ERRORS,
    AsOf,
    RemoveOutliers,
    hot,
    never_run,
)
from .service import Limits, Service

INLINE_BYTES = 256 * 1024


async def post(service: Service, scope: Scope, receive: Receive) -> Reply:
    request = current_request()
    limits = service.limits
    body = await read_body(receive, request.header(b"content-length"), limits.max_body_bytes)
    request.body_bytes = len(body)
    if len(body) <= INLINE_BYTES:
        items = parse_records(body, limits.max_records)
    else:  # parsing megabytes would stall every other request
        items = await to_thread.run_sync(parse_records, body, limits.max_records)
    try:
        report = await service.writer.ingest(items, body, request.request_id)
    except TooDeep as error:
        raise ApiError(400, "body_too_deep", f"the body {error}") from None
    request.records = (report.received, len(report.rejected))
    service.received(report)
    return json_reply(200 if report.stored_any else 422, report)


async def raw(service: Service, scope: Scope, receive: Receive) -> Reply:
    if scope["query_string"] and (as_of := query_of(scope).get("as_of")) is not None:
        snapshot = await to_thread.run_sync(service.snapshots.of, as_of)
        return table_reply(snapshot.raw_sales, "all")
    return await table_answer(service.store, service.raw_sales, "all")


async def monthly(service: Service, scope: Scope, receive: Receive) -> Reply:
    query = query_of(scope)
    value = query.get("remove_outliers", "false")
    flag = BOOLEANS.get(value)
    if flag is None:
        raise ApiError(400, "invalid_parameter", f"remove_outliers must be true or false, got {value!r}")
    variant = "without_outliers" if flag else "all"
    if (as_of := query.get("as_of")) is not None:
        snapshot = await to_thread.run_sync(service.snapshots.of, as_of)
        return table_reply(snapshot.monthly_sales, variant)
    return await table_answer(service.store, service.monthly_sales, variant)


def query_of(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))


def parse_records(body: bytes, max_records: int) -> list[Any]:
    """The list of records in a body: a JSON array, or an object {"data": [...]}."""
    expected = 'expected a JSON array of records, or an object {"data": [...]}'
    if not body.strip():
        raise ApiError(400, "empty_body", f"the body is empty; {expected}")
    try:
        payload = orjson.loads(body)  # nesting past MAX_BODY_DEPTH shows in validation (see ingest_posts)
    except orjson.JSONDecodeError as error:
        try:
            # Valid JSON that orjson refuses (NaN, numbers beyond a double or 64 bits, lone surrogates,
            # nesting past 1,024 levels): its records are rejected one by one instead of the whole body.
            payload = json_as_sent(body)
        except TooDeep as too_deep:
            raise ApiError(400, "body_too_deep", f"the body {too_deep}") from None
        except ValueError:
            raise ApiError(400, "invalid_json", f"the body is not valid JSON: {error}") from None
    if isinstance(payload, dict):
        if set(payload) != {"data"} or not isinstance(payload["data"], list):
            raise ApiError(400, "invalid_body", f"the object must hold only a 'data' list; {expected}")
        payload = payload["data"]
    if not isinstance(payload, list):
        raise ApiError(400, "invalid_body", expected)
    if len(payload) > max_records:
        raise ApiError(413, "too_many_records", f"{len(payload)} records; at most {max_records} per post")
    return payload


RECORD_OR_ANYTHING = {
    "anyOf": [
        SALE_RECORD.json_schema(),
        {"description": "Anything else is rejected on its own, with its reasons, and kept in quarantine"},
    ]
}
RECORDS = {"type": "array", "maxItems": Limits.max_records, "items": RECORD_OR_ANYTHING}
EXAMPLE = [
    {"date": "2020-01-27", "vegetable": "Tomate", "kilo_sold": 70},
    {"date": "2020-W05", "vegetable": "tomatto", "kilo_sold": "7.5"},
    {"date": 202006, "vegetable": "Poire", "kilo_sold": 14},
]
POST_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        RECORDS,
                        {
                            "type": "object",
                            "properties": {"data": RECORDS},
                            "required": ["data"],
                            "additionalProperties": False,
                        },
                    ]
                },
                "examples": {"records": {"value": EXAMPLE}, "envelope": {"value": {"data": EXAMPLE}}},
            }
        },
    }
}


@hot(
    post,
    "Store weekly sales: every valid record is written, every invalid one reported and kept in quarantine",
    {
        200: {"model": IngestReport, "description": "At least one record stored (or none sent)"},
        400: {
            "model": ErrorBody,
            "description": f"Body is not JSON, not a list of records, or nests past {MAX_BODY_DEPTH} levels",
        },
        413: {"model": ErrorBody, "description": "Body over 16 MiB, or over 100,000 records"},
        422: {"model": IngestReport, "description": "Every record was rejected"},
        503: STORAGE_DOWN,
    },
    openapi_extra=POST_BODY_DOC,
)
async def post_sales() -> Response:
    never_run()


@hot(
    raw,
    "Bronze: every record as received, one per (week, vegetable as sent), sorted by week then vegetable",
    {200: {"model": list[RawSale]}, 304: NOT_MODIFIED, 400: ERROR, **VERSION_ERRORS, 503: STORAGE_DOWN},
)
async def get_raw_sales(as_of: AsOf = None) -> Response:
    never_run()


@hot(
    monthly,
    "Gold: kilos per month and vegetable, sorted by month then vegetable; remove_outliers leaves out "
    "the months tagged as outliers",
    {200: {"model": list[GoldRow]}, 304: NOT_MODIFIED, 400: ERROR, **VERSION_ERRORS, 503: STORAGE_DOWN},
)
async def get_monthly_sales(remove_outliers: RemoveOutliers = "false", as_of: AsOf = None) -> Response:
    never_run()
