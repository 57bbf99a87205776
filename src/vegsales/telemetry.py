"""The outermost layer: a request id on every answer and log line, the HTTP metrics, the access log."""

import os
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .asgi import header, reply_for, send_reply
from .logs import REQUEST_ID, access_log
from .metrics import Metrics

MAX_REQUEST_ID = 128


def request_id(scope: Scope) -> str:
    """The client's X-Request-ID when it is printable and at most 128 characters, else a new one."""
    given = header(scope, b"x-request-id")
    if given and len(given) <= MAX_REQUEST_ID and given.isascii() and given.isprintable() and given.strip():
        return given
    return os.urandom(16).hex()  # 128 random bits, as uuid4().hex, at a third of its cost


class Telemetry:
    """Gives each request its id (answered in X-Request-ID, set for the logs), times it, counts it
    by route template, and writes the access line; an exception no layer answered becomes a 500
    that carries the request id, logged once."""

    def __init__(self, app: ASGIApp, routes: frozenset[str], metrics: Metrics | None, access: bool):
        self.app, self.routes, self.metrics, self.access = app, routes, metrics, access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        token = REQUEST_ID.set(rid)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = rid
        status, sent, started = 500, 0, time.perf_counter()
        rid_header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), rid_header]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        metrics = self.metrics
        if metrics:
            metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:  # nothing answered it: a 500, unless the answer is already out
            if status == 500 and not sent:
                await send_reply(send_with_id, reply_for(error, scope))
        finally:
            seconds = time.perf_counter() - started
            route = scope["path"].rstrip("/") or "/"
            route = route if route in self.routes else "other"
            if metrics:
                metrics.in_flight.dec()
                metrics.observe_request(route, scope["method"], status, seconds)
                if state.get("error") == "storage_unavailable":
                    metrics.store_errors.inc()
            if self.access:
                self.log(scope, state, status, sent, seconds)
            REQUEST_ID.reset(token)

    @staticmethod
    def log(scope: Scope, state: dict[str, Any], status: int, sent: int, seconds: float) -> None:
        fields: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "bytes_sent": sent,
        }
        message = f"{scope['method']} {scope['path']} {status} {fields['duration_ms']}ms {sent}B"
        if "records" in state:
            fields["records_received"], fields["records_rejected"] = state["records"]
            message += f" received={state['records'][0]} rejected={state['records'][1]}"
        access_log.info(message, extra=fields)
