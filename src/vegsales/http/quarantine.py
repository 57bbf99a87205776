"""The quarantine: the rejected records kept, and their replay once the rules accept them."""

from typing import Annotated

import orjson
from anyio import to_thread
from fastapi import Query
from fastapi.responses import Response

from .. import reports
from ..asgi import Reply, json_reply
from ..pipeline import ReplayReport
from ..quarantine import as_sent
from ..reports import RejectedSales
from .operation import ERROR, STORAGE_DOWN, Endpoint, operation, to_response
from .service import Service


@operation({200: {"model": RejectedSales}, 400: ERROR, 503: STORAGE_DOWN})
def get_rejected_sales(service: Service) -> Endpoint:
    store, most = service.store, service.limits.max_rejected

    async def get_rejected_sales(limit: Annotated[int, Query(ge=1, le=most)] = 1000) -> Response:
        """Quarantine: every rejected record kept once, with its reasons, the most recently received first."""
        rows, total = await to_thread.run_sync(store.rejected_sales, limit)
        meta = await to_thread.run_sync(store.meta)
        return to_response(Reply(200, orjson.dumps(reports.rejected_sales(rows, total, meta), default=as_sent)))

    return get_rejected_sales


@operation({200: {"model": ReplayReport}, 503: STORAGE_DOWN})
def replay_rejected(service: Service) -> Endpoint:
    async def replay_rejected() -> Response:
        """Check every quarantined record again: those now valid are stored and leave quarantine."""
        return to_response(json_reply(200, await service.writer.replay_rejected()))

    return replay_rejected
