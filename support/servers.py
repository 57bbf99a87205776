"""The service as a real server process on a free port, and requests to it: for the tests that kill or
duplicate a server, and for the benchmarks."""

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
# The PostgreSQL server of the tests and of the benchmarks that need one.
POSTGRES_URL = os.environ.get("VEGSALES_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


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

    def __init__(
        self,
        script: str,
        *args: str,
        port: int | None = None,
        root: Path = ROOT,
        env: dict[str, str] | None = None,
        log_file: Path | None = None,
        wrapper: tuple[str, ...] = (),
    ):
        """`script` relative to `root` (another checkout, for a before/after benchmark: its own src/ imported),
        `env` added to this process's, stderr to `log_file` rather than a pipe when the server logs a line a
        request, the command run under `wrapper` (valgrind, for a benchmark that counts instructions)."""
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = ""
        """What the server wrote on stderr, once it has stopped."""
        self.log_file = log_file
        log_stream = None if log_file is None else log_file.open("w", encoding="utf-8")
        own_source = {"PYTHONPATH": str(root / "src")} if root != ROOT else {}
        self.process = subprocess.Popen(
            [*wrapper, sys.executable, str(root / script), *args, "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if log_stream is None else log_stream,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **own_source, **(env or {})},
        )
        if log_stream is not None:
            log_stream.close()  # the child holds its own descriptor

    def wait_ready(self, timeout: float = 30) -> "Server":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.read_log()}")
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
        self.log = self.read_log()
        self.process.stdout.close()
        if self.process.stderr is not None:
            self.process.stderr.close()

    def read_log(self) -> str:
        if self.log_file is not None:
            return self.log_file.read_text(encoding="utf-8", errors="replace")
        return "" if self.process.stderr.closed else self.process.stderr.read()

    def __enter__(self) -> "Server":
        return self.wait_ready()

    def __exit__(self, *exc_info) -> None:
        self.stop()


BACKENDS = {"sqlite": ("app_sql.py", "--db", "sales.db"), "csv": ("app_csv.py", "--data-dir", "csv")}


def backend_server(backend: str, home: Path, root: Path = ROOT, **options) -> Server:
    """A server of `backend` ("sqlite" or "csv"), not yet waited for: its store and its stderr in the
    folder `home` (made if need be); `options` go to `Server`."""
    script, flag, location = BACKENDS[backend]
    home.mkdir(parents=True, exist_ok=True)
    return Server(script, flag, str(home / location), root=root, log_file=home / "stderr", **options)
