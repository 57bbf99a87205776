"""One candidate server configuration serving the SQLite service, for bench/servers.py.

python bench/candidates.py NAME --db PATH [--port 8000]

NAME is one of CANDIDATES. Each serves the same app (`vegsales.server.build_app`, SQLite at
PATH, loopback Host names allowed) in one process with uvloop, no access log, and the limits
the server offers set as close as it can to the service's: 64 KiB of header, 10 s to send it,
30 s for a body, 5 s idle, 1,000 connections. granian and hypercorn must be installed
(`pip install granian hypercorn`; they are not dependencies of the service).
"""

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from vegsales.server import Settings, build_app, security_settings, serve  # noqa: E402

HOST = "127.0.0.1"


def settings(db: str) -> Settings:
    return Settings(backend="sqlite", location=db, security=security_settings(None, None, HOST))


def service(db: str, port: int) -> None:
    """The service as shipped: `vegsales.server.serve` (uvicorn, httptools, LimitedHttpToolsProtocol)."""
    serve(build_app(settings(db)), settings(db), HOST, port)


def uvicorn_httptools(db: str, port: int) -> None:
    """The service before the limits: uvicorn's httptools protocol as it comes."""
    import uvicorn

    app = build_app(settings(db))
    uvicorn.run(app, host=HOST, port=port, loop="uvloop", http="httptools", access_log=False, log_level="info")


def uvicorn_h11(db: str, port: int) -> None:
    """uvicorn's h11 protocol, the one with a header size limit, and uvicorn's request cap."""
    import uvicorn

    app = build_app(settings(db))
    uvicorn.run(
        app, host=HOST, port=port, loop="uvloop", http="h11", access_log=False, log_level="info",
        h11_max_incomplete_event_size=64 * 1024, limit_concurrency=1000, timeout_keep_alive=5,
    )  # fmt: skip


def granian(db: str, port: int) -> None:
    """granian (Rust, hyper): header read timeout and buffer size; backpressure caps requests, not connections."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings

    os.environ.update(settings(db).to_environment())  # the worker process builds the app from them
    Granian(
        "vegsales.server:app_from_environment", address=HOST, port=port, interface=Interfaces.ASGI, factory=True,
        workers=1, loop=Loops.uvloop, http=HTTPModes.http1, backpressure=1000, log_access=False,
        http1_settings=HTTP1Settings(header_read_timeout=10_000, max_buffer_size=64 * 1024),
    ).serve()  # fmt: skip


def hypercorn(db: str, port: int) -> None:
    """hypercorn (h11): header size limit, a keep-alive timer that also runs until a request's header ends."""
    import uvloop
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{HOST}:{port}"]
    config.h11_max_incomplete_size = 64 * 1024
    config.keep_alive_timeout = 5
    config.read_timeout = 30  # per read: a byte every 29 s resets it
    config.accesslog = None
    app = build_app(settings(db))
    uvloop.run(hypercorn_serve(app, config, mode="asgi"))  # type: ignore[arg-type]


CANDIDATES: dict[str, Callable[[str, int], None]] = {
    "uvicorn-httptools": uvicorn_httptools,
    "service": service,
    "uvicorn-h11": uvicorn_h11,
    "granian": granian,
    "hypercorn": hypercorn,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=list(CANDIDATES))
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    CANDIDATES[args.name](args.db, args.port)


if __name__ == "__main__":
    main()
