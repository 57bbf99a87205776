"""The outermost layer: the request's context (its id, its headers read once), the service's
response headers, the HTTP metrics and the access log."""

import os
import time
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .asgi import reply_for, send_reply
from .context import CURRENT, RequestContext
from .logs import access_log
from .metrics import Metrics

MAX_REQUEST_ID = 128
Headers = list[tuple[bytes, bytes]]


def request_id(context: RequestContext) -> str:
    """The client's X-Request-ID when it is printable and at most 128 characters, else a new one."""
    given = context.header(b"x-request-id")
    if given and len(given) <= MAX_REQUEST_ID and given.isascii() and given.isprintable() and given.strip():
        return given
    return os.urandom(16).hex()  # 128 random bits, as uuid4().hex, at a third of its cost


SVG_HEADERS: Headers = [(b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")]
"""An SVG opened on its own is a document that could run script: it may load and run nothing."""


def document_kind(headers: Headers) -> bytes:
    """b"html" or b"svg" for an answer a browser shows as a document, else b"" (data)."""
    for name, value in headers:  # a loop: any() over a generator costs twice as much here
        if name == b"content-type":
            if value.startswith(b"text/html"):
                return b"html"
            return b"svg" if value.startswith(b"image/svg+xml") else b""
    return b""


def has_policy(headers: Headers) -> bool:
    return any(name == b"content-security-policy" for name, _ in headers)


def encoded(headers: Iterable[tuple[str, str]]) -> Headers:
    return [(name.lower().encode(), value.encode()) for name, value in headers]


def without_trailing_slash(scope: Scope) -> Scope:
    """The scope of `/path/` as that of `/path`: served alike, without a redirect (a POST's body survives)."""
    path = scope["path"]
    if len(path) > 1 and path.endswith("/"):
        return {**scope, "path": path.rstrip("/") or "/"}
    return scope


class Telemetry:
    """Gives each request its context and id (answered in X-Request-ID, set for the logs), serves
    every path with or without a trailing slash (removed before any other layer sees it: no
    redirect, POST bodies survive), adds the service's headers to every answer (and more to its
    HTML pages and SVG images), times the request, counts it by route template, and writes the access line; an
    exception no layer answered becomes a 500 that carries the request id, logged once."""

    def __init__(
        self,
        app: ASGIApp,
        routes: frozenset[str],
        metrics: Metrics | None,
        access: bool,
        headers: Iterable[tuple[str, str]] = (),
        page_headers: Iterable[tuple[str, str]] = (),
    ):
        self.app, self.routes, self.metrics, self.access = app, routes, metrics, access
        self.headers, self.page_headers = encoded(headers), encoded(page_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        scope = without_trailing_slash(scope)
        context = RequestContext.of(scope, "")
        context.request_id = request_id(context)
        token = CURRENT.set(context)
        status, sent = 500, 0
        headers = [*self.headers, (b"x-request-id", context.request_id.encode())]

        async def send_with_headers(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                given: Headers = message.get("headers", [])
                kind = document_kind(given)
                extra = self.document_headers(kind, given) if kind else ()
                message["headers"] = [*given, *extra, *headers]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        metrics = self.metrics
        if metrics:
            metrics.request_started()
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as error:  # nothing answered it: a 500, unless the answer is already out
            if status == 500 and not sent:
                await send_reply(send_with_headers, reply_for(error, scope))
        finally:
            seconds = time.perf_counter() - started
            if metrics:
                self.observe(metrics, scope, context, status, seconds)
            if self.access:
                self.log(scope, context, status, sent, seconds)
            CURRENT.reset(token)

    def observe(self, metrics: Metrics, scope: Scope, context: RequestContext, status: int, seconds: float) -> None:
        """The request in the metrics, by route template (any other path is "other")."""
        route = scope["path"] if scope["path"] in self.routes else "other"
        metrics.observe_request(route, scope["method"], status, seconds)
        if context.error == "storage_unavailable":
            metrics.store_errors.inc()

    def document_headers(self, kind: bytes, given: Headers) -> Headers:
        """The pages' headers (a page that sets its own policy keeps it), or the SVG's policy."""
        if kind == b"svg":
            return [] if has_policy(given) else SVG_HEADERS
        if has_policy(given):
            return [(name, value) for name, value in self.page_headers if name != b"content-security-policy"]
        return self.page_headers

    @staticmethod
    def log(scope: Scope, context: RequestContext, status: int, sent: int, seconds: float) -> None:
        fields: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "bytes_sent": sent,
        }
        message = f"{scope['method']} {scope['path']} {status} {fields['duration_ms']}ms {sent}B"
        if context.records is not None:
            fields["records_received"], fields["records_rejected"] = context.records
            message += f" received={context.records[0]} rejected={context.records[1]}"
        access_log.info(message, extra=fields)
