"""Requests written byte for byte to a real server, and its answers read as sent: for what no HTTP
client sends (a slow header, a malformed request line, two Host headers, an absolute-form target)."""

import json
import socket
from contextlib import closing, suppress
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    """By lowercase name; a repeated header's values joined with ", "."""
    body: object
    """The JSON body, parsed."""


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def read_to_end(sock: socket.socket, within: float) -> bytes:
    """What the server sends until it closes the connection (a reset ends it too)."""
    sock.settimeout(within)
    received = b""
    with suppress(ConnectionError):
        while chunk := sock.recv(65536):
            received += chunk
    return received


def parse(raw: bytes) -> Answer:
    """One whole HTTP/1.1 answer with a JSON body of its Content-Length, and nothing after it."""
    head, separator, body = raw.partition(b"\r\n\r\n")
    assert separator, f"no end of header in {raw[:300]!r}"
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, status, _ = status_line.split(" ", 2)
    assert version == "HTTP/1.1", status_line
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        name = name.lower()
        headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
    assert int(headers["content-length"]) == len(body), (headers, body)
    return Answer(int(status), headers, json.loads(body))


def exchange(port: int, request: bytes, within: float = 10) -> Answer:
    """Sends `request` as is on a new connection, and parses what the server sends until it closes it."""
    with closing(connect(port)) as sock:
        sock.sendall(request)
        return parse(read_to_end(sock, within))


def assert_error(answer: Answer, status: int, body: dict[str, str], request_id: str | None = None) -> None:
    """`answer` is the service's JSON error `body` with status `status`, carrying its headers:
    nosniff and a request id (`request_id`, the one the client sent, else a new one: 32 hex digits)."""
    assert (answer.status, answer.body) == (status, body)
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-content-type-options"] == "nosniff"
    if request_id is None:
        given = answer.headers["x-request-id"]
        assert len(given) == 32 and set(given) <= set("0123456789abcdef"), given
    else:
        assert answer.headers["x-request-id"] == request_id
