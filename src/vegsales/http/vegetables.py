"""Vegetable names: the canonical vegetable any name stands for."""

from typing import Annotated

from fastapi import Query
from fastapi.responses import Response

from ..asgi import ApiError, json_reply
from ..reports import Resolved, UnknownName
from ..vegetables import UnknownVegetable
from .operation import ERROR, Endpoint, operation, to_response
from .service import Service


def canonical(service: Service, name: str) -> str:
    """The canonical vegetable `name` stands for; 404 with suggestions when there is none."""
    match = service.writer.rules.vocabulary.resolve(name)
    if isinstance(match, UnknownVegetable):
        suggestions = [vegetable for vegetable, _ in match.suggestions]
        raise ApiError(404, "unknown_vegetable", match.message, extra={"suggestions": suggestions})
    return match


@operation({200: {"model": Resolved}, 400: ERROR, 404: {"model": UnknownName}})
def resolve_vegetable(service: Service) -> Endpoint:
    async def resolve_vegetable(
        name: Annotated[str, Query(min_length=1, max_length=100, examples=["Zanahoria"])],
    ) -> Response:
        """The canonical vegetable a name (any language, spelling or typo) stands for."""
        return to_response(json_reply(200, Resolved(name=name, vegetable=canonical(service, name))))

    return resolve_vegetable
