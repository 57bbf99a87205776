"""uvicorn's httptools protocol held to `ConnectionLimits`, its own answers made the service's.

uvicorn (0.55) buffers a request header of any size, runs no timer while a request's header or
body arrives (one byte a second holds a connection for ever), none on a connection that has not
sent its first request, and caps nothing but requests (`limit_concurrency` answers 503 once a
request has arrived, so idle connections pile up until the process runs out of file descriptors).
None of its protocols has a header or body deadline. granian and hypercorn have a header deadline
and size limit, but neither a body deadline nor an answer past a connection cap, and hypercorn
costs twice the CPU (docs/decisions/004-http-server.md). This subclass adds the four limits; answers the
requests it refuses (the limits', and a request its parser rejects, which uvicorn answers in plain
text) as the app answers its errors: JSON, `X-Content-Type-Options: nosniff`, an `X-Request-ID`;
gives the app the authority of an absolute-form target as the Host (RFC 9112 §3.2.2), so that the
guards' host rules hold for it; and serves a request asking for an Upgrade (WebSocket, h2c) as
plain HTTP: the service speaks nothing else. Parsing, the ASGI cycle, flow control and the
keep-alive timer after a response stay uvicorn's. Passed as
`uvicorn.run(http=LimitedHttpToolsProtocol)`.
"""

import asyncio
import enum
import http
import logging
import math
from collections import Counter
from typing import Any, ClassVar

import httptools
import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from .api import SECURITY_HEADERS
from .connections import RESERVED_FILES, ConnectionLimits
from .context import RequestContext
from .telemetry import encoded, request_id

log = logging.getLogger("vegsales")

LINGER = 1.0
"""Seconds a refused connection keeps reading (and dropping) what the client sends after the
answer, so that the client reads the answer instead of a reset."""
MAX_LINGERING = RESERVED_FILES // 2
"""Refused connections lingering at once; past that, one is closed at once (no answer seen)."""
REPORT_EVERY = 60.0
"""Seconds between two log lines counting refusals: a flood must not flood the log."""
SERVICE_HEADERS = encoded(SECURITY_HEADERS)
"""The headers the app adds to each of its answers (its request id aside), on the protocol's too."""
TARGET_ERRORS = (httptools.HttpParserInvalidURLError, AttributeError, UnicodeDecodeError)
"""What uvicorn's reading of a request target raises on one it cannot serve (`http://host`, with no
path): the client's error. Any other error of a parser callback is the server's, and logged."""


class Phase(enum.Enum):
    """Where a connection stands; each but APP has a deadline."""

    IDLE = "idle"  # waiting for a request's first byte
    HEADER = "header"  # a request's line and header arriving
    BODY = "body"  # its body arriving
    APP = "app"  # the whole request read: the app's turn
    REFUSED = "refused"  # answered and lingering until closed


