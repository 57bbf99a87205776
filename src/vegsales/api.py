"""create_app(store): the HTTP API. Endpoints are thin: parse, call the pipeline, render."""

import json
from contextlib import asynccontextmanager
from dataclasses import dataclass

import orjson
from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from .pipeline import IngestReport, ingest
from .records import SaleRecord
from .storage import StorageError, Store
from .vegetables import Vocabulary
from .views import JsonTable

BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 64 * 1024 * 1024
    max_records: int = 100_000


class ApiError(Exception):
    """A request the API refuses, with its HTTP status and a machine-readable code."""

    def __init__(self, status: int, error: str, message: str):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


# Shapes shown in /docs; the hot paths render bytes directly.
class ErrorBody(BaseModel):
    error: str
    message: str


class FieldErrorOut(BaseModel):
    field: str
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


class RawSale(BaseModel):
    date: str
    vegetable: str
    kilo_sold: float


class MonthlySale(BaseModel):
    year_month: str
    vegetable: str
    kilo_sold: float
    is_outlier: bool


POST_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "array", "items": SaleRecord.model_json_schema()},
                        {
                            "type": "object",
                            "properties": {"data": {"type": "array", "items": SaleRecord.model_json_schema()}},
                            "required": ["data"],
                        },
                    ]
                }
            }
        },
    }
}


def create_app(store: Store, vocabulary: Vocabulary | None = None, limits: Limits = Limits()) -> FastAPI:
    """The API over `store`; the store is closed when the app shuts down."""
    vocabulary = vocabulary or Vocabulary.load()
    raw_sales = JsonTable(store.bronze_changes, key=lambda row: row.key)
    monthly_sales = JsonTable(
        store.gold_changes,
        key=lambda row: row.key,
        variants={"without_outliers": lambda row: not row.is_outlier},
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        raw_sales.refresh()
        monthly_sales.refresh()
        yield
        store.close()

    app = FastAPI(
        title="vegsales",
        summary="Weekly vegetable sales in, clean monthly sales out.",
        lifespan=lifespan,
    )

    def route(path: str, methods: list[str], **options):
        """Serve `path` with and without a trailing slash (no redirect: POST bodies survive)."""

        def register(endpoint):
            app.add_api_route(path, endpoint, methods=methods, **options)
            app.add_api_route(path + "/", endpoint, methods=methods, include_in_schema=False)
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
        items = parse_records(await read_body(request, limits.max_body_bytes), limits.max_records)
        report: IngestReport = await to_thread.run_sync(ingest, store, vocabulary, items)
        status = 200 if report.stored_any else 422
        return Response(orjson.dumps(report), status_code=status, media_type="application/json")

    @route("/get_raw_sales", ["GET"], responses={200: {"model": list[RawSale]}})
    async def get_raw_sales(request: Request) -> Response:
        """Bronze: every record as received, one per (date, vegetable), sorted by date then vegetable."""
        return table_response(request, raw_sales, "all")

    @route(
        "/get_monthly_sales",
        ["GET"],
        responses={200: {"model": list[MonthlySale]}, 400: {"model": ErrorBody}},
    )
    async def get_monthly_sales(request: Request, remove_outliers: str = "false") -> Response:
        """Gold: kilos per month and vegetable, sorted by month then vegetable; `remove_outliers`
        (true/false/1/0/yes/no) leaves out the months tagged as outliers."""
        flag = BOOLEANS.get(remove_outliers.strip().lower())
        if flag is None:
            raise ApiError(400, "invalid_parameter", f"remove_outliers must be true or false, got {remove_outliers!r}")
        return table_response(request, monthly_sales, "without_outliers" if flag else "all")

    @route("/init_database", ["GET", "POST"])
    async def init_database() -> dict:
        """Create the tables if they do not exist, else empty them."""
        await to_thread.run_sync(store.init)
        return {"status": "ok", "tables": ["bronze_sales", "silver_sales", "gold_sales"]}

    @route("/health", ["GET"], responses={503: {"model": ErrorBody}})
    async def health() -> dict:
        """200 when the service can serve requests."""
        store.check()
        return {"status": "ok"}

    add_error_handlers(app)
    return app


async def read_body(request: Request, max_bytes: int) -> bytes:
    too_large = ApiError(413, "body_too_large", f"the body exceeds {max_bytes} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


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


def table_response(request: Request, table: JsonTable, variant: str) -> Response:
    """The table's current JSON, with an ETag; 304 when the client already has it."""
    table.refresh()
    gzipped = accepts_gzip(request.headers.get("accept-encoding", "")) and table.worth_compressing(variant)
    etag = table.etag(variant)
    headers = {"ETag": etag, "Vary": "Accept-Encoding", "Cache-Control": "no-cache"}
    client_tags = if_none_match(request.headers.get("if-none-match", ""))
    if etag.removeprefix("W/") in client_tags or "*" in client_tags:
        return Response(status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(table.body(variant, gzipped), media_type="application/json", headers=headers)


def accepts_gzip(accept_encoding: str) -> bool:
    for coding in accept_encoding.lower().split(","):
        name, _, params = coding.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def if_none_match(header: str) -> set[str]:
    # Weak and strong validators compare equal for GET (RFC 9110 weak comparison).
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


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
