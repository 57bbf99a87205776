"""Who may call the API: allowed hosts, requests a web page sent on the user's behalf, tokens.

Each check is plain ASGI middleware around the whole app, hot endpoints included, and answers
a refusal with the API's JSON error. Non-browser clients (curl, requests, SalesClient, locust)
send neither `Origin` nor `Sec-Fetch-*` headers and are not affected, except by tokens when set.
"""

import hmac
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal

from starlette.types import ASGIApp, Receive, Scope, Send

from .asgi import error_reply, header, send_reply

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


class AllowedHosts:
    """400 for a request whose Host is not one this server answers to (DNS rebinding)."""

    def __init__(self, app: ASGIApp, hosts: Collection[str] | None):
        self.app, self.hosts = app, {host.lower() for host in hosts} if hosts is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.hosts is not None:
            host = host_name(header(scope, b"host") or "")
            if host and host not in self.hosts:
                allowed = ", ".join(sorted(self.hosts))
                await send_reply(
                    send, error_reply(400, "invalid_host", f"this server answers to {allowed}, not {host}")
                )
                return
        await self.app(scope, receive, send)


def host_name(value: str) -> str:
    """A Host header's name, without its port: `[::1]:8000` -> `[::1]`."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class BrowserGuard:
    """403 for a request that changes data and that a browser sent from another site.

    Browsers say where a request comes from: `Sec-Fetch-Site` (cross-site, same-site), and an
    `Origin` on every POST. A GET that empties the store (kept for scripts) is also refused when
    a browser navigates to it or loads it as an image or prefetch, whatever the site."""

    def __init__(
        self, app: ASGIApp, changing: Collection[str], allowed_origins: Collection[str], unsafe_gets: Collection[str]
    ):
        self.app, self.changing, self.unsafe_gets = app, set(changing), set(unsafe_gets)
        self.allowed_origins = {origin.rstrip("/").lower() for origin in allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.changing and scope["method"] != "OPTIONS":
            reason = self.refusal(scope)
            if reason:
                await send_reply(send, error_reply(403, "cross_site_request", reason))
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> str | None:
        site = (header(scope, b"sec-fetch-site") or "").lower()
        origin = (header(scope, b"origin") or "").rstrip("/").lower()
        allowed = origin in self.allowed_origins
        if site in ("cross-site", "same-site") and not allowed:
            return f"{scope['method']} {scope['path']} changes data: a page of another site may not send it"
        if origin and not allowed and origin != own_origin(scope):
            return f"{scope['method']} {scope['path']} changes data: a page of {origin} may not send it"
        if scope["method"] == "GET" and scope["path"] in self.unsafe_gets:
            mode = (header(scope, b"sec-fetch-mode") or "").lower()
            purpose = (header(scope, b"sec-purpose") or header(scope, b"purpose") or "").lower()
            if mode in ("navigate", "no-cors") or "prefetch" in purpose:
                return f"GET {scope['path']} empties the store: a browser may not load it; POST it from a script"
        return None


def own_origin(scope: Scope) -> str:
    """The origin this request was addressed to, as a browser would write it."""
    return f"{scope.get('scheme', 'http')}://{(header(scope, b'host') or '').lower()}"


class Tokens:
    """401 for a request to a protected path without the right `Authorization: Bearer` token."""

    def __init__(self, app: ASGIApp, security: Security):
        self.app, self.security = app, security

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        needed = self.security.access.get(scope["path"]) if scope["type"] == "http" else None
        required = self.security.write_token if needed == "write" else self.security.admin_token
        if needed and required and scope["method"] != "OPTIONS":
            given = bearer(scope)
            tokens = [required, self.security.admin_token] if needed == "write" else [required]
            if not any(token and matches(given, token) for token in tokens):
                kind = "an admin" if needed == "admin" else "a write"
                reply = error_reply(
                    401,
                    "unauthorized",
                    f"{scope['method']} {scope['path']} needs {kind} token: Authorization: Bearer <token>",
                    {"WWW-Authenticate": 'Bearer realm="vegsales"'},
                )
                await send_reply(send, reply)
                return
        await self.app(scope, receive, send)


def bearer(scope: Scope) -> str:
    scheme, _, token = (header(scope, b"authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def matches(given: str, token: str) -> bool:
    """Constant-time: how long a comparison takes says nothing about the token."""
    return hmac.compare_digest(given.encode(), token.encode())
