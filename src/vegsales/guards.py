"""Who may call the API: allowed hosts, requests a web page sent on the user's behalf, tokens.

The checks are one plain ASGI middleware around the whole app, hot endpoints included, which
answers a refusal with the API's JSON error. Non-browser clients (curl, requests, SalesClient, locust)
send neither `Origin` nor `Sec-Fetch-*` headers and are not affected, except by tokens when set.
"""

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from starlette.types import ASGIApp, Receive, Scope, Send

from .asgi import Reply, error_reply, send_reply
from .context import RequestContext, current_request

Access = Literal["read", "write", "admin"]
"""Who may call a path when tokens are set: anyone, the write (or admin) token, the admin token."""
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
HOST = re.compile(r"(\[[0-9a-z:._~%!$&'()*+,;=-]*\]|[0-9a-z._~%!$&'()*+,;=-]*)(?::[0-9]*)?", re.ASCII)
"""A Host value, lowercase: `uri-host [":" port]` (RFC 9110 §7.2, RFC 3986 §3.2.2), its name in group 1."""
KNOWN_HOSTS = 64
"""Host values whose verdict is kept: a server sees a few; past that many (a scan), the verdicts start over."""
SHOWN = 100
"""Characters of an invalid Host value quoted in its refusal."""


@dataclass(frozen=True)
class Security:
    """The service's protections; the defaults protect a server on a loopback address."""

    allowed_hosts: tuple[str, ...] | None = None
    """Host names (without port) requests may name; None: any."""
    allowed_origins: tuple[str, ...] = ()
    """Origins (scheme://host[:port]) whose pages may call the API from a browser (CORS)."""
    write_token: str | None = None
    """When set, POST /post_sales needs `Authorization: Bearer <write or admin token>`."""
    admin_token: str | None = None
    """When set, /init_database, /replay_rejected and /metrics need `Authorization: Bearer <admin token>`."""

    @classmethod
    def default_hosts(cls, bind_host: str) -> tuple[str, ...] | None:
        """The loopback names when serving on a loopback address (DNS rebinding cannot reach it); else any."""
        return LOOPBACK_HOSTS if bind_host in ("127.0.0.1", "localhost", "::1") else None


@dataclass(frozen=True)
class PathRules:
    """What the guards know of the paths, derived from the routes table (http/routes.py)."""

    access: Mapping[str, Access]
    """Path -> who may call it when tokens are set (a path left out: anyone)."""
    changing: frozenset[str]
    """The paths that change data: no page of another site may call them."""
    unsafe_gets: frozenset[str]
    """GET paths that change data, kept for scripts: no HEAD, no browser navigation."""


