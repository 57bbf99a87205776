"""create_app(store): the service as one ASGI app, wired from the routes table (routes.py).

Every request passes the same layers, outermost first: Telemetry (request id, the service's headers,
metrics, access log), CORS when origins are allowed, Guards (hosts, cross-site requests, tokens), then
QueryCheck (unknown query parameters), then HotRoutes, which answers the hot routes itself and passes
every other request to FastAPI.
"""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from ..asgi import HotRoutes
from ..guards import Guards, Security
from ..silver import FeedRules
from ..storage import Store
from ..telemetry import Telemetry
from .errors import add_error_handlers
from .openapi import openapi_document
from .pages import PAGE_HEADERS, SECURITY_HEADERS, static_files
from .query_check import QueryCheck, accepted_parameters
from .routes import ROUTES, STATIC, add_routes, allowed_methods, hot_handlers, path_rules
from .service import Limits, Service

DEFAULT_LIMITS = Limits()


class SalesApp:
    """The service as one ASGI app, middleware outermost; `close()` releases the store of an app
    that will not be served (a served one closes it at shutdown)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Any], api: FastAPI, store: Store):
        self.app, self.api, self._store = app, api, store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def close(self) -> None:
        self._store.close()


def create_app(
    store: Store,
    rules: FeedRules | None = None,
    limits: Limits = DEFAULT_LIMITS,
    security: Security | None = None,
    metrics: bool = True,
    access_log: bool = False,
) -> SalesApp:
    """The API over `store`; the store is closed when the app shuts down."""
    service = Service(store, rules or FeedRules(), limits, metrics)
    api = FastAPIOffline(  # Swagger UI's and ReDoc's scripts served from the package (no CDN), our own pages
        title="vegsales",
        summary="Weekly vegetable sales in, clean monthly sales out.",
        lifespan=service.lifespan,
        docs_url=None,
        redoc_url=None,
    )
    served = add_routes(api, ROUTES, service)
    api.mount(STATIC, static_files(), name="static")
    allowed = allowed_methods(served)
    add_error_handlers(api, allowed)
    api.openapi = lambda: openapi_document(api)  # type: ignore[method-assign]
    guarded = path_rules(ROUTES)
    app: ASGIApp = HotRoutes(hot_handlers(served, service), api, guarded.unsafe_gets, allowed.get)
    app = QueryCheck(app, accepted_parameters(api, guarded.unsafe_gets))  # from the endpoints' signatures
    security = security or Security()
    app = Guards(app, security, guarded)
    if security.allowed_origins:
        app = CORSMiddleware(
            app,
            allow_origins=list(security.allowed_origins),
            allow_methods=["GET", "HEAD", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match", "X-Request-ID"],
            expose_headers=["ETag", "X-Data-Version", "X-Request-ID"],
            max_age=600,
        )
    paths = frozenset(route.path for route in served)
    app = Telemetry(app, paths, service.metrics, access_log, SECURITY_HEADERS, PAGE_HEADERS)
    return SalesApp(app, api, store)
