"""Unknown query parameters are refused: `remove_outlier=true` is a typo, not a request for the whole table.

What each path takes is read from the app's FastAPI routes when the app is created: the query
parameters of each endpoint's signature (hot routes' endpoints included, which only document their
parameters), by the names a request uses (their aliases). A parameter added to a signature is
therefore accepted everywhere at once, /docs included.
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from ..asgi import Reply, error_reply, send_reply
from ..guards import shown

NAMED = 10
"""Unknown names quoted in a refusal; past that many, the rest are counted."""
KNOWN_QUERIES = 256
"""Query strings whose verdict is kept: clients repeat a few (`remove_outliers=true`); past that many,
the verdicts start over."""
KEPT_QUERY_BYTES = 256
"""A longer query string is judged each time (a few µs) rather than kept."""


@dataclass(frozen=True)
class Accepted:
    """The query parameters one (method, path) takes, and how a refusal names them."""

    names: frozenset[str]
    takes: str
    """The end of a refusal's message: `/path takes a, b` or `/path takes no query parameters`."""

    @classmethod
    def of(cls, path: str, names: Iterable[str]) -> "Accepted":
        ordered = tuple(dict.fromkeys(names))  # the signature's order, each name once
        takes = f"{path} takes {', '.join(ordered)}" if ordered else f"{path} takes no query parameters"
        return cls(frozenset(ordered), takes)

    def refusal(self, unknown: set[str]) -> str:
        """The message of the 400 naming `unknown`."""
        names = sorted(unknown)
        quoted = ", ".join(repr(shown(name)) for name in names[:NAMED])
        if len(names) > NAMED:
            quoted += f" and {len(names) - NAMED} more"
        word = "parameter" if len(names) == 1 else "parameters"
        return f"unknown query {word} {quoted}; {self.takes}"


def query_names(dependant: Dependant) -> Iterator[str]:
    """The query parameters an endpoint reads, its dependencies' included, as a request names them."""
    for field in dependant.query_params:
        yield field.alias
    for dependency in dependant.dependencies:
        yield from query_names(dependency)


def accepted_parameters(api: FastAPI, unsafe_gets: frozenset[str]) -> dict[tuple[str, str], Accepted]:
    """(method, path) -> the query parameters its endpoint declares, for every route of `api`;
    HEAD as GET, except on `unsafe_gets` (GETs that change data, which serve no HEAD)."""
    declared: dict[tuple[str, str], list[str]] = {}
    for route in api.routes:
        if not isinstance(route, APIRoute):  # /openapi.json, mounted files: not the API's endpoints
            continue
        methods = set(route.methods or ())
        if "GET" in methods and route.path not in unsafe_gets:
            methods.add("HEAD")
        for method in methods:
            declared.setdefault((method, route.path), []).extend(query_names(route.dependant))
    return {(method, path): Accepted.of(path, names) for (method, path), names in declared.items()}


class QueryCheck:
    """Refuses a request whose query string names a parameter its endpoint does not declare: 400
    `unknown_parameter`, naming the unknown ones (sorted) and those the path takes.

    Only the (method, path) pairs in `accepted` are checked: any other request (a path that does not
    exist, a method the path does not serve, the static files and their cache-busting `?v=`) passes
    untouched, as does every request without a query string. OPTIONS passes too: it runs no endpoint
    (its answer is the path's `Allow`), and a browser's CORS preflight carries the URL of the request it
    precedes, query included: that request gets the 400, readable by the page, rather than a failed
    preflight. Names are compared URL-decoded, as the endpoints read them; values, and repeats of a
    known name, are the endpoint's."""

    def __init__(self, app: ASGIApp, accepted: Mapping[tuple[str, str], Accepted]):
        self.app, self.accepted = app, dict(accepted)
        self.verdicts: dict[tuple[str, str, bytes], str | None] = {}
        """(method, path, query string) -> why it is refused (None: it is not), for the queries seen."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["query_string"]:
            refusal = self.refusal(scope)
            if refusal is not None:
                await send_reply(send, refusal, head=scope["method"] == "HEAD")
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> Reply | None:
        method, path, query = scope["method"], scope["path"], scope["query_string"]
        accepted = self.accepted.get((method, path))
        if accepted is None:
            return None
        try:
            reason = self.verdicts[method, path, query]
        except KeyError:
            reason = self.judge(method, path, query, accepted)
        return None if reason is None else error_reply(400, "unknown_parameter", reason)

    def judge(self, method: str, path: str, query: bytes, accepted: Accepted) -> str | None:
        """Why `query` is refused on (method, path), if it is; kept for the next request asking the same."""
        text = query.decode("latin-1")  # as Starlette and the hot routes read it
        unknown = {name for name, _ in parse_qsl(text, keep_blank_values=True)} - accepted.names
        reason = accepted.refusal(unknown) if unknown else None
        if len(query) <= KEPT_QUERY_BYTES:
            if len(self.verdicts) >= KNOWN_QUERIES:
                self.verdicts.clear()
            self.verdicts[method, path, query] = reason
        return reason
