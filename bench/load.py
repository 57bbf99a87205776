"""The required load (bench/locustfile.py) run by locust, in a process of its own, against one URL; what a
server and the machine spend meanwhile."""

import csv
import os
import subprocess
import sys
from pathlib import Path

from bench.common import children_cpu, cpu_seconds, machine_seconds, written_bytes
from support.servers import ROOT, Server

ENDPOINTS = ("POST /post_sales", "GET /get_raw_sales", "GET /get_monthly_sales")
P99_LIMIT_MS = 100


def run_locust(url: str, rate: float, seconds: int, folder: Path) -> dict:
    """Per-endpoint stats ("Total": all of them) of one headless run, and whether the rate was held: no
    failure and every endpoint's p99 within the limit."""
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
            stats[name] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "rps": float(row["Requests/s"]),
                "p50": float(row["50%"]),
                "p99": float(row["99%"]),
            }
    stats["held"] = stats["Total"]["failures"] == 0 and all(
        stats.get(name, {"p99": 0})["p99"] <= P99_LIMIT_MS for name in ENDPOINTS
    )
    return stats


def measured(server: Server, rate: float, seconds: int, folder: Path) -> dict:
    """One locust run against `server`, with what the server spent meanwhile (CPU from /proc, bytes written),
    locust's CPU, and the share of the machine that neither took (other jobs, the idle servers, the kernel)."""
    pid, locust = server.process.pid, children_cpu()
    (busy, total), cpu, written = machine_seconds(), cpu_seconds(pid), written_bytes(pid)
    stats = run_locust(server.url, rate, seconds, folder)
    (busy_after, total_after), locust = machine_seconds(), children_cpu() - locust
    stats["server_cpu_seconds"] = cpu_seconds(pid) - cpu
    stats["server_cpu"] = stats["server_cpu_seconds"] / (total_after - total) * (os.cpu_count() or 1)
    stats["server_written_bytes"] = written_bytes(pid) - written
    stats["locust_cpu"] = locust / (total_after - total) * (os.cpu_count() or 1)  # share of one core
    stats["others"] = (busy_after - busy - stats["server_cpu_seconds"] - locust) / (total_after - total)
    return stats


def micros_per_request(stats: dict) -> float:
    return stats["server_cpu_seconds"] / max(stats["Total"]["requests"], 1) * 1e6
