"""Load benchmark: the required mix at 1,000 requests/s, then the saturation point.

python bench/load.py [--backends sqlite csv] [--rate 1000] [--duration 60] [--out bench/results/latest.md]

For each backend: a fresh server process on a free port, the sample file imported (timed),
a 50,000-record POST timed (SQLite), then locust (bench/locustfile.py, headless, in its own
process) at the target rate for `duration` seconds after a warm-up; then rising rates for
30 s each until a run fails, to find the highest rate held with 0 failures and p99 <= 100 ms on
every endpoint. Afterwards gold must equal what the pipeline computes from bronze, and every
acknowledged post must be in bronze. Server CPU is read from /proc.
"""

import argparse
import csv
import datetime as dt
import http.client
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import cpu_seconds  # noqa: E402
from bench.growth import spellings  # noqa: E402
from tests.servers import Server, request  # noqa: E402
from vegsales.pipeline import gold_from_bronze  # noqa: E402
from vegsales.records import week_start  # noqa: E402
from vegsales.tables import BronzeRow, GoldRow  # noqa: E402
from vegsales.vegetables import Vocabulary  # noqa: E402

ENDPOINTS = ("POST /post_sales", "GET /get_raw_sales", "GET /get_monthly_sales")
P99_LIMIT_MS = 100


def written_bytes(pid: int) -> int:
    """Bytes the process has written (/proc/<pid>/io wchar: files and sockets)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise ValueError(f"no wchar in /proc/{pid}/io")


def run_locust(urls: list[str], rate: float, seconds: int, folder: Path, acks: Path | None = None) -> dict:
    """One headless locust run (users spread over `urls`); returns per-endpoint stats from its CSV report."""
    users = max(50, int(rate / 10))
    prefix = folder / f"locust-{int(rate)}"
    env = {**os.environ, "VEGSALES_RATE": str(rate), "VEGSALES_USERS": str(users), "VEGSALES_HOSTS": " ".join(urls)}
    if acks:
        env["VEGSALES_ACKS"] = str(acks)
    command = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--host", urls[0],
        "--headless", "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{seconds}s",
        "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0",
        "--stop-timeout", "10",  # users finish their request: no post is cut off unacknowledged
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
                "p95": float(row["95%"]),
                "p99": float(row["99%"]),
            }
    return stats


def measured(servers: list[Server], urls: list[str], rate: float, seconds: int, folder: Path, acks=None) -> dict:
    pids = [server.process.pid for server in servers]
    before, start = sum(map(cpu_seconds, pids)), time.monotonic()
    written = sum(map(written_bytes, pids))
    stats = run_locust(urls, rate, seconds, folder, acks)
    stats["server_cpu_seconds"] = sum(map(cpu_seconds, pids)) - before
    stats["server_written_bytes"] = sum(map(written_bytes, pids)) - written
    stats["server_cpu"] = stats["server_cpu_seconds"] / (time.monotonic() - start)
    stats["passed"] = stats["Total"]["failures"] == 0 and all(
        stats.get(name, {"p99": 0})["p99"] <= P99_LIMIT_MS for name in ENDPOINTS
    )
    return stats


def timed_post(url: str, records: list) -> tuple[float, dict]:
    """Seconds from sending a post (already encoded) to its full answer, and the answer."""
    body = json.dumps(records).encode()
    connection = http.client.HTTPConnection(urlsplit(url).hostname, urlsplit(url).port, timeout=120)
    start = time.perf_counter()
    connection.request("POST", "/post_sales", body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    report = json.loads(response.read())
    seconds = time.perf_counter() - start
    connection.close()
    assert response.status == 200, report
    return seconds, report


def bulk_records(count: int) -> list[dict]:
    """A year of weekly sales of 30 vegetables under ~1,000 raw spellings: `count` distinct keys."""
    names = spellings()
    weeks = -(-count // len(names))
    records = [
        {
            "date": (dt.date(2030, 1, 7) + dt.timedelta(days=7 * week)).isoformat(),
            "vegetable": name,
            "kilo_sold": 10.0 + week,
        }
        for week in range(weeks)
        for name in names
    ]
    return records[:count]


def check_consistency(urls: list[str], acks: Path) -> dict:
    """Gold equals the pipeline run on bronze (on every replica); every acknowledged post is in bronze."""
    raw = request(f"{urls[0]}/get_raw_sales", timeout=120)[1]
    golds = [[GoldRow(**row) for row in request(f"{url}/get_monthly_sales", timeout=120)[1]] for url in urls]
    bronze = [BronzeRow(**row, week_start=week_start(row["date"]), received_at="") for row in raw]
    stored = {(row.date, row.vegetable): row.kilo_sold for row in bronze}
    acknowledged = json.loads(acks.read_text())
    values: dict = {}
    for date, vegetable, kilos in acknowledged:
        values.setdefault((date, vegetable), set()).add(kilos)
    missing = [key for key in values if key not in stored]
    foreign = [key for key, kilos in values.items() if key in stored and stored[key] not in kilos | {None}]
    return {
        "gold_equals_pipeline": all(gold == gold_from_bronze(bronze, Vocabulary.load()) for gold in golds),
        "acknowledged_posts": len(acknowledged),
        "acknowledged_keys_missing": len(missing),
        "keys_holding_a_value_never_acknowledged": len(foreign),
    }


@contextmanager
def servers(backend: str, folder: Path) -> Iterator[list[Server]]:
    """The servers under test: one process, or two replicas on one PostgreSQL database."""
    if backend == "postgres":
        with (
            bench_database() as url,
            Server("app_sql.py", "--db", url) as first,
            Server("app_sql.py", "--db", url) as second,
        ):
            yield [first, second]
        return
    script, flag, target = {
        "sqlite": ("app_sql.py", "--db", str(folder / "sales.db")),
        "csv": ("app_csv.py", "--data-dir", str(folder / "csv")),
    }[backend]
    with Server(script, flag, target) as server:
        yield [server]


@contextmanager
def bench_database() -> Iterator[str]:
    import psycopg

    admin = os.environ.get("VEGSALES_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"vegsales_bench_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name}")
        connection.execute(f"CREATE DATABASE {name}")
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def import_sample(url: str) -> float:
    """`vegsales import data/sample_sales.csv` into the server at `url`; the seconds it took."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "vegsales.cli", "import", str(ROOT / "data" / "sample_sales.csv"), "--url", url],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - start


