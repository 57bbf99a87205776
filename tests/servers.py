"""Start the real server as a subprocess, for tests that kill or duplicate it."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(url: str, method: str = "GET", body: object = None, timeout: float = 10) -> tuple[int, object]:
    return exchange(url, method, body, timeout)[:2]


def exchange(
    url: str, method: str = "GET", body: object = None, timeout: float = 10, headers=None, data: bytes | None = None
) -> tuple[int, object, Message]:
    """(status, JSON or None for an empty body, headers) of one request; `data` is sent as is instead of `body`."""
    if data is None and body is not None:
        data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, answer, answer_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, answer, answer_headers = error.code, error.read(), error.headers
    return status, json.loads(answer) if answer else None, answer_headers


def wait_for(condition, what: str, timeout: float = 30):
    """condition()'s first true value, asked every 50 ms; fails the test if none comes within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)
    return result


def answers(url: str) -> bool:
    """Whether the server at `url` answers /health (False while it cannot be reached)."""
    try:
        return request(f"{url}/health", timeout=1)[0] == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


class Server:
    """`python <script> <args> --port <port, a free one by default>`, waited for until /health answers."""

    def __init__(self, script: str, *args: str, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = ""
        """What the server wrote on stderr, once it has stopped."""
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / script), *args, "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def wait_ready(self, timeout: float = 30) -> "Server":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.process.stderr.read()}")
            try:
                if request(f"{self.url}/health", timeout=1)[0] == 200:
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        raise TimeoutError(f"server on port {self.port} not ready after {timeout} s")

    def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        if not self.process.stderr.closed:
            self.log = self.process.stderr.read()
        for stream in (self.process.stdout, self.process.stderr):
            stream.close()

    def __enter__(self) -> "Server":
        return self.wait_ready()

    def __exit__(self, *exc_info) -> None:
        self.stop()
