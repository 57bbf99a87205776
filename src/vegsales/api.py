"""create_app(store): the HTTP API.

The three hot endpoints (post_sales, get_raw_sales, get_monthly_sales) are answered by a thin
ASGI front, `SalesApp`, that calls the same handlers as the FastAPI routes but skips FastAPI's
routing and request machinery: ~0.2 ms a request, a quarter of the server's CPU at 1,000 req/s.
Everything else (/docs, /openapi.json, init, health, 404s) is FastAPI's, and the routes below
document all endpoints in /docs.
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import orjson
from anyio import to_thread
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .pipeline import IngestReport, ingest, ingest_posts, replay_rejected
from .quarantine import MAX_REJECTED, record_value
from .records import SaleRecord
from .silver import FeedRules
from .storage import TABLES, StorageError, Store, StoreBusy
from .tables import BronzeRow, RejectedRow
from .views import JsonTable

INLINE_RECORDS = 100
BATCH_RECORDS = 10_000
INLINE_BYTES = 256 * 1024
BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
log = logging.getLogger("vegsales")


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 16 * 1024 * 1024  # 100,000 records take ~7 MB
    max_records: int = 100_000
    max_rejected: int = MAX_REJECTED
    """Distinct rejected records kept in quarantine."""


class ApiError(Exception):
    """A request the API refuses, with its HTTP status and a machine-readable code."""

    def __init__(self, status: int, error: str, message: str):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, payload: object, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, orjson.dumps(payload), headers or {})


def error_reply(status: int, error: str, message: str) -> Reply:
    return json_reply(status, {"error": error, "message": message})


class PostQueue:
    """Posts for a store whose writes wait on I/O go through one writer thread, several at a time.

    Each waiting post is still validated and reported on its own, but one transaction (one
    write lock, one commit, one gold update) serves them all: under load, the I/O of a write
    (fsyncs, database round trips) is paid once per batch instead of once per post.
    """

    def __init__(self, store: Store, rules: FeedRules, max_rejected: int):
        self._store, self._rules, self._max_rejected = store, rules, max_rejected
        self._waiting: list[tuple[list, asyncio.Future]] = []
        self._writing = False

    async def ingest(self, items: list) -> IngestReport:
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((items, future))
        if not self._writing:
            self._writing = True
            asyncio.get_running_loop().create_task(self._write_waiting())
        return await future

    async def _write_waiting(self) -> None:
        try:
            while self._waiting:
                batch, size = [], 0
                while self._waiting and (not batch or size + len(self._waiting[0][0]) <= BATCH_RECORDS):
                    batch.append(self._waiting.pop(0))
                    size += len(batch[-1][0])
                try:
                    posts = [items for items, _ in batch]
                    write = partial(ingest_posts, self._store, self._rules, posts, max_rejected=self._max_rejected)
                    reports = await to_thread.run_sync(write)
                except Exception as error:  # every post of the batch gets the error
                    for _, future in batch:
                        if not future.done():  # done: its client went away
                            future.set_exception(error)
                else:
                    for (_, future), report in zip(batch, reports, strict=True):
                        if not future.done():
                            future.set_result(report)
        finally:
            self._writing = False


class Sales:
    """What each endpoint does, whichever way the request arrived."""

    def __init__(self, store: Store, rules: FeedRules, limits: Limits):
        self.store, self.rules, self.limits = store, rules, limits
        self.queue = PostQueue(store, rules, limits.max_rejected)
        self.raw_sales = JsonTable(store.bronze_changes, key=lambda row: row.key, render=raw_sale_json)
        self.monthly_sales = JsonTable(
            store.gold_changes, key=lambda row: row.key, variants={"without_outliers": lambda row: not row.is_outlier}
        )

    async def post(self, chunks: AsyncIterator[bytes], content_length: str | None) -> Reply:
        body = await read_body(chunks, content_length, self.limits.max_body_bytes)
        if len(body) <= INLINE_BYTES:
            items = parse_records(body, self.limits.max_records)
        else:  # parsing megabytes would stall every other request
            items = await to_thread.run_sync(parse_records, body, self.limits.max_records)
        report = None
        if self.store.writes_wait_on_io:
            report = await self.queue.ingest(items)
        elif len(items) <= INLINE_RECORDS:
            # A small post on a store with a quick commit costs less than a hop to a worker thread,
            # unless another writer holds the store: then it waits in a thread, not on the event loop.
            with suppress(StoreBusy):
                report = ingest(self.store, self.rules, items, wait=False, max_rejected=self.limits.max_rejected)
        if report is None:
            report = await to_thread.run_sync(
                lambda: ingest(self.store, self.rules, items, max_rejected=self.limits.max_rejected)
            )
        return json_reply(200 if report.stored_any else 422, report)

    def raw(self, accept_encoding: str, if_none_match: str) -> Reply:
        return table_reply(self.raw_sales, "all", accept_encoding, if_none_match)

    def monthly(self, remove_outliers: str, accept_encoding: str, if_none_match: str) -> Reply:
        flag = BOOLEANS.get(remove_outliers.strip().lower())
        if flag is None:
            raise ApiError(400, "invalid_parameter", f"remove_outliers must be true or false, got {remove_outliers!r}")
        variant = "without_outliers" if flag else "all"
        return table_reply(self.monthly_sales, variant, accept_encoding, if_none_match)


# Shapes shown in /docs; the endpoints render bytes directly.
class ErrorBody(BaseModel):
    error: str
    message: str


class FieldErrorOut(BaseModel):
    field: str
    message: str


class WarningOut(BaseModel):
    index: int
    message: str


class RejectionOut(BaseModel):
    index: int
    errors: list[FieldErrorOut]


class IngestReportOut(BaseModel):
    received: int
    inserted: int
    updated: int
    unchanged: int
    rejected: list[RejectionOut]
    warnings: list[WarningOut]


class RejectedSale(BaseModel):
    record_hash: str
    record: Any = Field(description="The record as sent; when `truncated`, its first 10 KiB of JSON text")
    truncated: bool
    errors: list[FieldErrorOut]
    first_received: str
    last_received: str
    times: int


class RejectedSales(BaseModel):
    total: int = Field(description="Records in quarantine")
    dropped: int = Field(description="Records dropped, oldest first, to keep at most the configured number")
    rows: list[RejectedSale] = Field(description="The most recently received first")


class ReplayReportOut(BaseModel):
    replayed: int
    still_rejected: int
    inserted: int
    updated: int
    unchanged: int


class RawSale(BaseModel):
    date: str
    vegetable: str
    kilo_sold: float


class MonthlySale(BaseModel):
    year_month: str
    vegetable: str
    kilo_sold: float
    is_outlier: bool


RECORDS_SCHEMA = {"type": "array", "items": SaleRecord.model_json_schema()}
POST_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        RECORDS_SCHEMA,
                        {"type": "object", "properties": {"data": RECORDS_SCHEMA}, "required": ["data"]},
                    ]
                }
            }
        },
    }
}


def create_app(store: Store, rules: FeedRules | None = None, limits: Limits = Limits()) -> "SalesApp":
    """The API over `store`; the store is closed when the app shuts down."""
    rules = rules or FeedRules()
    sales = Sales(store, rules, limits)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        sales.raw_sales.refresh()
        sales.monthly_sales.refresh()
        yield
        store.close()

    app = FastAPI(title="vegsales", summary="Weekly vegetable sales in, clean monthly sales out.", lifespan=lifespan)

    def route(path: str, methods: list[str], **options):
        """Serve `path` with and without a trailing slash (no redirect: POST bodies survive)."""

        def register(endpoint):
            for method in methods:  # one route per method: each gets its own operation id in /docs
                operation = f"{endpoint.__name__}_{method.lower()}"
                app.add_api_route(path, endpoint, methods=[method], operation_id=operation, **options)
                app.add_api_route(path + "/", endpoint, methods=[method], include_in_schema=False)
            return endpoint

        return register

    @route(
        "/post_sales",
        ["POST"],
        openapi_extra=POST_BODY_DOC,
        responses={
            200: {"model": IngestReportOut, "description": "At least one record stored (or none sent)"},
            400: {"model": ErrorBody, "description": "Body is not JSON, or not a list of records"},
            413: {"model": ErrorBody, "description": "Body or list too large"},
            422: {"model": IngestReportOut, "description": "Every record was rejected"},
        },
    )
    async def post_sales(request: Request) -> Response:
        """Store weekly sales: every valid record is written, every invalid one reported."""
        return to_response(await sales.post(request.stream(), request.headers.get("content-length")))

    @route("/get_raw_sales", ["GET"], responses={200: {"model": list[RawSale]}})
    async def get_raw_sales(request: Request) -> Response:
        """Bronze: every record as received, one per (date, vegetable), sorted by date then vegetable."""
        return to_response(sales.raw(*conditional_headers(request.headers.get)))

    @route("/get_monthly_sales", ["GET"], responses={200: {"model": list[MonthlySale]}, 400: {"model": ErrorBody}})
    async def get_monthly_sales(request: Request, remove_outliers: str = "false") -> Response:
        """Gold: kilos per month and vegetable, sorted by month then vegetable; `remove_outliers`
        (true/false/1/0/yes/no) leaves out the months tagged as outliers."""
        return to_response(sales.monthly(remove_outliers, *conditional_headers(request.headers.get)))

    @route("/init_database", ["GET", "POST"])
    async def init_database() -> dict:
        """Create the tables if they do not exist, else empty them."""
        await to_thread.run_sync(store.init)
        return {"status": "ok", "tables": list(TABLES)}

    @route("/get_rejected_sales", ["GET"], responses={200: {"model": RejectedSales}, 400: {"model": ErrorBody}})
    async def get_rejected_sales(limit: int = Query(1000, ge=1, le=limits.max_rejected)) -> Response:
        """Quarantine: every rejected record kept once, with its reasons, the most recently received first."""
        rows, total = await to_thread.run_sync(store.rejected_sales, limit)
        dropped = int((await to_thread.run_sync(store.meta)).get("rejected_dropped", "0"))
        return to_response(json_reply(200, {"total": total, "dropped": dropped, "rows": list(map(rejected_out, rows))}))

    @route("/replay_rejected", ["POST"], responses={200: {"model": ReplayReportOut}, 503: {"model": ErrorBody}})
    async def replay() -> Response:
        """Check every quarantined record again: those now valid are stored and leave quarantine."""
        report = await to_thread.run_sync(replay_rejected, store, rules)
        return to_response(json_reply(200, report))

    @route("/health", ["GET"], responses={503: {"model": ErrorBody}})
    async def health() -> dict:
        """200 when the service can serve requests."""
        store.check()
        return {"status": "ok"}

    add_error_handlers(app)
    return SalesApp(app, sales)


class SalesApp:
    """ASGI app: the hot endpoints answered directly, everything else passed to FastAPI."""

    def __init__(self, api: FastAPI, sales: Sales):
        self.api = api
        self._hot: dict[tuple[str, str], Callable[[dict, Callable], Awaitable[Reply]]] = {
            ("POST", "/post_sales"): self._post,
            ("GET", "/get_raw_sales"): self._raw,
            ("GET", "/get_monthly_sales"): self._monthly,
        }
        self._sales = sales

    def close(self) -> None:
        """Release the store, for an app that will not be served."""
        self._sales.store.close()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            handler = self._hot.get((scope["method"], path[:-1] if path.endswith("/") else path))
            if handler is not None:
                try:
                    reply = await handler(scope, receive)
                except ApiError as error:
                    reply = error_reply(error.status, error.error, error.message)
                except StorageError as error:
                    reply = error_reply(503, "storage_unavailable", str(error))
                except Exception:
                    log.exception("unexpected error on %s %s", scope["method"], path)
                    reply = error_reply(500, "internal_error", "unexpected server error")
                await send_reply(send, reply)
                return
        await self.api(scope, receive, send)

    async def _post(self, scope: dict, receive: Callable) -> Reply:
        async def chunks() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ApiError(400, "client_disconnected", "the client went away before sending the body")
                yield message.get("body", b"")
                if not message.get("more_body", False):
                    return

        return await self._sales.post(chunks(), header(scope, b"content-length"))

    async def _raw(self, scope: dict, receive: Callable) -> Reply:
        return self._sales.raw(*conditional_headers(lambda name: header(scope, name.encode())))

    async def _monthly(self, scope: dict, receive: Callable) -> Reply:
        query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        headers = conditional_headers(lambda name: header(scope, name.encode()))
        return self._sales.monthly(query.get("remove_outliers", "false"), *headers)


def raw_sale_json(row: BronzeRow) -> bytes:
    """A bronze row as /get_raw_sales shows it: the record as received."""
    return orjson.dumps({"date": row.date, "vegetable": row.vegetable, "kilo_sold": row.kilo_sold})


def rejected_out(row: RejectedRow) -> dict:
    return {
        "record_hash": row.record_hash,
        "record": row.record if row.truncated else record_value(row.record),
        "truncated": row.truncated,
        "errors": orjson.loads(row.errors),
        "first_received": row.first_received,
        "last_received": row.last_received,
        "times": row.times,
    }


def header(scope: dict, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def conditional_headers(get: Callable[[str], str | None]) -> tuple[str, str]:
    return get("accept-encoding") or "", get("if-none-match") or ""


async def send_reply(send: Callable, reply: Reply) -> None:
    headers = []
    if reply.status != 304:  # a 304 describes the 200 it stands for: no length of its own
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(reply.body)).encode())]
    headers += [(name.lower().encode(), value.encode()) for name, value in reply.headers.items()]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


def to_response(reply: Reply) -> Response:
    return Response(reply.body, status_code=reply.status, headers=reply.headers, media_type="application/json")


async def read_body(chunks: AsyncIterator[bytes], content_length: str | None, max_bytes: int) -> bytes:
    too_large = ApiError(413, "body_too_large", f"the body exceeds {max_bytes} bytes")
    if content_length and content_length.isdigit() and int(content_length) > max_bytes:
        raise too_large
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        parts.append(chunk)
    return b"".join(parts)


def parse_records(body: bytes, max_records: int) -> list:
    """The list of records in a body: a JSON array, or an object {"data": [...]}."""
    expected = 'expected a JSON array of records, or an object {"data": [...]}'
    if not body.strip():
        raise ApiError(400, "empty_body", f"the body is empty; {expected}")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        try:
            # Valid JSON that orjson refuses (numbers beyond a double): let validation reject
            # those records one by one instead of the whole body.
            payload = json.loads(body)
        except (ValueError, RecursionError):
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


def table_reply(table: JsonTable, variant: str, accept_encoding: str, if_none_match: str) -> Reply:
    """The table's current JSON, with an ETag; 304 when the client already has it."""
    table.refresh()
    etag = table.etag(variant)
    headers = {"ETag": etag, "Vary": "Accept-Encoding", "Cache-Control": "no-cache"}
    # Weak comparison (RFC 9110 13.1.2): W/"x" matches "x".
    client_tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",") if tag.strip()}
    if etag.removeprefix("W/") in client_tags or "*" in client_tags:
        return Reply(304, b"", headers)
    gzipped = accepts_gzip(accept_encoding) and table.worth_compressing(variant)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Reply(200, table.body(variant, gzipped), headers)


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


def add_error_handlers(app: FastAPI) -> None:
    def error(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"error": code, "message": message}, status_code=status)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error(exc.status, exc.error, exc.message)

    @app.exception_handler(StorageError)
    async def storage_error(request: Request, exc: StorageError) -> JSONResponse:
        return error(503, "storage_unavailable", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = error(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(400, "invalid_request", "; ".join(e["msg"] for e in exc.errors()))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return error(500, "internal_error", "unexpected server error")
