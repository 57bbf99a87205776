"""Serve an app with uvicorn: the event loop and HTTP parser chosen for throughput."""

import uvicorn
from fastapi import FastAPI


def serve(app: FastAPI, host: str, port: int, access_log: bool = False) -> None:
    """Run `app` until interrupted (one process; the store serialises writes)."""
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=access_log,
        log_level="info",
    )
