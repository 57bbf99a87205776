"""The hot endpoints: POST /post_sales, GET /get_raw_sales and GET /get_monthly_sales.

They are answered from ASGI scopes by `asgi.HotRoutes`, without FastAPI's routing and request
machinery; the endpoints FastAPI holds for them are never run and only document them."""

from functools import partial
from typing import Annotated, Any

import orjson
from anyio import to_thread
from fastapi import Query
from fastapi.responses import Response
from starlette.types import Receive, Scope

from ..asgi import ApiError, Reply, json_reply, read_body
from ..context import current_request
from ..pipeline import IngestReport
from ..records import MAX_BODY_DEPTH, SALE_RECORD, TooDeep, json_as_sent
from ..reports import ErrorBody, RawSale, WeeklySale
from ..rows import GoldRow
from .formats import CONTENT_TYPES, Format
from .operation import (
    ERROR,
    NOT_MODIFIED,
    STORAGE_DOWN,
    VERSION_ERRORS,
    AsOf,
    HotHandler,
    RemoveOutliers,
    hot,
    never_run,
)
from .service import Limits, Service
from .table_reads import MAX_LIMIT, MONTHLY_SALES, RAW_SALES, WEEKLY_SALES, answer

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


# The table reads' handlers: answer() itself, not a coroutine awaiting it (one frame less a read).
raw: HotHandler = partial(answer, RAW_SALES)
weekly: HotHandler = partial(answer, WEEKLY_SALES)
monthly: HotHandler = partial(answer, MONTHLY_SALES)


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
EXAMPLE = [
    {"date": "2020-01-27", "vegetable": "Tomate", "kilo_sold": 70},
    {"date": "2020-W05", "vegetable": "tomatto", "kilo_sold": "7.5"},
    {"date": 202006, "vegetable": "Poire", "kilo_sold": 14},
]


def records_body_doc(item: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    """What /docs says of a body parse_records reads: a list of `item`, or {"data": [...]}."""
    listed = {"type": "array", "maxItems": Limits.max_records, "items": item}
    envelope = {"type": "object", "properties": {"data": listed}, "required": ["data"], "additionalProperties": False}
    content = {"schema": {"anyOf": [listed, envelope]}, "examples": examples}
    return {"requestBody": {"required": True, "content": {"application/json": content}}}


POST_BODY_DOC = records_body_doc(
    RECORD_OR_ANYTHING, {"records": {"value": EXAMPLE}, "envelope": {"value": {"data": EXAMPLE}}}
)


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


Vegetable = Annotated[
    str | None,
    Query(
        description="Only this vegetable: any name the vocabulary reads (raw: every spelling of it)",
        examples=["Zanahoria"],
    ),
]
FromWeek = Annotated[
    str | None, Query(alias="from", description="The first week, in any notation posts take", examples=["2021-W01"])
]
ToWeek = Annotated[str | None, Query(description="The last week (inclusive)", examples=["2021-W52"])]
FromMonth = Annotated[str | None, Query(alias="from", description="The first month YYYY-MM", examples=["2021-01"])]
ToMonth = Annotated[str | None, Query(description="The last month YYYY-MM (inclusive)", examples=["2021-12"])]
Limit = Annotated[
    int | None, Query(ge=1, le=MAX_LIMIT, description="At most this many rows; a Link header names the next page")
]
After = Annotated[str | None, Query(description="Where the page starts: the token of the previous page's next link")]
FormatParameter = Annotated[
    Format | None,
    Query(alias="format", description="The answer's format (else the Accept header's choice, else JSON)"),
]


def table_responses(model: Any) -> dict[int | str, dict[str, Any]]:
    """What a table read answers: its rows in each format, or why not."""
    rows = {
        "model": model,
        "description": "The rows, in the format asked (JSON, CSV, NDJSON, Parquet), with X-Data-Version "
        "and, while rows remain, a Link to the next page",
        "content": {media: {} for format, media in CONTENT_TYPES.items() if format != "json"},
    }
    return {
        200: rows,
        304: NOT_MODIFIED,
        400: ERROR,
        404: {
            "model": ErrorBody,
            "description": "An unknown vegetable (with suggestions), or an as_of not committed yet",
        },
        406: {"model": ErrorBody, "description": "The Accept header allows no format served"},
        410: VERSION_ERRORS[410],
        503: STORAGE_DOWN,
    }


@hot(
    raw,
    "Bronze: every record as received, one per (week, vegetable as sent), sorted by week then vegetable",
    table_responses(list[RawSale]),
)
async def get_raw_sales(
    vegetable: Vegetable = None,
    from_: FromWeek = None,
    to: ToWeek = None,
    limit: Limit = None,
    after: After = None,
    as_of: AsOf = None,
    format_: FormatParameter = None,
) -> Response:
    never_run()


@hot(
    weekly,
    "Silver: each record's week under its canonical vegetable, with the name and date as sent, sorted by "
    "week, vegetable, then raw name",
    table_responses(list[WeeklySale]),
)
async def get_weekly_sales(
    vegetable: Vegetable = None,
    from_: FromWeek = None,
    to: ToWeek = None,
    limit: Limit = None,
    after: After = None,
    as_of: AsOf = None,
    format_: FormatParameter = None,
) -> Response:
    never_run()


@hot(
    monthly,
    "Gold: kilos per month and vegetable, sorted by month then vegetable; remove_outliers leaves out "
    "the months tagged as outliers",
    table_responses(list[GoldRow]),
)
async def get_monthly_sales(
    remove_outliers: RemoveOutliers = "false",
    vegetable: Vegetable = None,
    from_: FromMonth = None,
    to: ToMonth = None,
    limit: Limit = None,
    after: After = None,
    as_of: AsOf = None,
    format_: FormatParameter = None,
) -> Response:
    never_run()
