"""What the benchmarks share: the servers measured (this version and earlier ones, each on its own
store), the sample import, one timed request, the rotated order of rounds, and CPU time from /proc."""

import datetime as dt
import http.client
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from support.servers import ROOT, Server

SCRIPTS = {"sqlite": ("app_sql.py", "--db", "sales.db"), "csv": ("app_csv.py", "--data-dir", "csv")}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def service(backend: str, home: Path, root: Path = ROOT, env: dict[str, str] | None = None, **options) -> Server:
    """A server of `backend` as the tree at `root` has it (started, not yet waited for), its store and
    its stderr in `home`; `options` go to `Server` (a wrapper such as valgrind)."""
    script, flag, location = SCRIPTS[backend]
    home.mkdir(parents=True, exist_ok=True)
    source = {"PYTHONPATH": str(root / "src")} if root != ROOT else {}
    env = {**source, **(env or {})}
    return Server(script, flag, str(home / location), root=root, env=env, log_file=home / "stderr", **options)


def versions(commits: list[str], folder: Path) -> dict[str, Path]:
    """The trees measured: "this one", and "@<commit>" for each commit (git archive: no worktree to clean up)."""
    trees = {"this one": ROOT}
    for commit in commits:
        (folder / commit).mkdir()
        archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder / commit)], input=archive, check=True)
        trees[f"@{commit}"] = folder / commit
    return trees


def import_sample(url: str) -> None:
    """`vegsales import data/sample_sales.csv` into the server at `url`."""
    subprocess.run(
        [sys.executable, "-m", "vegsales.cli", "import", str(ROOT / "data" / "sample_sales.csv"), "--url", url],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


class Connection:
    """One keep-alive connection to a server; each call timed from sending the request to the whole answer."""

    def __init__(self, port: int):
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method: str, path: str, body: object = None) -> tuple[int, bytes, float]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data else {}
        start = time.perf_counter()
        self.http.request(method, path, body=data, headers=headers)
        response = self.http.getresponse()
        payload = response.read()
        return response.status, payload, time.perf_counter() - start


def rotated_rounds(names: list[str], rounds: int) -> Iterator[tuple[int, str]]:
    """(round, name) for every name in every round, each round starting one name further on, so that the
    machine's drift (it is shared, and locust runs on it) hits every server alike."""
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            yield number, name


def cpu_seconds(*pids: int) -> float:
    """User and system CPU seconds the processes have used so far (/proc); one that has ended counts 0."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def machine_seconds() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine since boot (/proc/stat): all cores, every process."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS, sum(ticks) / CLOCK_TICKS  # idle, iowait: not busy


def written_bytes(pid: int) -> int:
    """Bytes the process has written (/proc/<pid>/io wchar: files and sockets)."""
    return int(Path(f"/proc/{pid}/io").read_text().split("wchar:", 1)[1].split()[0])


def children_cpu() -> float:
    """CPU seconds of this process's finished children: the locust runs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def publish(lines: list[str], out: Path | None) -> None:
    """Prints a report, and writes it to `out` when one is given."""
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")


def heading(script: str) -> str:
    """When and where a report was measured, and by which script."""
    return f"{dt.datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, {os.cpu_count()} cores; bench/{script}.py."
