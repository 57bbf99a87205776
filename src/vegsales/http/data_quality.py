"""The data's quality: per vegetable, and of the feed that sends it."""

from anyio import to_thread
from fastapi.responses import Response

from ..asgi import json_reply
from ..reports import DataQuality, feed_quality
from .operation import STORAGE_DOWN, Endpoint, operation, to_response
from .service import Service


@operation({200: {"model": DataQuality}, 503: STORAGE_DOWN})
def get_data_quality(service: Service) -> Endpoint:
    async def get_data_quality() -> Response:
        """Per vegetable: weeks stored, gaps, the latest week's robust z-score; for the feed: the share
        of the last records received that were rejected, the vegetable names most often refused, and the
        warnings about stored records (read by similarity, overlapping weeks, other spellings) by code."""
        vegetables = await to_thread.run_sync(service.quality)
        rejected, _ = await to_thread.run_sync(service.store.rejected_sales, service.limits.max_rejected)
        feed = feed_quality(list(service.recent), rejected, dict(service.warnings))
        return to_response(json_reply(200, DataQuality(vegetables=vegetables, feed=feed)))

    return get_data_quality
