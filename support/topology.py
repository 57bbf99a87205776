"""compose.postgres.yaml without containers: two app_sql.py replicas on one fresh PostgreSQL database behind
Debian's nginx running deploy/nginx.conf, only its `# topology-test:` lines rewritten for local processes."""

import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from support.servers import POSTGRES_URL, ROOT, Server, answers, exchange, free_port, wait_for

NGINX_CONF, FAIL_TIMEOUT = ROOT / "deploy/nginx.conf", 2  # nginx.conf's 10 s: shortened, the checks are the same


@contextmanager
def fresh_database(server: str = POSTGRES_URL) -> Iterator[str]:
    """A new database on the PostgreSQL server that the URL `server` names, dropped afterwards; its URL."""
    name = f"vegsales_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    try:
        yield urlsplit(server)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE {name} WITH (FORCE)")


class Topology:
    """Two replicas, and nginx before them in the foreground; `expect` also says which replicas nginx tried."""

    def __init__(self, database: str, folder: Path, stack: ExitStack):
        self.database, self.stack = database, stack
        self.replicas = [replica.wait_ready() for replica in (self.start_replica(), self.start_replica())]
        self.names, self.port = [f"127.0.0.1:{replica.port}" for replica in self.replicas], free_port()
        self.url, conf = f"http://127.0.0.1:{self.port}", NGINX_CONF.read_text()
        fails = f"max_fails=1 fail_timeout={FAIL_TIMEOUT}s"
        for marker, old, new in [
            ("replica 1", "api1:8000 max_fails=1 fail_timeout=10s", f"{self.names[0]} {fails}"),
            ("replica 2", "api2:8000 max_fails=1 fail_timeout=10s", f"{self.names[1]} {fails}"),
            ("listen", "listen 8000;", f"listen 127.0.0.1:{self.port};"),
            ("access log", "/var/log/nginx/access.log", str(folder / "access.log")),
        ]:
            lines = [line for line in conf.splitlines() if line.endswith(f"# topology-test: {marker}") and old in line]
            assert len(lines) == 1, f"deploy/nginx.conf: no line marked `# topology-test: {marker}` holds {old!r}"
            conf = conf.replace(lines[0], lines[0].replace(old, new))
        # The test's own lines: nginx's temporary files in `folder`; the replicas it tried, in two headers.
        own = [f"{kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")]
        own += ["add_header X-Upstream $upstream_addr always;", "add_header X-Upstream-Status $upstream_status always;"]
        (folder / "nginx.conf").write_text(conf.replace("http {", "\n    ".join(["http {", *own]), 1))
        options = ["-p", f"{folder}/", "-c", "nginx.conf", "-e", "error.log", "-g", "daemon off; pid nginx.pid;"]
        self.nginx = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", *options])
        stack.callback(self.nginx.wait, timeout=10)
        stack.callback(self.nginx.terminate)
        wait_for(lambda: answers(self.url) or self.nginx.poll() is not None, "nginx answering /health", 10)
        assert self.nginx.poll() is None, (folder / "error.log").read_text()

    def start_replica(self, port: int | None = None) -> Server:
        server = Server("app_sql.py", "--db", self.database, port=port)
        self.stack.callback(server.stop)
        return server

    def expect(self, method: str, path: str, answer, body=None, status=200, **options) -> list[tuple[str, str]]:
        """This exact answer through nginx; the [(replica, its status)] nginx tried. Its headers: `headers`."""
        got_status, got, self.headers = exchange(self.url + path, method, body, timeout=30, **options)
        tried = [re.findall(r"[^, ]+", self.headers.get(name, "")) for name in ("X-Upstream", "X-Upstream-Status")]
        assert (got_status, got) == (status, answer), tried
        return list(zip(*tried, strict=True))
