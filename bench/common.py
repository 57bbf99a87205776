"""What the benchmarks share: the versions measured, the sample import, the rotated order of rounds, the
required load run by locust, CPU time from /proc, and the reports."""

import csv
import datetime as dt
import os
import platform
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from support.servers import ROOT, Server

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ENDPOINTS = ("POST /post_sales", "GET /get_raw_sales", "GET /get_monthly_sales")
P99_LIMIT_MS = 100
COLUMNS = {"requests": ("Request Count", int), "failures": ("Failure Count", int), "rps": ("Requests/s", float)}
COLUMNS |= {"p50": ("50%", float), "p99": ("99%", float)}  # of locust's --csv stats


def versions(commits: list[str], folder: Path) -> dict[str, Path]:
    """The trees measured: "this one", and "@<commit>" for each commit (git archive: no worktree to clean up)."""
    for commit in commits:
        (folder / commit).mkdir()
        archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder / commit)], input=archive, check=True)
    return {"this one": ROOT} | {f"@{commit}": folder / commit for commit in commits}


def import_sample(url: str) -> None:
    """`vegsales import data/sample_sales.csv` into the server at `url`."""
    command = [sys.executable, "-m", "vegsales.cli", "import", str(ROOT / "data" / "sample_sales.csv"), "--url", url]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def rotated_rounds(names: list[str], rounds: int) -> Iterator[tuple[int, str]]:
    """(round, name), each round starting one name further on: the machine's drift hits every server alike."""
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            yield number, name


def run_locust(url: str, rate: float, seconds: int, folder: Path) -> dict:
    """Per-endpoint stats ("Total": all of them) of one headless run of bench/locustfile.py, and whether the
    rate was held: no failure and every endpoint's p99 within the limit."""
    users = max(50, int(rate / 10))
    prefix = folder / f"locust-{int(rate)}"
    env = {**os.environ, "VEGSALES_RATE": str(rate), "VEGSALES_USERS": str(users)}
    command = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--host", url,
        "--headless", "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{seconds}s",
        "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0",
        "--stop-timeout", "10",  # users finish their request: no post is cut off unanswered
    ]  # fmt: skip
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder)
    stats = {}
    with open(f"{prefix}_stats.csv", newline="") as file:
        for row in csv.DictReader(file):
            name = "Total" if row["Name"] == "Aggregated" else f"{row['Type']} {row['Name']}"
            stats[name] = {key: kind(row[column]) for key, (column, kind) in COLUMNS.items()}
    p99s = [stats.get(name, {"p99": 0})["p99"] for name in ENDPOINTS]
    stats["held"] = stats["Total"]["failures"] == 0 and max(p99s) <= P99_LIMIT_MS
    return stats


def measured(server: Server, rate: float, seconds: int, folder: Path) -> dict:
    """One locust run against `server`, with what the server spent meanwhile (CPU, bytes written), locust's
    CPU, and the share of the machine that neither took (other jobs, the idle servers, the kernel)."""
    pid, cores, start = server.process.pid, os.cpu_count() or 1, readings(server.process.pid)
    stats = run_locust(server.url, rate, seconds, folder)
    busy, total, cpu, written, locust = (after - before for before, after in zip(start, readings(pid), strict=True))
    return stats | {
        "server_cpu_seconds": cpu,
        "server_cpu": cpu / total * cores,  # share of one core
        "cpu_us": cpu / max(stats["Total"]["requests"], 1) * 1e6,  # a request
        "server_written_bytes": written,
        "locust_cpu": locust / total * cores,
        "others": (busy - cpu - locust) / total,  # share of the machine
    }


def readings(pid: int) -> tuple[float, ...]:
    """The machine's busy and total CPU seconds (/proc/stat: all cores; idle and iowait are not busy), the
    process's CPU seconds and the bytes it has written (files and sockets), and the locust runs' CPU seconds."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    written = int(Path(f"/proc/{pid}/io").read_text().split("wchar:", 1)[1].split()[0])
    busy, total = (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS, sum(ticks) / CLOCK_TICKS
    return busy, total, cpu_seconds(pid), written, children_cpu()


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


def children_cpu() -> float:
    """CPU seconds of this process's finished children: the locust runs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def publish(lines: list[str], out: Path | None) -> None:
    """Prints a report, and writes it to `out` when one is given."""
    print(text := "\n".join(lines) + "\n")
    if out:
        out.write_text(text, encoding="utf-8")


def heading(script: str) -> str:
    """When and where a report was measured, and by which script."""
    return f"{dt.datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, {os.cpu_count()} cores; bench/{script}.py."
