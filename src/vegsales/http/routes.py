"""The routes: one table of every path, what it serves and who may call it. Everything else about
routes is derived from it: the guards (which token each path needs, which paths no page of another
site may call, the GETs that change data), the hot routes' dispatch, the `Allow` header of every
answer to OPTIONS and of every 405, and the API's document (/openapi.json, /docs).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

from fastapi import FastAPI

from ..asgi import Handler
from ..guards import Access, PathRules
from . import data_quality, deletion, forecasts, history, operations, pages, quarantine, sales, vegetables
from .operation import Operation
from .service import Service


@dataclass(frozen=True)
class Route:
    """One row of the table: a path, its methods, who may call it, whether it changes data, whether
    it is hot, and its endpoint (with what /docs says of it)."""

    path: str
    methods: tuple[str, ...]
    access: Access
    """Who may call it when tokens are set: anyone (read), the write token, the admin token."""
    changes_data: bool
    """A page of another site may not call it; a GET that changes data gets no HEAD."""
    hot: bool
    """Answered by its operation's handler below FastAPI (asgi.HotRoutes), without FastAPI's routing."""
    endpoint: Operation

    def __post_init__(self) -> None:
        if self.hot != (self.endpoint.hot is not None):
            raise ValueError(f"{self.path}: a hot route's operation has a handler, and only a hot route's")


GET, POST = ("GET",), ("POST",)

# fmt: off
ROUTES = (
    #     path                    methods          access   changes hot    endpoint
    Route("/post_sales",          POST,            "write", True,   True,  sales.post_sales),
    Route("/get_raw_sales",       GET,             "read",  False,  True,  sales.get_raw_sales),
    Route("/get_weekly_sales",    GET,             "read",  False,  True,  sales.get_weekly_sales),
    Route("/get_monthly_sales",   GET,             "read",  False,  True,  sales.get_monthly_sales),
    Route("/delete_sales",        POST,            "admin", True,   True,  deletion.delete_sales),
    Route("/init_database",       ("GET", "POST"), "admin", True,   False, operations.init_database),
    Route("/get_rejected_sales",  GET,             "read",  False,  False, quarantine.get_rejected_sales),
    Route("/replay_rejected",     POST,            "admin", True,   False, quarantine.replay_rejected),
    Route("/get_data_quality",    GET,             "read",  False,  False, data_quality.get_data_quality),
    Route("/metrics",             GET,             "admin", False,  False, operations.metrics_page),
    Route("/resolve_vegetable",   GET,             "read",  False,  False, vegetables.resolve_vegetable),
    Route("/get_forecast",        GET,             "read",  False,  False, forecasts.get_forecast),
    Route("/get_history",         GET,             "read",  False,  False, history.get_history),
    Route("/",                    GET,             "read",  False,  False, pages.dashboard),
    Route("/dashboard",           GET,             "read",  False,  False, pages.dashboard),
    Route("/docs",                GET,             "read",  False,  False, pages.docs),
    Route("/redoc",               GET,             "read",  False,  False, pages.redoc),
    Route("/dashboard/chart.svg", GET,             "read",  False,  False, pages.chart),
    Route("/health",              GET,             "read",  False,  False, operations.health),
)
# fmt: on
"""In the order of /docs."""
STATIC = "/static"
"""Where the pages' files are served (pages.static_files)."""


def path_rules(routes: Iterable[Route]) -> PathRules:
    """What the guards check, path by path."""
    routes = tuple(routes)
    return PathRules(
        access={route.path: route.access for route in routes if route.access != "read"},
        changing=frozenset(route.path for route in routes if route.changes_data),
        unsafe_gets=frozenset(route.path for route in routes if route.changes_data and "GET" in route.methods),
    )


def allowed_methods(routes: Iterable[Route]) -> dict[str, str]:
    """Each path's Allow header: its methods, HEAD with a GET that changes no data, and OPTIONS."""
    methods: dict[str, set[str]] = {}
    for route in routes:
        served = methods.setdefault(route.path, {"OPTIONS"})
        served.update(route.methods)
        if "GET" in route.methods and not route.changes_data:  # HEAD never empties the store
            served.add("HEAD")
    return {path: ", ".join(sorted(served)) for path, served in methods.items()}


def add_routes(api: FastAPI, routes: Iterable[Route], service: Service) -> list[Route]:
    """Each route's endpoint added to `api`, one route per method (each its own operation id in
    /docs); the routes this app serves (a route whose endpoint it does not build is left out)."""
    served = []
    for route in routes:
        endpoint = route.endpoint.build(service)
        if endpoint is None:
            continue
        for method in route.methods:
            operation_id = f"{endpoint.__name__}_{method.lower()}"
            api.add_api_route(
                route.path, endpoint, methods=[method], operation_id=operation_id, **route.endpoint.options()
            )
        served.append(route)
    return served


def hot_handlers(routes: Iterable[Route], service: Service) -> dict[tuple[str, str], Handler]:
    """(method, path) -> the handler of each hot route, over `service`."""
    return {
        (method, route.path): partial(route.endpoint.hot, service)
        for route in routes
        if route.endpoint.hot is not None
        for method in route.methods
    }