def bench_backend(backend: str, rate: float, duration: int, folder: Path, max_rate: float) -> dict:
    result: dict = {"backend": "postgres, 2 replicas" if backend == "postgres" else backend}
    with servers(backend, folder) as running:
        url = running[0].url
        urls = [server.url for server in running]
        with open(ROOT / "data" / "sample_sales.csv", newline="", encoding="utf-8") as file:
            result["sample_rows"] = len(list(csv.DictReader(file)))
        result["sample_import_s"] = import_sample(url)
        run_locust(urls, rate / 2, 10, folder)  # warm-up
        acks = folder / f"acks-{backend}.json"
        result["target"] = measured(running, urls, rate, duration, folder, acks)
        result["consistency"] = check_consistency(urls, acks)
        steps = []
        step = rate
        while step <= max_rate:
            stats = measured(running, urls, step, 30, folder)
            steps.append((step, stats))
            print(f"  {backend} {step:.0f} req/s: {describe(stats)}", flush=True)
            if not stats["passed"]:
                break
            step += 250
        result["steps"] = steps
        passing = [stats["Total"]["rps"] for _, stats in steps if stats["passed"]]
        result["saturation_rps"] = max(passing) if passing else None
        if backend == "sqlite":
            records = bulk_records(50_000)
            result["bulk_50k_s"], report = timed_post(url, records)
            assert report["inserted"] == 50_000, report
    return result


def describe(stats: dict) -> str:
    total = stats["Total"]
    p99 = ", ".join(f"{name.split()[1]} p99 {stats[name]['p99']:.0f}" for name in ENDPOINTS if name in stats)
    return f"{total['rps']:.0f} req/s, {total['failures']} failures, {p99} ms, server CPU {stats['server_cpu']:.0%}"


def report(results: list[dict], rate: float, duration: int) -> str:
    lines = [
        "# Load benchmark",
        "",
        f"{dt.datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, {os.cpu_count()} cores; locust on the same machine.",
        "Mix post : get_raw_sales : get_monthly_sales = 2 : 1 : 1,"
        f" sample dataset loaded ({results[0]['sample_rows']:,} rows).",
        "",
        f"## {rate:,.0f} req/s for {duration} s",
        "",
        "| backend | endpoint | req/s | failures | p50 ms | p95 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        for name in (*ENDPOINTS, "Total"):
            s = result["target"].get(name)
            if s:
                lines.append(
                    f"| {result['backend']} | {name} | {s['rps']:.0f} | {s['failures']} | "
                    f"{s['p50']:.0f} | {s['p95']:.0f} | {s['p99']:.0f} |"
                )
    lines += [
        "",
        "| backend | held (0 failures, p99 <= 100 ms) | server CPU | gold = pipeline(bronze) | acknowledged posts"
        " | missing | sample import |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    for result in results:
        c = result["consistency"]
        lines.append(
            f"| {result['backend']} | {'yes' if result['target']['passed'] else 'NO'} | "
            f"{result['target']['server_cpu']:.0%} | {'yes' if c['gold_equals_pipeline'] else 'NO'} | "
            f"{c['acknowledged_posts']:,} | {c['acknowledged_keys_missing']} | {result['sample_import_s']:.2f} s |"
        )
    lines += ["", "## Saturation (30 s per step, +250 req/s)", ""]
    for result in results:
        lines.append(f"**{result['backend']}**: highest rate held: {result['saturation_rps'] or 0:,.0f} req/s")
        lines.append("")
        for step, stats in result["steps"]:
            lines.append(f"- target {step:,.0f}: {describe(stats)} -> {'held' if stats['passed'] else 'not held'}")
        lines.append("")
    bulk = [r for r in results if "bulk_50k_s" in r]
    if bulk:
        lines += ["## Bulk", "", f"One POST of 50,000 valid records (SQLite): {bulk[0]['bulk_50k_s']:.2f} s", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--backends", nargs="+", default=["sqlite", "csv", "postgres"], choices=["sqlite", "csv", "postgres"]
    )
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--max-rate", type=float, default=4000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.md")
    args = parser.parse_args()
    results = []
    for backend in args.backends:
        with tempfile.TemporaryDirectory() as folder:
            print(f"{backend}: ...", flush=True)
            results.append(bench_backend(backend, args.rate, args.duration, Path(folder), args.max_rate))
            print(f"{backend}: {describe(results[-1]['target'])}; {results[-1]['consistency']}", flush=True)
    text = report(results, args.rate, args.duration)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
