"""How request latency and CPU time grow with the number of stored rows.

python -m bench.growth [--backend sqlite] [--rows 3000 30000 300000] [--repeat 400] [--before COMMIT ...] [--out FILE]

For each size and version: a fresh server on a store loaded with synthetic weekly sales (30 vegetables,
10 spellings each), then sequential requests over one keep-alive connection: posts of one record that
update a stored row, and each read right after such a post (its cached JSON brought up to date first,
a read's worst case). Median and 95th percentile latency, and the server's CPU time a request (/proc).
"""

import argparse
import datetime as dt
import json
import random
import statistics
import tempfile
from pathlib import Path

from bench.common import SCRIPTS, Connection, cpu_seconds, publish, service, versions
from bench.sample import weekly_rows
from support.servers import ROOT


def measure(backend: str, count: int, repeat: int, root: Path = ROOT) -> dict[str, tuple[list[float], float]]:
    """Per request type: each request's latency (seconds), and the server's CPU time per request."""
    rows = weekly_rows(count, 10, dt.date(2000, 1, 3))  # 300 spellings a week
    with tempfile.TemporaryDirectory() as folder, service(backend, Path(folder), root) as server:
        connection = Connection(server.port)
        for start in range(0, len(rows), 50_000):
            status, payload, _ = connection.call("POST", "/post_sales", rows[start : start + 50_000])
            assert status == 200, payload[:300]
        status, payload, _ = connection.call("GET", "/get_raw_sales")
        assert status == 200 and len(json.loads(payload)) == count
        rng = random.Random(2)

        def post() -> float:
            record = dict(rng.choice(rows), kilo_sold=round(rng.uniform(10, 2000), 1))
            status, payload, seconds = connection.call("POST", "/post_sales", [record])
            assert status == 200 and json.loads(payload)["updated"] == 1, payload
            return seconds

        def get(path: str) -> float:
            status, _, seconds = connection.call("GET", path)
            assert status == 200
            return seconds

        pid = server.process.pid
        results: dict[str, tuple[list[float], float]] = {}
        before = cpu_seconds(pid)
        posts = [post() for _ in range(repeat)]
        post_cpu = (cpu_seconds(pid) - before) / repeat
        results["post"] = (posts, post_cpu)
        for path in ("/get_raw_sales", "/get_monthly_sales"):
            before, latencies = cpu_seconds(pid), []
            for _ in range(repeat // 4):
                post()
                latencies.append(get(path))
            results[path.strip("/")] = (latencies, (cpu_seconds(pid) - before) / (repeat // 4) - post_cpu)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=list(SCRIPTS), default="sqlite")
    parser.add_argument("--rows", type=int, nargs="+", default=[3_000, 30_000, 300_000])
    parser.add_argument("--repeat", type=int, default=400)
    parser.add_argument("--before", nargs="*", default=[], metavar="COMMIT", help="also the service at COMMIT")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    lines = [
        f"### {args.backend}: latency (ms) and server CPU time (µs) per request, by bronze rows stored",
        "",
        "| bronze rows | version | POST one record | GET /get_raw_sales | GET /get_monthly_sales |",
        "|---:|---|---:|---:|---:|",
        "|  |  | ms median / p95; CPU µs | after a post: ms median / p95; CPU µs | after a post: ms; CPU µs |",
    ]
    with tempfile.TemporaryDirectory() as folder:
        trees = versions(args.before, Path(folder))
        for count in args.rows:
            for version, root in trees.items():
                timings = measure(args.backend, count, args.repeat, root)
                cells = [
                    f"{statistics.median(t) * 1e3:.2f} / {statistics.quantiles(t, n=20)[-1] * 1e3:.2f};"
                    f" {cpu * 1e6:,.0f}"
                    for t, cpu in timings.values()
                ]
                lines.append(f"| {count:,} | {version} | " + " | ".join(cells) + " |")
                print(lines[-1], flush=True)
    publish(lines, args.out)


if __name__ == "__main__":
    main()
