"""Running the service: the tables' creation (or emptying), its health, its metrics."""

from anyio import to_thread
from fastapi.responses import Response

from ..asgi import json_reply
from ..context import current_request
from ..metrics import CONTENT_TYPE as METRICS_TYPE
from ..pipeline import init_store
from ..reports import Health, Initialised
from ..storage import TABLES
from .operation import STORAGE_DOWN, Endpoint, operation, to_response
from .service import Service


@operation({200: {"model": Initialised}, 503: STORAGE_DOWN})
def init_database(service: Service) -> Endpoint:
    async def init_database() -> Response:
        """Create the tables if they do not exist, else empty them (the quarantine and the history too);
        the data versions go on."""
        await to_thread.run_sync(init_store, service.store, current_request().request_id)
        return to_response(json_reply(200, Initialised(status="ok", tables=list(TABLES))))

    return init_database


@operation({200: {"content": {"text/plain": {}}, "description": "Prometheus text"}})
def metrics_page(service: Service) -> Endpoint | None:
    if service.metrics is None:  # metrics off: no page
        return None
    scrape = service.metrics.scrape

    async def metrics_page() -> Response:
        """Prometheus metrics: HTTP, pipeline, store and data quality (see the README)."""
        return Response(await to_thread.run_sync(scrape), media_type=METRICS_TYPE)

    return metrics_page


@operation({200: {"model": Health}, 503: STORAGE_DOWN})
def health(service: Service) -> Endpoint:
    async def health() -> Response:
        """200 when the service can serve requests."""
        await to_thread.run_sync(service.store.check)
        return to_response(json_reply(200, Health(status="ok")))

    return health
