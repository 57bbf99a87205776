"""Who may call the API: allowed hosts, requests a web page sent on the user's behalf, tokens.

The checks are one plain ASGI middleware around the whole app, hot endpoints included, which
answers a refusal with the API's JSON error. Non-browser clients (curl, requests, SalesClient, locust)
send neither `Origin` nor `Sec-Fetch-*` headers and are not affected, except by tokens when set.
"""

import hmac
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal

from starlette.types import ASGIApp, Receive, Scope, Send

from .asgi import Reply, error_reply, send_reply
from .context import RequestContext, current_request

Access = Literal["write", "admin"]
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


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
    access: Mapping[str, Access] = field(default_factory=dict)
    """Path -> the token it needs; these are also the paths that change data."""

    @classmethod
    def default_hosts(cls, bind_host: str) -> tuple[str, ...] | None:
        """The loopback names when serving on a loopback address (DNS rebinding cannot reach it); else any."""
        return LOOPBACK_HOSTS if bind_host in ("127.0.0.1", "localhost", "::1") else None


class Guards:
    """The checks of who may call what, in one layer: the host (400), a request that changes data
    sent by a browser from another site (403), the token of a protected path (401)."""

    def __init__(self, app: ASGIApp, security: Security, changing: Collection[str], unsafe_gets: Collection[str]):
        self.app, self.security = app, security
        self.hosts = {host.lower() for host in security.allowed_hosts} if security.allowed_hosts is not None else None
        self.changing, self.unsafe_gets = frozenset(changing), frozenset(unsafe_gets)
        self.allowed_origins = {origin.rstrip("/").lower() for origin in security.allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(scope, current_request())
            if refusal is not None:
                await send_reply(send, refusal)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope, request: RequestContext) -> Reply | None:
        if self.hosts is not None:
            host = host_name(request.header(b"host") or "")
            if host and host not in self.hosts:
                allowed = ", ".join(sorted(self.hosts))
                return error_reply(400, "invalid_host", f"this server answers to {allowed}, not {host}")
        path, method = scope["path"], scope["method"]
        if method == "OPTIONS":
            return None
        if path in self.changing and (reason := self.cross_site(scope, request)):
            return error_reply(403, "cross_site_request", reason)
        needed = self.security.access.get(path)
        if needed:
            return self.unauthorized(scope, request, needed)
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


def host_name(value: str) -> str:
    """A Host header's name, without its port: `[::1]:8000` -> `[::1]`."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def own_origin(scope: Scope, request: RequestContext) -> str:
    """The origin this request was addressed to, as a browser would write it."""
    return f"{scope.get('scheme', 'http')}://{(request.header(b'host') or '').lower()}"


def bearer(request: RequestContext) -> str:
    scheme, _, token = (request.header(b"authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def matches(given: str, token: str) -> bool:
    """Constant-time: how long a comparison takes says nothing about the token."""
    return hmac.compare_digest(given.encode(), token.encode())
