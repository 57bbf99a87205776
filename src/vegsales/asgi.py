"""The one HTTP layer: typed ASGI helpers, the hot routes, and the one exception -> response mapping.

The hot routes (marked in http/routes.py) are answered here, without FastAPI's routing and request
machinery (~0.2 ms a request, a quarter of the server's CPU at 1,000 req/s); every other request is
passed on to FastAPI, which maps its exceptions with the same `reply_for`. Middleware that
wraps `HotRoutes` therefore sees every request, hot or not.
"""

import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import orjson
from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .context import current_request
from .reports import ErrorBody
from .storage import StorageError

log = logging.getLogger("vegsales")


class ApiError(Exception):
    """A request the API refuses, with its HTTP status and a machine-readable code."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        headers: dict[str, str] | None = None,
        extra: dict[str, object] | None = None,
    ):
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers or {}
        self.extra = extra or {}
        """More fields of the JSON error body (suggestions, ...)."""


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    chunks: Iterator[bytes] | None = None
    """The body as it is made, piece by piece, instead of `body`: a big answer sent as it is
    rendered (each piece made in a worker thread), never whole in memory."""


def json_reply(status: int, payload: object, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, orjson.dumps(payload), headers or {})


def error_reply(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return json_reply(status, ErrorBody(error=error, message=message), headers)


STORAGE_UNAVAILABLE = "the store cannot be reached or written just now; try again shortly"
"""The one message of every 503 storage_unavailable, whatever the backend and the cause."""


def reply_for(error: Exception, scope: Scope) -> Reply:
    """The answer to an exception raised while serving a request: the one place that maps them."""
    if isinstance(error, ApiError):
        return json_reply(error.status, {"error": error.error, "message": error.message, **error.extra}, error.headers)
    context = current_request()
    method, path = scope.get("method"), scope.get("path")
    if isinstance(error, StorageError):
        # The detail (a file name, a table, the database's own words) is for the operator: the log
        # line carries it with the request id; the client learns only that it may try again.
        context.error = "storage_unavailable"
        log.error("store unavailable on %s %s: %s", method, path, " ".join(str(error).split()))
        return error_reply(503, "storage_unavailable", STORAGE_UNAVAILABLE, {"Retry-After": "1"})
    size = context.body_bytes if context.body_bytes is not None else context.header(b"content-length") or "unknown"
    log.error("unexpected error on %s %s (body: %s bytes)", method, path, size, exc_info=error)
    body = {"error": "internal_error", "message": "unexpected server error", "request_id": context.request_id}
    return json_reply(500, body)


async def send_reply(send: Send, reply: Reply, head: bool = False) -> None:
    """Send the reply; for a HEAD request, its headers only (the length is the GET's)."""
    headers = []
    if reply.status not in (204, 304):  # a 304 describes the 200 it stands for: no length of its own
        headers = [(b"content-type", reply.content_type.encode())]
        if reply.chunks is None:  # else sent chunked: its length is known once it is sent
            headers.append((b"content-length", str(len(reply.body)).encode()))
    headers += [(name.lower().encode(), value.encode()) for name, value in reply.headers.items()]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    if reply.chunks is None or head:
        await send({"type": "http.response.body", "body": b"" if head else reply.body})
        return
    try:
        while (chunk := await to_thread.run_sync(next, reply.chunks, None)) is not None:
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        close = getattr(reply.chunks, "close", None)
        if close is not None:  # a client gone mid-answer: the pieces not made are never made
            close()


async def read_body(receive: Receive, content_length: str | None, max_bytes: int) -> bytes:
    """The whole request body; 413 as soon as it is known to exceed `max_bytes`."""
    too_large = ApiError(413, "body_too_large", f"the body exceeds {max_bytes} bytes")
    if content_length and content_length.isdigit() and int(content_length) > max_bytes:
        raise too_large
    parts, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, "client_disconnected", "the client went away before sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


Handler = Callable[[Scope, Receive], Awaitable[Reply]]


class HotRoutes:
    """Answers the hot (method, path) pairs itself and passes every other request to `fallback`;
    answers OPTIONS with the path's `Allow`. Both come from the routes table (http/routes.py).

    HEAD is answered as GET, without the body (but not on `unsafe_gets`, GETs that change data)."""

    def __init__(
        self,
        routes: dict[tuple[str, str], Handler],
        fallback: ASGIApp,
        unsafe_gets: frozenset[str],
        allowed: Callable[[str], str | None],
    ):
        self.routes, self.fallback = routes, fallback
        self.unsafe_gets = unsafe_gets
        """GET paths that change data (kept for scripts): HEAD must not run them."""
        self.allowed = allowed
        """The methods a path serves, as an `Allow` header; None for a path that does not exist."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        method = scope["method"]
        if method == "OPTIONS" and (allow := self.allowed(scope["path"])):
            await send_reply(send, Reply(204, b"", {"Allow": allow}, content_type=""))
            return
        head = method == "HEAD" and scope["path"] not in self.unsafe_gets
        handler = self.routes.get(("GET" if head else method, scope["path"]))
        if handler is None:
            if head:
                scope, send = {**scope, "method": "GET"}, without_body(send)
            await self.fallback(scope, receive, send)
            return
        try:
            reply = await handler(scope, receive)
        except Exception as error:
            reply = reply_for(error, scope)
        await send_reply(send, reply, head=head)


def without_body(send: Send) -> Send:
    """`send` for a HEAD request answered as GET: the headers (length included), no body."""

    async def send_headers_only(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_headers_only
