"""Which host a request names, against a real server: on loopback (the default) only the loopback
names are served; on any address, a request with two Host headers or a malformed one is refused
(RFC 9112 §3.2). What no HTTP client sends is written byte for byte: no Host, an empty one,
userinfo, two Host headers, an absolute-form target (whose authority stands for the Host)."""

from collections.abc import Iterator

import pytest

from support.servers import Server
from tests.raw_http import assert_error, exchange

ANSWERS_TO = "this server answers to 127.0.0.1, localhost, [::1]"
TWO_HOSTS = "the request has more than one Host header: HTTP/1.1 allows one"
PORT = b"{port}"  # replaced by the server's port


@pytest.fixture(scope="module")
def loopback(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server("app_sql.py", "--db", str(tmp_path_factory.mktemp("loopback") / "sales.db")) as server:
        yield server


@pytest.fixture(scope="module")
def any_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that answers to any name, as one on 0.0.0.0 without VEGSALES_ALLOWED_HOSTS does."""
    database = tmp_path_factory.mktemp("any-host") / "sales.db"
    with Server("app_sql.py", "--db", str(database), "--allowed-hosts", "*") as server:
        yield server


def sent(server: Server, request: bytes) -> bytes:
    return request.replace(PORT, str(server.port).encode())


def refusal(message: str) -> dict[str, str]:
    return {"error": "invalid_host", "message": message}


# (request, the refusal's message): what a page on a rebound name, or an attacker, sends.
REFUSED_ON_LOOPBACK = {
    "http_1_1_without_host": (b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n",
                              f"the request names no host (no Host header): {ANSWERS_TO}"),
    "http_1_0_without_host": (b"GET /health HTTP/1.0\r\n\r\n",
                              f"the request names no host (no Host header): {ANSWERS_TO}"),
    "empty_host": (b"GET /health HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
                   f"the request names no host (an empty Host header): {ANSWERS_TO}"),
    "dns_rebinding": (b"GET /health HTTP/1.1\r\nHost: evil.example:{port}\r\nConnection: close\r\n\r\n",
                      "this server does not answer to evil.example: it answers to 127.0.0.1, localhost, [::1]"),
    "userinfo": (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}@evil.example\r\nConnection: close\r\n\r\n",
                 "the Host header 127.0.0.1:{port}@evil.example is not a host name with an optional port: "
                 f"{ANSWERS_TO}"),
    "space_in_host": (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1 evil.example\r\nConnection: close\r\n\r\n",
                      f"the Host header 127.0.0.1 evil.example is not a host name with an optional port: {ANSWERS_TO}"),
    "two_ports": (b"GET /health HTTP/1.1\r\nHost: localhost:{port}:80\r\nConnection: close\r\n\r\n",
                  f"the Host header localhost:{{port}}:80 is not a host name with an optional port: {ANSWERS_TO}"),
    "unclosed_ip_literal": (b"GET /health HTTP/1.1\r\nHost: [::1\r\nConnection: close\r\n\r\n",
                            f"the Host header [::1 is not a host name with an optional port: {ANSWERS_TO}"),
    "two_host_headers_evil_second": (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: evil.example\r\n"
                                     b"Connection: close\r\n\r\n", TWO_HOSTS),
    "two_host_headers_alike": (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: 127.0.0.1:{port}\r\n"
                               b"Connection: close\r\n\r\n", TWO_HOSTS),
    "absolute_form_evil": (b"GET http://evil.example/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                           b"Connection: close\r\n\r\n", "this server does not answer to evil.example: it answers to "
                           "127.0.0.1, localhost, [::1]"),
    "absolute_form_evil_http_1_0": (b"GET http://evil.example:{port}/health?x=1 HTTP/1.0\r\n\r\n",
                                    "this server does not answer to evil.example: it answers to 127.0.0.1, "
                                    "localhost, [::1]"),
    "absolute_form_userinfo": (b"GET http://127.0.0.1:{port}@evil.example/health HTTP/1.1\r\n"
                               b"Host: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n",
                               "the Host header 127.0.0.1:{port}@evil.example is not a host name with an optional "
                               f"port: {ANSWERS_TO}"),
}  # fmt: skip


@pytest.mark.parametrize(("request_", "message"), REFUSED_ON_LOOPBACK.values(), ids=REFUSED_ON_LOOPBACK.keys())
def test_on_loopback_a_request_without_an_allowed_host_is_refused(loopback: Server, request_: bytes, message: str):
    answer = exchange(loopback.port, sent(loopback, request_))
    assert_error(answer, 400, refusal(message.replace("{port}", str(loopback.port))))


SERVED_ON_LOOPBACK = {
    "ip_and_port": b"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n",
    "localhost_and_port": b"GET /health HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n",
    "uppercase_without_port": b"GET /health HTTP/1.1\r\nHost: LOCALHOST\r\nConnection: close\r\n\r\n",
    "ipv6_loopback": b"GET /health HTTP/1.1\r\nHost: [::1]:{port}\r\nConnection: close\r\n\r\n",
    "absolute_form_allowed": b"GET http://127.0.0.1:{port}/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                             b"Connection: close\r\n\r\n",
    "absolute_form_stands_for_the_host": b"GET http://localhost:{port}/health HTTP/1.1\r\n"
                                         b"Host: evil.example\r\nConnection: close\r\n\r\n",
    "absolute_form_http_1_0_without_host": b"GET http://localhost:{port}/health HTTP/1.0\r\n\r\n",
}  # fmt: skip


@pytest.mark.parametrize("request_", SERVED_ON_LOOPBACK.values(), ids=SERVED_ON_LOOPBACK.keys())
def test_on_loopback_the_loopback_names_are_served(loopback: Server, request_: bytes):
    answer = exchange(loopback.port, sent(loopback, request_))
    assert (answer.status, answer.body) == (200, {"status": "ok"})
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_a_post_to_another_host_through_an_absolute_target_stores_nothing(loopback: Server):
    body = b'[{"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": 7}]'
    post = (
        b"POST http://evil.example/post_sales HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    )
    message = "this server does not answer to evil.example: it answers to 127.0.0.1, localhost, [::1]"
    assert_error(exchange(loopback.port, sent(loopback, post) + body), 400, refusal(message))
    read = b"GET /get_raw_sales HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    assert exchange(loopback.port, sent(loopback, read)).body == []


@pytest.mark.parametrize("upgrade", [b"websocket", b"h2c"])
def test_a_request_asking_for_an_upgrade_is_served_as_http_then_closed(loopback: Server, upgrade: bytes):
    request_ = (
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: Upgrade\r\nUpgrade: %s\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n" % upgrade
    )
    answer = exchange(loopback.port, sent(loopback, request_))  # closed after it: not after the idle timeout
    assert (answer.status, answer.body) == (200, {"status": "ok"})
    assert answer.headers["connection"] == "close"
    assert answer.headers["x-content-type-options"] == "nosniff"


REFUSED_ON_ANY_ADDRESS = {
    "two_host_headers": (b"GET /health HTTP/1.1\r\nHost: sales.example\r\nHost: evil.example\r\n"
                         b"Connection: close\r\n\r\n", TWO_HOSTS),
    "userinfo": (b"GET /health HTTP/1.1\r\nHost: sales.example@evil.example\r\nConnection: close\r\n\r\n",
                 "the Host header sales.example@evil.example is not a host name with an optional port"),
    "absolute_form_userinfo": (b"GET http://sales.example@evil.example/health HTTP/1.1\r\n"
                               b"Connection: close\r\n\r\n",
                               "the Host header sales.example@evil.example is not a host name with an optional port"),
}  # fmt: skip


@pytest.mark.parametrize(("request_", "message"), REFUSED_ON_ANY_ADDRESS.values(), ids=REFUSED_ON_ANY_ADDRESS.keys())
def test_two_host_headers_or_a_malformed_one_are_refused_whatever_the_names_served(
    any_host: Server, request_: bytes, message: str
):
    assert_error(exchange(any_host.port, request_), 400, refusal(message))


SERVED_ON_ANY_ADDRESS = {
    "any_name": b"GET /health HTTP/1.1\r\nHost: sales.internal:8000\r\nConnection: close\r\n\r\n",
    "http_1_0_probe_without_host": b"GET /health HTTP/1.0\r\n\r\n",
    "empty_host": b"GET /health HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
    "absolute_form": b"GET http://sales.internal/health HTTP/1.1\r\nHost: other.internal\r\nConnection: close\r\n\r\n",
}


@pytest.mark.parametrize("request_", SERVED_ON_ANY_ADDRESS.values(), ids=SERVED_ON_ANY_ADDRESS.keys())
def test_a_server_that_answers_to_any_name_serves_one_host_of_any_name_or_none(any_host: Server, request_: bytes):
    answer = exchange(any_host.port, request_)
    assert (answer.status, answer.body) == (200, {"status": "ok"})
