"""The request being served, as every layer and log line of it sees it."""

from contextvars import ContextVar
from dataclasses import dataclass, field

from starlette.types import Scope


@dataclass(slots=True)
class RequestContext:
    """One request: its id, its headers (read once, by the outermost layer), and what the endpoint
    learnt that the access log and the metrics report."""

    request_id: str
    headers: dict[bytes, bytes] = field(default_factory=dict)
    """Each header's first value, by lowercase name."""
    body_bytes: int | None = None
    records: tuple[int, int] | None = None
    """(received, rejected) of a post."""
    error: str | None = None
    """The error code of a failure the metrics count apart (storage_unavailable)."""

    @classmethod
    def of(cls, scope: Scope, request_id: str) -> "RequestContext":
        # Reversed: the first of a repeated header wins, as HTTP/1.1 reads a list's first value.
        return cls(request_id, dict(reversed(scope["headers"])))

    def repeats(self, scope: Scope, name: bytes) -> bool:
        """Whether the request has more than one `name` header line (`headers` keeps the first)."""
        lines = scope["headers"]
        if len(lines) == len(self.headers):  # no name repeated: the usual case, answered at once
            return False
        return sum(1 for line, _ in lines if line == name) > 1

    def header(self, name: bytes) -> str | None:
        """A request header's value (the first, if repeated), decoded as HTTP/1.1 allows."""
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")


CURRENT: ContextVar[RequestContext] = ContextVar("request")
"""Set by the outermost layer (telemetry.Telemetry) for the whole of a request, its threads included."""


def current_request() -> RequestContext:
    """The request being served; outside one (a test calling the app below its outermost layer), a
    context without headers."""
    context = CURRENT.get(None)
    if context is None:
        context = RequestContext("-")
        CURRENT.set(context)
    return context
