"""The pages: the dashboard and its chart, Swagger UI and ReDoc, and the files they load, each page
under a strict Content-Security-Policy."""

from pathlib import Path
from typing import Annotated

from fastapi import Query
from fastapi.responses import Response
from starlette.staticfiles import StaticFiles

from ..chart import monthly_chart, monthly_points
from .forecasts import forecast_bands
from .operation import BOOLEANS, Endpoint, RemoveOutliers, operation
from .service import Service
from .vegetables import canonical

SECURITY_HEADERS = [("X-Content-Type-Options", "nosniff")]
"""On every answer."""
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
"""On every HTML answer (a page that sets its own policy keeps it)."""
STATIC = Path(__file__).parent.parent / "static"
NO_CACHE = {"Cache-Control": "no-cache"}


def page(file: Path, headers: dict[str, str] = NO_CACHE) -> Endpoint:
    """The endpoint serving the HTML page `file`, read at each request."""

    async def page() -> Response:
        return Response(file.read_bytes(), media_type="text/html; charset=utf-8", headers=headers)

    return page


@operation(documented=False)
def dashboard(service: Service) -> Endpoint:
    return page(STATIC / "dashboard.html")


@operation(documented=False)
def docs(service: Service) -> Endpoint:
    return page(STATIC / "docs.html")  # Swagger UI, started by static/docs.js: the page has no inline script


@operation(documented=False)
def redoc(service: Service) -> Endpoint:
    return page(STATIC / "redoc.html", {**NO_CACHE, "Content-Security-Policy": REDOC_POLICY})


@operation(documented=False)
def chart(service: Service) -> Endpoint:
    async def chart(
        vegetable: Annotated[str, Query(max_length=100)],
        remove_outliers: RemoveOutliers = "false",
        forecast: RemoveOutliers = "true",
    ) -> Response:
        """The dashboard's chart of one vegetable (drawn on the server: the page needs no chart library)."""
        name = canonical(service, vegetable)
        flag = BOOLEANS[remove_outliers]
        months = monthly_points(service.gold_rows(), name, flag)
        future = await forecast_bands(service, name, flag) if BOOLEANS[forecast] else []
        return Response(monthly_chart(name, months, future), media_type="image/svg+xml", headers=NO_CACHE)

    return chart


def static_files() -> StaticFiles:
    """The pages' scripts, styles and images."""
    return StaticFiles(directory=STATIC)
