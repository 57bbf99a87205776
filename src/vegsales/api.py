"""create_app(store): the HTTP API.

The three hot endpoints (post_sales, get_raw_sales, get_monthly_sales) are answered by
`asgi.HotRoutes`; FastAPI serves /docs, /openapi.json and the other endpoints, and documents
the hot ones from routes that are never run. Shapes in /docs are the types the endpoints
serve (dataclasses and TypedDicts), not copies of them.
"""

import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import parse_qsl

import orjson
from anyio import to_thread
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from typing_extensions import TypedDict  # pydantic reads its field types on Python 3.11

from .asgi import ApiError, ErrorBody, HotRoutes, Reply, json_reply, read_body, reply_for
from .chart import Point, monthly_chart
from .context import current_request
from .forecast_types import Backtest, ForecastMonth, ForecastUnavailable, NotEnoughHistory, TrainedOn
from .guards import Access, Guards, Security
from .json_bodies import JsonTable
from .metrics import CONTENT_TYPE as METRICS_TYPE
from .metrics import Metrics, StoreCollector
from .pipeline import IngestReport, PostWriter, ReplayReport
from .quality import VegetableQuality, rejected_names, vegetable_quality
from .quarantine import MAX_REJECTED, as_sent, read_record, served_errors, served_record
from .records import MAX_BODY_DEPTH, SALE_RECORD, TooDeep, escaped_surrogates, json_as_sent
from .silver import FeedRules, silver_row
from .storage import TABLES, StorageError, Store
from .tables import BronzeRow, GoldRow, RejectedRow
from .telemetry import Telemetry
from .vegetables import UnknownVegetable

INLINE_BYTES = 256 * 1024
Endpoint = Callable[..., Any]
RemoveOutliers = Literal[
    "true", "True", "TRUE", "1", "yes", "Yes", "YES", "false", "False", "FALSE", "0", "no", "No", "NO"
]
BOOLEANS = {word: word.lower() in ("true", "1", "yes") for word in get_args(RemoveOutliers)}
SECURITY_HEADERS = [("X-Content-Type-Options", "nosniff")]
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
"""The pages load and run only what this server serves (no inline script or style), and may not be framed."""
REDOC_POLICY = PAGE_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
"""ReDoc writes its styles into the page as it draws it; its scripts stay the server's own."""
PAGE_HEADERS = [
    ("Content-Security-Policy", PAGE_POLICY),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
]
CHANGING = frozenset({"/post_sales", "/init_database", "/replay_rejected"})
"""The paths that change data: no page of another site may call them."""
ACCESS: dict[str, Access] = {
    "/post_sales": "write",
    "/init_database": "admin",
    "/replay_rejected": "admin",
    "/metrics": "admin",
}
"""The token each path needs when tokens are set."""
RECENT_RECORDS = 1000
STATIC = Path(__file__).parent / "static"
DASHBOARD = STATIC / "dashboard.html"
DOCS, REDOC = STATIC / "docs.html", STATIC / "redoc.html"
NO_CACHE = {"Cache-Control": "no-cache"}
INSTALL_FORECAST = "forecasts need the forecast extra: pip install 'vegsales[forecast]'"
UNSAFE_GETS = frozenset({"/init_database"})
"""GET paths that change data, kept for scripts: no HEAD, no browser navigation."""


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 16 * 1024 * 1024  # 100,000 records take ~7 MB
    max_records: int = 100_000
    max_rejected: int = MAX_REJECTED
    """Distinct rejected records kept in quarantine."""


class RawSale(TypedDict):
    """A bronze row as /get_raw_sales serves it: the record as received."""

    date: str
    vegetable: str
    kilo_sold: float


class RejectedSale(TypedDict):
    record_hash: str
    record: Any
    """The record as sent; its JSON text instead when `record_is_text`."""
    record_is_text: bool
    """Whether `record` is the record's JSON text (a string): when it is truncated (its first 10 KiB),
    or when a JSON reader could not take the record back (NaN or Infinity, a lone surrogate, nesting
    past 64 levels, an integer of over 4,300 digits)."""
    truncated: bool
    errors: list[ErrorBody | dict[str, str]]
    first_received: str
    last_received: str
    times: int


class RejectedSales(TypedDict):
    """The quarantine: `total` records kept, `dropped` so far to stay within the bound, newest first."""

    total: int
    dropped: int
    rows: list[RejectedSale]


