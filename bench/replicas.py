"""PostgreSQL, two replicas behind nginx (support/topology.py, on a fresh database of the tests' PostgreSQL
server): the load mix through nginx, the CPU time of each part (/proc), and PostgreSQL's own counters."""

import os
import subprocess
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import psycopg

from bench.common import ENDPOINTS, children_cpu, cpu_seconds, heading, import_sample, publish, run_locust
from support.servers import ROOT
from support.topology import Topology, fresh_database

RATE, SECONDS = 1000, 60  # req/s through nginx, and for how long


def processes_named(name: str) -> list[int]:
    return [int(pid) for pid in subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout.split()]


def written(url: str) -> tuple[int, int]:
    """The write transactions committed so far (the store's seq), and the rows written in the database."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SELECT pg_stat_clear_snapshot()")
        (rows,) = connection.execute(
            "SELECT tup_inserted + tup_updated + tup_deleted FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        (seq,) = connection.execute("SELECT seq FROM store_version").fetchone()
    return int(seq), int(rows)


def main() -> None:
    with tempfile.TemporaryDirectory() as name, ExitStack() as stack:
        url = stack.enter_context(fresh_database())
        topology = Topology(url, Path(name), stack)
        import_sample(topology.url)
        run_locust(topology.url, RATE / 2, 10, Path(name))  # warm-up
        parts = {
            "replicas": lambda: [replica.process.pid for replica in topology.replicas],
            "PostgreSQL": lambda: processes_named("postgres"),
            "nginx": lambda: processes_named("nginx"),
        }
        before = {part: cpu_seconds(*pids()) for part, pids in parts.items()}
        (writes, rows), started, locust = written(url), time.monotonic(), children_cpu()
        stats = run_locust(topology.url, RATE, SECONDS, Path(name))
        spent = {part: cpu_seconds(*pids()) - before[part] for part, pids in parts.items()}
        spent["locust"], elapsed = children_cpu() - locust, time.monotonic() - started
        writes, rows = (after - earlier for after, earlier in zip(written(url), (writes, rows), strict=True))
    total, posts, cores = stats["Total"], stats[ENDPOINTS[0]]["requests"], os.cpu_count() or 1
    p99 = " / ".join(f"{stats[endpoint]['p99']:.0f}" for endpoint in ENDPOINTS)
    lines = [
        "# PostgreSQL, two replicas behind nginx",
        "",
        heading("replicas"),
        f"Two app_sql.py replicas on one database of the local PostgreSQL, behind nginx (deploy/nginx.conf), locust"
        f" on the same machine at {RATE:,.0f} req/s for {SECONDS} s through nginx.",
        "",
        "| req/s | failures | p99 post / raw / monthly (ms) | held (0 failures, p99 <= 100 ms) |",
        "|---:|---:|---|---|",
        f"| {total['rps']:,.0f} | {total['failures']} | {p99} | {'yes' if stats['held'] else 'no'} |",
        "",
        "| part | CPU (share of one core) | CPU µs per request |",
        "|---|---:|---:|",
        *(f"| {part} | {cpu / elapsed:.0%} | {cpu / total['requests'] * 1e6:,.0f} |" for part, cpu in spent.items()),
        f"| the machine ({cores} cores) | {sum(spent.values()):.0f} s of {cores * elapsed:.0f} s | |",
        "",
        f"Posts: {posts:,}, written in {writes:,} transactions ({posts / max(writes, 1):.1f} posts a transaction:"
        f" group commit); {rows / posts:.1f} rows written a post.",
    ]
    publish(lines, ROOT / "bench" / "results" / "replicas.md")


if __name__ == "__main__":
    main()