class Refusals:
    """Counts of connections refused or closed by a limit, logged at most once every REPORT_EVERY s."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.reported_at = -math.inf

    def add(self, reason: str, now: float) -> None:
        self.counts[reason] += 1
        if now - self.reported_at >= REPORT_EVERY:
            summary = ", ".join(f"{count} {reason}" for reason, count in self.counts.most_common())
            log.warning("connection limits: %s (counts logged at most once a minute)", summary)
            self.counts.clear()
            self.reported_at = now


def answer(status: int, error: str, message: str, headers: list[tuple[bytes, bytes]]) -> bytes:
    """A whole HTTP/1.1 response with the API's JSON error body, closing the connection."""
    body = orjson.dumps({"error": error, "message": message})
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}".encode()]
    lines += [name + b": " + value for name, value in headers]
    lines += [b"content-type: application/json", b"content-length: %d" % len(body), b"connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def target_authority(target: bytes) -> bytes | None:
    """The authority of an absolute-form request target (`http://127.0.0.1:8000/health` ->
    `127.0.0.1:8000`, userinfo included, for the guards to refuse); None for any other form."""
    _, scheme_end, rest = target.partition(b"://")
    if not scheme_end:
        return None  # `*` (OPTIONS *) or an authority alone (CONNECT's): no URL to take it from
    for end, byte in enumerate(rest):
        if byte in b"/?#":
            return rest[:end]
    return rest


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """One connection, as uvicorn serves it, with the header size, the deadlines and the cap of
    `limits`."""

    limits: ClassVar[ConnectionLimits | None] = None
    """Set from the settings by `server.run_server()`, or in a worker process `app_from_environment()`."""
    refusals: ClassVar[Refusals] = Refusals()
    lingering: ClassVar[int] = 0

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        cls = LimitedHttpToolsProtocol
        if cls.limits is None:
            cls.limits = ConnectionLimits()
        self.limit = cls.limits
        self.ws_protocol_class = None  # an Upgrade is ignored: the service speaks HTTP/1.1 only
        self.timeout_keep_alive = self.limit.keepalive_timeout  # type: ignore[assignment]  # uvicorn's: whole seconds
        self.timeouts = {
            Phase.IDLE: self.limit.keepalive_timeout,
            Phase.HEADER: self.limit.header_timeout,
            Phase.BODY: self.limit.body_timeout,
        }
        self.phase = Phase.IDLE
        self.timed: Phase | None = None
        """The phase `deadline` was armed for (IDLE with no deadline: uvicorn's keep-alive timer runs)."""
        self.deadline: asyncio.TimerHandle | None = None
        self.header_bytes = 0

    # Connection events

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limit.max_connections:
            self.connections.discard(self)
            message = f"the server is at its limit of {self.limit.max_connections} connections: try again shortly"
            self.refuse(503, "too_many_connections", message, "over the connection cap", ((b"retry-after", b"1"),))
            return
        self.settle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.cancel_deadline()
        if self.phase is Phase.REFUSED and self.timed is Phase.REFUSED:
            LimitedHttpToolsProtocol.lingering -= 1
            self.timed = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        phase = self.phase
        if phase is Phase.REFUSED:
            return
        if phase is Phase.IDLE and self.deadline is None:
            self.timed = None  # uvicorn's keep-alive timer, which any byte cancels, stood for this phase's
        if phase is Phase.IDLE or phase is Phase.HEADER:
            # Counted before the parser sees them: httptools keeps a header it has not finished whole.
            self.header_bytes += len(data)
            excess = self.header_bytes - self.limit.max_header_bytes
            if excess > 0:
                head, data = data[: len(data) - excess], data[len(data) - excess :]
                self.feed(head)  # the header may end within the limit, the body follow
                if self.phase is Phase.IDLE or self.phase is Phase.HEADER:
                    limit = self.limit.max_header_bytes
                    message = f"the request line and header exceed {limit} bytes"
                    self.refuse(431, "header_too_large", message, "header too large")
                    return
                if self.phase is Phase.REFUSED or self.transport.is_closing():
                    return
        self.feed(data)
        self.settle()

    def feed(self, data: bytes) -> None:
        """uvicorn's `data_received`, but for what it answers itself: a request the parser rejects
        gets the API's JSON error, counted with the other refusals (uvicorn answers plain text and
        logs a line for each: a flood of them would flood the log); an Upgrade is ignored."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # A request asking for an Upgrade, which a server may ignore (RFC 9110 §7.8): served as
            # HTTP/1.1. The parser reads nothing more on this connection: it closes after the answer.
            if self.cycle is not None:
                self.cycle.keep_alive = False
        except httptools.HttpParserError as error:
            self.reject(error)

    def reject(self, error: httptools.HttpParserError) -> None:
        """400 for a request the parser could not read, saying why."""
        if isinstance(error, httptools.HttpParserCallbackError):  # raised by a callback: uvicorn's or ours
            if not isinstance(error.__context__, TARGET_ERRORS):
                log.error("error while reading a request", exc_info=error.__context__)
            reason = "its target is neither a path nor an absolute URL with a path"
        else:
            reason = str(error).rstrip(".").lower()
        self.refuse(400, "invalid_request", f"malformed HTTP request: {reason}", "malformed request")

    # Parser events (during data_received, which settles the deadline afterwards)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.phase = Phase.HEADER

    def on_headers_complete(self) -> None:
        if not self.url.startswith(b"/"):
            self.host_from_target()
        super().on_headers_complete()
        self.header_bytes = 0
        self.phase = Phase.BODY

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # An app may answer before the body has all arrived (a 413): then the connection is idle.
        self.phase = Phase.IDLE if self.cycle.response_complete else Phase.APP

    def host_from_target(self) -> None:
        """An absolute-form target's authority as the request's one Host (RFC 9112 §3.2.2: the
        server ignores the Host header then), for the app's host rules."""
        authority = target_authority(self.url)
        if authority is not None:
            self.headers[:] = [(name, value) for name, value in self.headers if name != b"host"]
            self.headers.append((b"host", authority))

    # Response events

    def on_response_complete(self) -> None:
        starts_next = bool(self.pipeline)
        super().on_response_complete()  # arms uvicorn's keep-alive timer when nothing follows
        if self.phase is Phase.APP and not starts_next:
            self.phase = self.timed = Phase.IDLE

    # Deadlines

    def settle(self) -> None:
        """The deadline of the phase the connection is in, armed once when the phase begins."""
        phase = self.phase
        if phase is self.timed or phase is Phase.REFUSED:  # refuse() arms the lingering itself
            return
        self.cancel_deadline()
        self.timed = phase
        timeout = self.timeouts.get(phase)
        if timeout is not None:
            self.deadline = self.loop.call_later(timeout, self.expired)

    def cancel_deadline(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def expired(self) -> None:
        self.deadline = None
        if self.transport.is_closing():
            return
        if self.phase is Phase.HEADER:
            message = f"the request header did not arrive within {self.limit.header_timeout:g} s"
            self.refuse(408, "request_timeout", message, "header timeout")
        elif self.phase is Phase.BODY:
            message = f"the request body did not arrive within {self.limit.body_timeout:g} s"
            self.refuse(408, "request_timeout", message, "body timeout")
        else:  # idle, or done lingering
            self.transport.close()

    def refuse(
        self, status: int, error: str, message: str, reason: str, headers: tuple[tuple[bytes, bytes], ...] = ()
    ) -> None:
        """Answer `status` (unless the connection owes another answer), stop reading requests and
        close once the client has closed, or after LINGER seconds."""
        LimitedHttpToolsProtocol.refusals.add(reason, self.loop.time())
        self.cancel_deadline()
        received = self.headers if self.phase is Phase.HEADER or self.phase is Phase.BODY else ()
        ident = request_id(RequestContext("", dict(reversed(received))))  # the client's, if it sent one
        self.phase = Phase.REFUSED
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.response_started or self.pipeline or cycle.scope is not self.scope:  # answering another
                self.transport.close()
                return
            cycle.disconnected = True  # the app waiting for this body is told the client left
            cycle.message_event.set()
        headers = (*self.server_state.default_headers, *SERVICE_HEADERS, (b"x-request-id", ident.encode()), *headers)
        self.transport.write(answer(status, error, message, list(headers)))
        if LimitedHttpToolsProtocol.lingering >= MAX_LINGERING or not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()  # the answer is followed by the end of the stream
        self.flow.resume_reading()
        LimitedHttpToolsProtocol.lingering += 1
        self.timed = Phase.REFUSED
        self.deadline = self.loop.call_later(LINGER, self.transport.close)

    def shutdown(self) -> None:
        if self.phase is Phase.REFUSED:
            self.transport.close()
            return
        super().shutdown()