class RejectedName(TypedDict):
    vegetable: str
    times: int


class FeedQuality(TypedDict):
    recent_records: int
    """How many records this process received lately (at most 1,000)."""
    recent_rejected_share: float | None
    most_rejected_names: list[RejectedName]


class DataQuality(TypedDict):
    vegetables: list[VegetableQuality]
    feed: FeedQuality


class Resolved(TypedDict):
    name: str
    vegetable: str


class UnknownName(TypedDict):
    error: str
    message: str
    suggestions: list[str]


class VegetableForecast(TypedDict):
    vegetable: str
    model: str
    """Which model ran: ETS(M,Ad,M) season 12 from 24 months, simpler ones below."""
    trained_on: TrainedOn
    backtest: Backtest
    forecast: list[ForecastMonth]


class Tables(TypedDict):
    status: Literal["ok"]
    tables: list[str]


class Health(TypedDict):
    status: Literal["ok"]


def raw_sale_json(row: BronzeRow) -> bytes:
    try:
        return orjson.dumps(RawSale(date=row.date, vegetable=row.vegetable, kilo_sold=row.kilo_sold))
    except orjson.JSONEncodeError:  # a row no post could store (a lone surrogate), written to the store directly
        date, vegetable = escaped_surrogates(row.date), escaped_surrogates(row.vegetable)
        return orjson.dumps(RawSale(date=date, vegetable=vegetable, kilo_sold=row.kilo_sold))


def rejected_sale(row: RejectedRow) -> RejectedSale:
    """A quarantine row as served: always JSON, whatever the row holds."""
    record, is_text = served_record(row)
    return RejectedSale(
        record_hash=escaped_surrogates(row.record_hash),
        record=record,
        record_is_text=is_text,
        truncated=row.truncated,
        errors=served_errors(row),
        first_received=escaped_surrogates(row.first_received),
        last_received=escaped_surrogates(row.last_received),
        times=row.times,
    )


class Sales:
    """The hot endpoints, answered from ASGI scopes, and what they feed: metrics, recent outcomes."""

    def __init__(self, store: Store, writer: PostWriter, limits: Limits, metrics: Metrics | None):
        self.store, self.writer, self.limits, self.metrics = store, writer, limits, metrics
        self.raw_sales = JsonTable(store.bronze_changes, key=lambda row: row.key, render=raw_sale_json)
        self.monthly_sales = JsonTable(
            store.gold_changes, key=lambda row: row.key, variants={"without_outliers": lambda row: not row.is_outlier}
        )
        self.recent: deque[bool] = deque(maxlen=RECENT_RECORDS)
        """Whether each of the last records this process received was rejected."""
        self._quality: tuple[str, list[VegetableQuality]] = ("", [])

    async def post(self, scope: Scope, receive: Receive) -> Reply:
        request = current_request()
        body = await read_body(receive, request.header(b"content-length"), self.limits.max_body_bytes)
        request.body_bytes = len(body)
        if len(body) <= INLINE_BYTES:
            items = parse_records(body, self.limits.max_records)
        else:  # parsing megabytes would stall every other request
            items = await to_thread.run_sync(parse_records, body, self.limits.max_records)
        try:
            report = await self.writer.ingest(items, body)
        except TooDeep as error:
            raise ApiError(400, "body_too_deep", f"the body {error}") from None
        request.records = (report.received, len(report.rejected))
        if self.metrics:
            self.metrics.observe_post(report)
        rejected = {rejection.index for rejection in report.rejected}
        self.recent.extend(
            index in rejected for index in range(max(0, report.received - RECENT_RECORDS), report.received)
        )
        return json_reply(200 if report.stored_any else 422, report)

    def quality(self) -> list[VegetableQuality]:
        """Per vegetable: weeks, gaps and the latest week's robust z-score; computed once per bronze version."""
        self.raw_sales.refresh()
        version = self.raw_sales.etag()
        if self._quality[0] != version:
            resolve = self.writer.rules.vocabulary.resolve
            silver = [
                silver_row(row, vegetable)
                for row in self.raw_sales.rows()
                if isinstance(vegetable := resolve(row.vegetable), str)
            ]
            self._quality = (version, vegetable_quality(silver))
        return self._quality[1]

    async def raw(self, scope: Scope, receive: Receive) -> Reply:
        return await self.table_reply(self.raw_sales, "all")

    async def monthly(self, scope: Scope, receive: Receive) -> Reply:
        query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        value = query.get("remove_outliers", "false")
        flag = BOOLEANS.get(value)
        if flag is None:
            raise ApiError(400, "invalid_parameter", f"remove_outliers must be true or false, got {value!r}")
        return await self.table_reply(self.monthly_sales, "without_outliers" if flag else "all")

    async def table_reply(self, table: JsonTable[Any], variant: str) -> Reply:
        asked = time.monotonic()
        if self.store.reads_wait_on_io:  # a database round trip: in a worker thread, so that the loop goes on
            return await to_thread.run_sync(table_reply, table, variant, asked)
        return table_reply(table, variant, asked)


