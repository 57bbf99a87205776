"""PostgreSQL, two replicas behind nginx: the load mix, and what each part of the topology costs.

python -m bench.replicas [--rate 1000] [--seconds 60] [--out bench/results/replicas.md]

Two `app_sql.py` replicas on a fresh database of the tests' PostgreSQL server (VEGSALES_TEST_DATABASE_URL),
behind Debian's nginx running deploy/nginx.conf (support/topology.py, as tests/deploy/test_topology.py
runs it), all on this machine with locust. The sample file is imported through nginx, then locust
runs the mix against nginx at `rate`. CPU time is read from /proc for each part: the replicas,
PostgreSQL's processes (its backends included), nginx and locust; PostgreSQL's own counters give
the transactions and the rows each post costs.
"""

import argparse
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import psycopg

from bench.common import children_cpu, cpu_seconds, heading, import_sample, publish
from bench.load import ENDPOINTS, run_locust
from support.topology import Topology, fresh_database


def processes_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == name:
                found.append(int(entry.name))
        except OSError:
            continue  # ended meanwhile
    return found


def database_counters(url: str) -> dict[str, int]:
    """The write transactions committed so far (the store's seq grows by one with each) and the rows
    PostgreSQL has written in this database."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SELECT pg_stat_clear_snapshot()")
        (rows,) = connection.execute(
            "SELECT tup_inserted + tup_updated + tup_deleted FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        (seq,) = connection.execute("SELECT seq FROM store_version").fetchone()
    return {"writes": int(seq), "rows_written": int(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--out", type=Path, default=Path("bench/results/replicas.md"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name, ExitStack() as stack:
        folder = Path(name)
        url = stack.enter_context(fresh_database())
        topology = Topology(url, folder, stack)
        import_sample(topology.url)
        run_locust(topology.url, args.rate / 2, 10, folder)  # warm-up
        parts = {
            "replicas": lambda: [replica.process.pid for replica in topology.replicas],
            "PostgreSQL": lambda: processes_named("postgres"),
            "nginx": lambda: processes_named("nginx"),
        }
        before = {part: cpu_seconds(*pids()) for part, pids in parts.items()}
        counters, started, locust = database_counters(url), time.monotonic(), children_cpu()
        stats = run_locust(topology.url, args.rate, args.seconds, folder)
        locust, elapsed = children_cpu() - locust, time.monotonic() - started
        spent = {part: cpu_seconds(*pids()) - before[part] for part, pids in parts.items()}
        after = database_counters(url)
    requests = stats["Total"]["requests"]
    posts = stats["POST /post_sales"]["requests"]
    writes, cores = after["writes"] - counters["writes"], os.cpu_count() or 1
    lines = [
        "# PostgreSQL, two replicas behind nginx",
        "",
        heading("replicas"),
        f"Two app_sql.py replicas on one database of the local PostgreSQL, behind nginx (deploy/nginx.conf), locust"
        f" on the same machine at {args.rate:,.0f} req/s for {args.seconds} s through nginx.",
        "",
        "| req/s | failures | p99 post / raw / monthly (ms) | held (0 failures, p99 <= 100 ms) |",
        "|---:|---:|---|---|",
        f"| {stats['Total']['rps']:,.0f} | {stats['Total']['failures']} | "
        + " / ".join(f"{stats[e]['p99']:.0f}" for e in ENDPOINTS)
        + f" | {'yes' if stats['held'] else 'no'} |",
        "",
        "| part | CPU (share of one core) | CPU µs per request |",
        "|---|---:|---:|",
        *(f"| {part} | {cpu / elapsed:.0%} | {cpu / requests * 1e6:,.0f} |" for part, cpu in spent.items()),
        f"| locust | {locust / elapsed:.0%} | {locust / requests * 1e6:,.0f} |",
        f"| the machine ({cores} cores) | {sum(spent.values()) + locust:.0f} s of {cores * elapsed:.0f} s | |",
        "",
        f"Posts: {posts:,}, written in {writes:,} transactions ({posts / max(writes, 1):.1f} posts a transaction:"
        " group commit), each holding the write lock for five round trips in pipeline mode (the seq, the stored"
        " rows of the posted weeks, each touched vegetable's weeks and, when another replica wrote since, its"
        f" months, the commit); {(after['rows_written'] - counters['rows_written']) / posts:.1f} rows written a post."
        " Reads: one statement (one round trip) each.",
    ]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