class Guards:
    """The checks of who may call what, in one layer: the host (400: none, several, malformed, or
    not an allowed one), a request that changes data sent by a browser from another site (403),
    the token of a protected path (401)."""

    def __init__(self, app: ASGIApp, security: Security, rules: PathRules):
        self.app, self.security, self.access = app, security, rules.access
        names = None if security.allowed_hosts is None else dict.fromkeys(h.lower() for h in security.allowed_hosts)
        self.hosts = None if names is None else frozenset(names)
        self.answers_to = ", ".join(names or ())
        self.host_refusals: dict[bytes | None, str | None] = {}
        """Host header value (None: none) -> why it is refused (None: it is not), for the values seen."""
        self.changing, self.unsafe_gets = rules.changing, rules.unsafe_gets
        self.allowed_origins = {origin.rstrip("/").lower() for origin in security.allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(scope, current_request())
            if refusal is not None:
                await send_reply(send, refusal)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope, request: RequestContext) -> Reply | None:
        host = request.headers.get(b"host")
        try:
            reason = self.host_refusals[host]
        except KeyError:
            reason = self.judge_host(host)
        if reason is None and request.repeats(scope, b"host"):
            reason = "the request has more than one Host header: HTTP/1.1 allows one"
        if reason is not None:
            return error_reply(400, "invalid_host", reason)
        path, method = scope["path"], scope["method"]
        if method == "OPTIONS":
            return None
        if path in self.changing and (reason := self.cross_site(scope, request)):
            return error_reply(403, "cross_site_request", reason)
        needed = self.access.get(path, "read")
        if needed != "read":
            return self.unauthorized(scope, request, needed)
        return None

    def judge_host(self, value: bytes | None) -> str | None:
        """`host_refusal(value)`, kept for the next request naming the same host."""
        if len(self.host_refusals) >= KNOWN_HOSTS:
            self.host_refusals.clear()
        self.host_refusals[value] = reason = self.host_refusal(value)
        return reason

    def host_refusal(self, value: bytes | None) -> str | None:
        """Why a request whose Host header is `value` (None: it has none) is refused, if it is:
        a value that is not `host[:port]` (userinfo, a space, two ports), on any address; on an
        address with allowed names (loopback), also any other name, an empty one, or none."""
        answers_to = f"this server answers to {self.answers_to}"
        if not value:
            if self.hosts is None:
                return None  # HTTP/1.0 clients and health probes may send none
            return f"the request names no host ({'an empty' if value is not None else 'no'} Host header): {answers_to}"
        text = value.decode("latin-1")
        name = host_name(text)
        if name is None:
            reason = f"the Host header {shown(text)} is not a host name with an optional port"
            return reason if self.hosts is None else f"{reason}: {answers_to}"
        if self.hosts is not None and name not in self.hosts:
            return f"this server does not answer to {shown(name)}: it answers to {self.answers_to}"
        return None

    def cross_site(self, scope: Scope, request: RequestContext) -> str | None:
        """Why a browser may not send this request that changes data, if it may not.

        Browsers say where a request comes from: `Sec-Fetch-Site` (cross-site, same-site), and an
        `Origin` on every POST. A GET that empties the store (kept for scripts) is also refused when
        a browser navigates to it or loads it as an image or prefetch, whatever the site."""
        site = (request.header(b"sec-fetch-site") or "").lower()
        origin = (request.header(b"origin") or "").rstrip("/").lower()
        allowed = origin in self.allowed_origins
        if site in ("cross-site", "same-site") and not allowed:
            return f"{scope['method']} {scope['path']} changes data: a page of another site may not send it"
        if origin and not allowed and origin != own_origin(scope, request):
            return f"{scope['method']} {scope['path']} changes data: a page of {origin} may not send it"
        if scope["method"] == "GET" and scope["path"] in self.unsafe_gets:
            mode = (request.header(b"sec-fetch-mode") or "").lower()
            purpose = (request.header(b"sec-purpose") or request.header(b"purpose") or "").lower()
            if mode in ("navigate", "no-cors") or "prefetch" in purpose:
                return f"GET {scope['path']} empties the store: a browser may not load it; POST it from a script"
        return None

    def unauthorized(self, scope: Scope, request: RequestContext, needed: Access) -> Reply | None:
        """401 for a protected path without the right `Authorization: Bearer` token, when tokens are set."""
        security = self.security
        required = security.write_token if needed == "write" else security.admin_token
        if not required:
            return None
        given = bearer(request)
        tokens = [required, security.admin_token] if needed == "write" else [required]
        if any(token and matches(given, token) for token in tokens):
            return None
        kind = "an admin" if needed == "admin" else "a write"
        return error_reply(
            401,
            "unauthorized",
            f"{scope['method']} {scope['path']} needs {kind} token: Authorization: Bearer <token>",
            {"WWW-Authenticate": 'Bearer realm="vegsales"'},
        )


def host_name(value: str) -> str | None:
    """A Host header's name, lowercase, without its port (`[::1]:8000` -> `[::1]`); None when the
    value is not a host name with an optional port (`127.0.0.1:8000@evil.example`)."""
    match = HOST.fullmatch(value.strip().lower())
    return None if match is None else match[1]


def shown(text: str) -> str:
    """`text` quoted in an answer: its first SHOWN characters."""
    return text if len(text) <= SHOWN else text[:SHOWN] + "..."


def own_origin(scope: Scope, request: RequestContext) -> str:
    """The origin this request was addressed to, as a browser would write it."""
    return f"{scope.get('scheme', 'http')}://{(request.header(b'host') or '').lower()}"


def bearer(request: RequestContext) -> str:
    scheme, _, token = (request.header(b"authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def matches(given: str, token: str) -> bool:
    """Constant-time: how long a comparison takes says nothing about the token."""
    return hmac.compare_digest(given.encode(), token.encode())