class SalesApp:
    """The service as one ASGI app, middleware outermost; `close()` releases the store of an app
    that will not be served (a served one closes it at shutdown)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Any], api: FastAPI, store: Store):
        self.app, self.api, self._store = app, api, store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def close(self) -> None:
        self._store.close()


ERROR = {"model": ErrorBody}
STORAGE_DOWN = {"model": ErrorBody, "description": "The store cannot be read or written now; nothing was changed"}
NOT_MODIFIED = {"description": "The client's copy (If-None-Match) is current: no body"}


def create_app(
    store: Store,
    rules: FeedRules | None = None,
    limits: Limits = Limits(),
    security: Security | None = None,
    metrics: bool = True,
    access_log: bool = False,
) -> SalesApp:
    """The API over `store`; the store is closed when the app shuts down."""
    writer = PostWriter(store, rules or FeedRules(), limits.max_rejected)
    figures = None
    sales = Sales(store, writer, limits, None)
    if metrics:
        figures = Metrics(StoreCollector(store.table_sizes, sales.quality))
        sales.metrics = figures

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sales.raw_sales.refresh()
        sales.monthly_sales.refresh()
        yield
        store.close()

    api = FastAPIOffline(  # Swagger UI's and ReDoc's scripts served from the package (no CDN), our own pages below
        title="vegsales",
        summary="Weekly vegetable sales in, clean monthly sales out.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )

    def route(path: str, methods: list[str], **options: Any) -> Callable[[Endpoint], Endpoint]:
        def register(endpoint: Endpoint) -> Endpoint:
            for method in methods:  # one route per method: each gets its own operation id in /docs
                operation = f"{endpoint.__name__}_{method.lower()}"
                api.add_api_route(path, endpoint, methods=[method], operation_id=operation, **options)
            return endpoint

        return register

    async def served_by_hot_routes() -> None:
        raise RuntimeError("this route only documents an endpoint that asgi.HotRoutes serves")

    def documented(path: str, method: str, summary: str, **options: Any) -> None:
        api.add_api_route(
            path, served_by_hot_routes, methods=[method], operation_id=f"{path.strip('/')}_{method.lower()}",
            summary=summary, **options,
        )  # fmt: skip

    documented(
        "/post_sales",
        "POST",
        "Store weekly sales: every valid record is written, every invalid one reported and kept in quarantine",
        openapi_extra=POST_BODY_DOC,
        responses={
            200: {"model": IngestReport, "description": "At least one record stored (or none sent)"},
            400: {
                "model": ErrorBody,
                "description": f"Body is not JSON, not a list of records, or nests past {MAX_BODY_DEPTH} levels",
            },
            413: {"model": ErrorBody, "description": "Body over 16 MiB, or over 100,000 records"},
            422: {"model": IngestReport, "description": "Every record was rejected"},
            503: STORAGE_DOWN,
        },
    )
    documented(
        "/get_raw_sales",
        "GET",
        "Bronze: every record as received, one per (week, vegetable as sent), sorted by week then vegetable",
        responses={200: {"model": list[RawSale]}, 304: NOT_MODIFIED, 503: STORAGE_DOWN},
    )

    async def monthly_doc(remove_outliers: RemoveOutliers = "false") -> None:
        raise RuntimeError("this route only documents an endpoint that asgi.HotRoutes serves")

    api.add_api_route(
        "/get_monthly_sales",
        monthly_doc,
        methods=["GET"],
        operation_id="get_monthly_sales_get",
        summary="Gold: kilos per month and vegetable, sorted by month then vegetable; remove_outliers leaves out "
        "the months tagged as outliers",
        responses={200: {"model": list[GoldRow]}, 304: NOT_MODIFIED, 400: ERROR, 503: STORAGE_DOWN},
    )

    @route("/init_database", ["GET", "POST"], responses={200: {"model": Tables}, 503: STORAGE_DOWN})
    async def init_database() -> Response:
        """Create the tables if they do not exist, else empty them (the quarantine too)."""
        await to_thread.run_sync(store.init)
        return to_response(json_reply(200, Tables(status="ok", tables=list(TABLES))))

    @route("/get_rejected_sales", ["GET"], responses={200: {"model": RejectedSales}, 400: ERROR, 503: STORAGE_DOWN})
    async def get_rejected_sales(limit: Annotated[int, Query(ge=1, le=limits.max_rejected)] = 1000) -> Response:
        """Quarantine: every rejected record kept once, with its reasons, the most recently received first."""
        rows, total = await to_thread.run_sync(store.rejected_sales, limit)
        dropped = int((await to_thread.run_sync(store.meta)).get("rejected_dropped", "0"))
        quarantine = RejectedSales(total=total, dropped=dropped, rows=[rejected_sale(row) for row in rows])
        return to_response(Reply(200, orjson.dumps(quarantine, default=as_sent)))

    @route("/replay_rejected", ["POST"], responses={200: {"model": ReplayReport}, 503: STORAGE_DOWN})
    async def replay_rejected() -> Response:
        """Check every quarantined record again: those now valid are stored and leave quarantine."""
        return to_response(json_reply(200, await writer.replay_rejected()))

    @route("/get_data_quality", ["GET"], responses={200: {"model": DataQuality}, 503: STORAGE_DOWN})
    async def get_data_quality() -> Response:
        """Per vegetable: weeks stored, gaps, the latest week's robust z-score; for the feed: the share
        of the last records received that were rejected, and the vegetable names most often refused."""
        vegetables = await to_thread.run_sync(sales.quality)
        rejected, _ = await to_thread.run_sync(store.rejected_sales, limits.max_rejected)
        names = rejected_names(rejected_as_names(rejected))
        recent = list(sales.recent)
        feed = FeedQuality(
            recent_records=len(recent),
            recent_rejected_share=sum(recent) / len(recent) if recent else None,
            most_rejected_names=[RejectedName(vegetable=name, times=times) for name, times in names],
        )
        return to_response(json_reply(200, DataQuality(vegetables=vegetables, feed=feed)))

    if figures:
        scrape = figures.scrape

        @route("/metrics", ["GET"], responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}})
        async def metrics_page() -> Response:
            """Prometheus metrics: HTTP, pipeline, store and data quality (see the README)."""
            return Response(await to_thread.run_sync(scrape), media_type=METRICS_TYPE)

    @route("/resolve_vegetable", ["GET"], responses={200: {"model": Resolved}, 400: ERROR, 404: {"model": UnknownName}})
    async def resolve_vegetable(
        name: Annotated[str, Query(min_length=1, max_length=100, examples=["Zanahoria"])],
    ) -> Response:
        """The canonical vegetable a name (any language, spelling or typo) stands for."""
        return to_response(json_reply(200, Resolved(name=name, vegetable=canonical(name))))

    def canonical(name: str) -> str:
        match = writer.rules.vocabulary.resolve(name)
        if isinstance(match, UnknownVegetable):
            suggestions = [vegetable for vegetable, _ in match.suggestions]
            raise ApiError(404, "unknown_vegetable", match.message, extra={"suggestions": suggestions})
        return match

    def forecasts(names: list[str], horizon: int, remove_outliers: bool, single: bool) -> list[VegetableForecast]:
        """Each vegetable's forecast from its gold rows (cached by their content: refitted only when
        they changed); a vegetable with too little history is left out of a list of several."""
        try:
            from .forecast import forecast_vegetable  # numpy, and statsforecast on the first fit: lazily
        except ImportError as error:
            raise ApiError(501, "forecast_unavailable", f"{error}: {INSTALL_FORECAST}") from None
        sales.monthly_sales.refresh()
        months: dict[str, list[tuple[str, float, bool]]] = {name: [] for name in names}
        for row in sales.monthly_sales.rows():
            if row.vegetable in months:
                months[row.vegetable].append((row.year_month, row.kilo_sold, row.is_outlier))
        answers = []
        for name, rows in months.items():
            try:
                answer = forecast_vegetable(rows, horizon, remove_outliers)
            except ForecastUnavailable as error:
                raise ApiError(501, "forecast_unavailable", str(error)) from None
            except NotEnoughHistory as error:
                if single:
                    raise ApiError(422, "not_enough_history", f"{name}: {error}") from None
                continue
            answers.append(
                VegetableForecast(
                    vegetable=name,
                    model=answer.model,
                    trained_on=answer.trained_on,
                    backtest=answer.backtest,
                    forecast=list(answer.forecast),
                )
            )
        return answers

    @route(
        "/get_forecast",
        ["GET"],
        responses={
            200: {"model": VegetableForecast | list[VegetableForecast]},
            400: ERROR,
            404: {"model": UnknownName},
            422: {"model": ErrorBody, "description": "Too little history to fit (under 3 months)"},
            501: {"model": ErrorBody, "description": "Forecasts are not installed: pip install 'vegsales[forecast]'"},
        },
    )
    async def get_forecast(
        vegetable: Annotated[str | None, Query(max_length=100, examples=["Zanahoria"])] = None,
        horizon: Annotated[int, Query(ge=1, le=24)] = 12,
        remove_outliers: RemoveOutliers = "false",
    ) -> Response:
        """Monthly kilos forecast for the next `horizon` months with 80 % and 95 % intervals, trained on
        every month or (remove_outliers) with the outlier months replaced, and a backtest of the last
        12 months against the seasonal-naive baseline. Without `vegetable`, every vegetable (a list)."""
        if vegetable is not None:
            names = [canonical(vegetable)]
        else:
            sales.monthly_sales.refresh()
            names = sorted({row.vegetable for row in sales.monthly_sales.rows()})
        answers = await to_thread.run_sync(forecasts, names, horizon, BOOLEANS[remove_outliers], vegetable is not None)
        return to_response(json_reply(200, answers[0] if vegetable is not None else answers))

    @api.get("/", include_in_schema=False)
    @api.get("/dashboard", include_in_schema=False)
    async def dashboard() -> Response:
        return Response(DASHBOARD.read_bytes(), media_type="text/html; charset=utf-8", headers=NO_CACHE)

    @api.get("/docs", include_in_schema=False)
    async def docs() -> Response:  # Swagger UI, started by static/docs.js: the page has no inline script
        return Response(DOCS.read_bytes(), media_type="text/html; charset=utf-8", headers=NO_CACHE)

    @api.get("/redoc", include_in_schema=False)
    async def redoc() -> Response:
        headers = {**NO_CACHE, "Content-Security-Policy": REDOC_POLICY}
        return Response(REDOC.read_bytes(), media_type="text/html; charset=utf-8", headers=headers)

    @api.get("/dashboard/chart.svg", include_in_schema=False)
    async def chart(
        vegetable: Annotated[str, Query(max_length=100)],
        remove_outliers: RemoveOutliers = "false",
        forecast: RemoveOutliers = "true",
    ) -> Response:
        """The dashboard's chart of one vegetable (drawn on the server: the page needs no chart library)."""
        name = canonical(vegetable)
        sales.monthly_sales.refresh()
        flag = BOOLEANS[remove_outliers]
        months = [
            Point(row.year_month, row.kilo_sold, row.is_outlier)
            for row in sales.monthly_sales.rows()
            if row.vegetable == name and not (flag and row.is_outlier)
        ]
        future = []
        if BOOLEANS[forecast]:
            with suppress(ApiError):  # the bands when forecasts are installed and the history allows one
                (answer,) = await to_thread.run_sync(forecasts, [name], 12, flag, True)
                future = [asdict(month) for month in answer["forecast"]]
        return Response(monthly_chart(name, months, future), media_type="image/svg+xml", headers=NO_CACHE)

    @route("/health", ["GET"], responses={200: {"model": Health}, 503: STORAGE_DOWN})
    async def health() -> Response:
        """200 when the service can serve requests."""
        await to_thread.run_sync(store.check)
        return to_response(json_reply(200, Health(status="ok")))

    api.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_error_handlers(api)
    api.openapi = lambda: openapi_document(api)  # type: ignore[method-assign]
    app: ASGIApp = HotRoutes(
        {
            ("POST", "/post_sales"): sales.post,
            ("GET", "/get_raw_sales"): sales.raw,
            ("GET", "/get_monthly_sales"): sales.monthly,
        },
        fallback=api,
        unsafe_gets=UNSAFE_GETS,
        allowed=lambda path: allowed_methods(api, path),
    )
    # Cross-cutting layers, innermost first: every request passes all of them, hot ones included.
    security = replace(security or Security(), access=ACCESS)
    app = Guards(app, security, CHANGING, UNSAFE_GETS)
    if security.allowed_origins:
        app = CORSMiddleware(
            app,
            allow_origins=list(security.allowed_origins),
            allow_methods=["GET", "HEAD", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match", "X-Request-ID"],
            expose_headers=["ETag", "X-Request-ID"],
            max_age=600,
        )
    routes = frozenset(route.path for route in api.routes if isinstance(route, APIRoute))
    app = Telemetry(app, routes, figures, access_log, SECURITY_HEADERS, PAGE_HEADERS)
    return SalesApp(app, api, store)


def allowed_methods(api: FastAPI, path: str) -> str | None:
    """The Allow header of a path: every method its routes serve (HEAD with GET, OPTIONS); None if no route."""
    methods = {m for r in api.routes if isinstance(r, APIRoute) and r.path == path for m in r.methods or ()}
    if not methods:
        return None
    if "GET" in methods and path not in UNSAFE_GETS:  # HEAD never empties the store
        methods.add("HEAD")
    return ", ".join(sorted(methods | {"OPTIONS"}))


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


def openapi_document(api: FastAPI) -> dict[str, Any]:
    """FastAPI's document, without the 422 it adds to every operation with parameters: this API
    answers a bad parameter with 400; the 422s it documents are its own."""
    if api.openapi_schema is None:
        document = get_openapi(title=api.title, version=api.version, summary=api.summary, routes=api.routes)
        for operations in document["paths"].values():
            for operation in operations.values():
                if operation["responses"].get("422", {}).get("description") == "Validation Error":
                    del operation["responses"]["422"]
        for name in ("HTTPValidationError", "ValidationError"):
            document.get("components", {}).get("schemas", {}).pop(name, None)
        api.openapi_schema = document
    return api.openapi_schema


def to_response(reply: Reply) -> Response:
    return Response(reply.body, status_code=reply.status, headers=reply.headers, media_type=reply.content_type)


def rejected_as_names(rows: list[RejectedRow]) -> Iterator[tuple[Any, int]]:
    """(record, times) of the quarantined records rejected for their name: what the vocabulary may be
    missing. Rows that cannot be read back are left out."""
    for row in rows:
        if row.truncated or not any(
            isinstance(error, dict) and error.get("field") == "vegetable" for error in served_errors(row)
        ):
            continue
        try:
            yield read_record(row.record), row.times
        except ValueError:
            continue


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


def table_reply(table: JsonTable[Any], variant: str, asked: float | None = None) -> Reply:
    """The table's current JSON (as of `asked`: see JsonTable.refresh), with an ETag; 304 when the
    client already has it."""
    request = current_request()
    accept_encoding, if_none_match = request.header(b"accept-encoding") or "", request.header(b"if-none-match") or ""
    with table.lock:
        table.refresh(asked)
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


def add_error_handlers(api: FastAPI) -> None:
    """FastAPI's own errors, as ApiErrors, and every exception through the one mapping."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        allow = allowed_methods(api, request.url.path) if exc.status_code == 405 else None
        headers = {"Allow": allow} if allow else {}
        return to_response(reply_for(ApiError(exc.status_code, code, str(exc.detail), headers), request.scope))

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return to_response(reply_for(ApiError(400, "invalid_request", message), request.scope))

    async def any_error(request: Request, exc: Exception) -> Response:
        return to_response(reply_for(exc, request.scope))

    api.add_exception_handler(StarletteHTTPException, http_error)
    api.add_exception_handler(RequestValidationError, invalid_request)
    # Starlette re-raises what reaches its Exception handler (after answering), for the server's log.
    for error in (ApiError, StorageError, Exception):
        api.add_exception_handler(error, any_error)
