"""The history: one entry per data version, newest first."""

from typing import Annotated

from anyio import to_thread
from fastapi import Query
from fastapi.responses import Response

from .. import reports
from ..asgi import json_reply
from ..reports import History
from .operation import ERROR, STORAGE_DOWN, Endpoint, operation, to_response
from .service import Service

MAX_HISTORY = 100_000


@operation({200: {"model": History}, 400: ERROR, 503: STORAGE_DOWN})
def get_history(service: Service) -> Endpoint:
    store = service.store

    async def get_history(limit: Annotated[int, Query(ge=1, le=MAX_HISTORY)] = 100) -> Response:
        """The data versions kept, the newest first: when each was committed, what made it (post,
        replay, delete, init, rules, migrate), by which request, and what it changed."""
        rows = await to_thread.run_sync(store.versions, limit)
        return to_response(json_reply(200, reports.history(rows)))

    return get_history
