"""POST /delete_sales: take stored records back, by key."""

from anyio import to_thread
from fastapi.responses import Response
from starlette.types import Receive, Scope

from .. import pipeline
from ..asgi import Reply, json_reply, read_body
from ..context import current_request
from ..pipeline import DeleteReport
from ..reports import ErrorBody
from .operation import ERROR, STORAGE_DOWN, hot, never_run
from .sales import parse_records, records_body_doc
from .service import Service


async def delete(service: Service, scope: Scope, receive: Receive) -> Reply:
    request = current_request()
    limits = service.limits
    body = await read_body(receive, request.header(b"content-length"), limits.max_body_bytes)
    items = parse_records(body, limits.max_records)
    rules = service.writer.rules
    report = await to_thread.run_sync(pipeline.delete_sales, service.store, rules, items, request.request_id)
    return json_reply(422 if report.received and len(report.rejected) == report.received else 200, report)


KEY = {
    "type": "object",
    "properties": {
        "date": {"description": "The week, in any notation /post_sales takes", "examples": ["2021-03-01"]},
        "vegetable": {"type": "string", "description": "The raw name exactly as stored", "examples": ["carotte"]},
        "kilo_sold": {"description": "Allowed, and ignored: a posted file can be sent back as it is"},
    },
    "required": ["date", "vegetable"],
    "additionalProperties": False,
}
DELETE_BODY_DOC = records_body_doc(KEY, {"keys": {"value": [{"date": "2021-03-01", "vegetable": "carotte"}]}})


@hot(
    delete,
    "Take stored records back by key (week, raw name): removed from bronze and silver, gold brought up "
    "to date, one new data version; the rows stay readable as_of the versions before",
    {
        200: {"model": DeleteReport, "description": "Each key deleted, not found, or rejected"},
        400: {"model": ErrorBody, "description": "Body is not JSON, or not a list of keys"},
        413: ERROR,
        422: {"model": DeleteReport, "description": "Every key was malformed"},
        503: STORAGE_DOWN,
    },
    openapi_extra=DELETE_BODY_DOC,
)
async def delete_sales() -> Response:
    never_run()
