"""An endpoint as a resource module writes it, and what every resource module shares: the reply as a
response, the documented error answers, the boolean query words."""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NoReturn, get_args

from fastapi import Query
from fastapi.responses import Response
from starlette.types import Receive, Scope

from ..asgi import Reply
from ..reports import ErrorBody
from .as_of import AS_OF_PATTERN
from .service import Service

Endpoint = Callable[..., Awaitable[Response]]
"""What FastAPI runs: its parameters are the query's, shown in /docs."""
HotHandler = Callable[[Service, Scope, Receive], Awaitable[Reply]]
"""What answers a hot route below FastAPI (asgi.HotRoutes), over one app's service."""
Build = Callable[[Service], Endpoint | None]
Responses = Mapping[int | str, dict[str, Any]]

RemoveOutliers = Literal[
    "true", "True", "TRUE", "1", "yes", "Yes", "YES", "false", "False", "FALSE", "0", "no", "No", "NO"
]
BOOLEANS = {word: word.lower() in ("true", "1", "yes") for word in get_args(RemoveOutliers)}
ERROR = {"model": ErrorBody}
STORAGE_DOWN = {"model": ErrorBody, "description": "The store cannot be read or written now; nothing was changed"}
NOT_MODIFIED = {"description": "The client's copy (If-None-Match) is current: no body"}
AsOf = Annotated[
    str | None,
    Query(
        description="Answer as when this data version was current, or as of this RFC 3339 time "
        "(the latest version committed at or before it); see /get_history",
        examples=["42", "2026-12-06T10:00:00Z"],
        pattern=AS_OF_PATTERN,  # documents it; the reads check it themselves (http/as_of.py), with 400s
    ),
]
VERSION_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "as_of names a version not committed yet (unknown_version)"},
    410: {"model": ErrorBody, "description": "as_of names a version no longer kept (version_gone, with `oldest`)"},
}


@dataclass(frozen=True)
class Operation:
    """An endpoint and what /docs says of it; the routes table gives it its path and methods."""

    build: Build
    """The endpoint over one app's service (None: that app does not serve it); its name, with the
    method, is the operation's id in /docs."""
    responses: Responses = field(default_factory=dict)
    summary: str | None = None
    openapi_extra: dict[str, Any] | None = None
    documented: bool = True
    hot: HotHandler | None = None
    """The handler of a hot route; its endpoint is then never run, it only documents the route."""

    def options(self) -> dict[str, Any]:
        """FastAPI's options for the endpoint's routes."""
        return {
            "responses": dict(self.responses),
            "summary": self.summary,
            "openapi_extra": self.openapi_extra,
            "include_in_schema": self.documented,
        }


def operation(responses: Responses | None = None, documented: bool = True) -> Callable[[Build], Operation]:
    """The operation whose endpoint the decorated function builds, over one app's service."""

    def wrap(build: Build) -> Operation:
        return Operation(build, responses or {}, documented=documented)

    return wrap


def hot(
    handler: HotHandler, summary: str, responses: Responses, openapi_extra: dict[str, Any] | None = None
) -> Callable[[Endpoint], Operation]:
    """The operation of a hot route, answered by `handler`; the decorated endpoint, never run,
    documents it (its name and parameters)."""

    def wrap(endpoint: Endpoint) -> Operation:
        return Operation(lambda service: endpoint, responses, summary, openapi_extra, hot=handler)

    return wrap


def never_run() -> NoReturn:
    """The body of a hot route's endpoint."""
    raise RuntimeError("this route only documents an endpoint that asgi.HotRoutes serves")


def to_response(reply: Reply) -> Response:
    return Response(reply.body, status_code=reply.status, headers=reply.headers, media_type=reply.content_type)
