"""What the row history costs (as_of reads): instructions per request beside an earlier commit, as_of reads of
an old version, disk, and posts as the history grows.

With --before COMMIT: bench/cost.py's counts (callgrind) of that commit's tree and of this one, one after the
other. Then, per backend, through a real server: the sample posted in week order, 52 weeks a post, each post's
data version noted; V is the version after the first year. `as_of=V` reads of the monthly and the raw table, each
the first of a freshly started server (nothing folded or rendered yet) and then again (cached), beside current
reads, each answer checked equal to the one that was current at V. Then 100 rounds of corrections (each re-posts
every sample record with its kilos changed; one-record posts timed before and after them), the reads again, and
the store's size before and after the rounds, the row history's own, with its rows: SQLite after a checkpoint
(dbstat for the history), the CSV folder after a clean stop (which compacts it; history.csv for the history),
PostgreSQL's pg_database_size and pg_total_relation_size('row_history'). A backend whose server fails (to start
again, or to answer) is reported under Failures with what was measured before, and the exit status is 1."""

import argparse
import csv
import gzip
import http.client
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psycopg

from bench.common import heading, publish, versions
from bench.sample import valid_sample_rows, varied
from support.servers import ROOT, Server, backend_server
from support.topology import fresh_database

BACKENDS = ("sqlite", "csv", "postgres")
WEEKS_A_POST, ROUNDS, REPEAT, ONE_RECORD_POSTS = 52, 100, 20, 50
FIRST_LIMIT_MS, POST_LIMIT = 50.0, 1.15  # the requirements: an old version's first answer; a post's CPU
HEADERS = {"Accept-Encoding": "gzip", "Content-Type": "application/json"}
MONTHLY, RAW = "/get_monthly_sales", "/get_raw_sales"
START_SECONDS = 120


@dataclass(frozen=True)
class Reads:
    """Milliseconds of one as_of read: the first of a fresh server, the median again, and a current read's."""

    first: float
    again: float
    current: float
    rows: int


@dataclass(frozen=True)
class Disk:
    """Bytes of the whole store and of its row history, and the rows of row_history."""

    store: int
    history: int
    rows: int


@dataclass
class Figures:
    versions: list[int]
    reads: dict[tuple[str, str, str], Reads]
    disk: dict[str, Disk]
    bronze_changed: int = 0
    gold_changed: int = 0
    one_record_ms: dict[str, float] = field(default_factory=dict)
    """Mean milliseconds of a one-record post, by the history held."""
    round_seconds: list[float] = field(default_factory=list)
    """Seconds of each round's post."""


def yearly_posts(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The rows in week order, a post for each WEEKS_A_POST weeks."""
    weeks = sorted({row["date"] for row in rows})
    posts: list[list[dict[str, Any]]] = [[] for _ in range(-(-len(weeks) // WEEKS_A_POST))]
    index = {week: number // WEEKS_A_POST for number, week in enumerate(weeks)}
    for row in sorted(rows, key=lambda row: (row["date"], row["vegetable"])):
        posts[index[row["date"]]].append(row)
    return posts


class Client:
    """One keep-alive connection to a server, with a training job's headers (gzip)."""

    def __init__(self, server: Server):
        self.connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)

    def send(self, method: str, path: str, body: object = None) -> tuple[Any, str, float]:
        """The answer's JSON, its X-Data-Version, and the milliseconds from sending to the whole answer."""
        started = time.perf_counter()
        self.connection.request(method, path, None if body is None else orjson.dumps(body), HEADERS)
        response = self.connection.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
        if response.getheader("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        return orjson.loads(data), response.getheader("X-Data-Version", ""), elapsed

    def post(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        report: dict[str, Any] = self.send("POST", "/post_sales", records)[0]
        return report

    def one_record_posts(self, rows: list[dict[str, Any]], rng: random.Random) -> float:
        """Mean milliseconds of ONE_RECORD_POSTS posts of one sample record, its kilos varied."""
        posts = [[varied(rng.choice(rows), rng)] for _ in range(ONE_RECORD_POSTS)]
        return statistics.mean(self.send("POST", "/post_sales", records)[2] for records in posts)


@contextmanager
def running(backend: str, home: Path, database: str) -> Iterator[Server]:
    """A server of the store in `home` (or of `database`), stopped cleanly on leaving."""
    if backend == "postgres":
        server = Server("app_sql.py", "--db", database, log_file=home / "stderr")
    else:
        server = backend_server(backend, home)
    try:
        yield server.wait_ready(START_SECONDS)
    finally:
        server.stop()


def as_of_reads(server: Server, path: str, version: int, expected: Any) -> Reads:
    """The first as_of read of `version` from `path` on a fresh server, again, and current reads, all on one
    connection after one current read of each table."""
    client = Client(server)
    client.send("GET", RAW), client.send("GET", MONTHLY)
    answer, named, first = client.send("GET", f"{path}?as_of={version}")
    again = [client.send("GET", f"{path}?as_of={version}") for _ in range(REPEAT)]
    if named != str(version) or any((reply, name) != (answer, named) for reply, name, _ in again) or answer != expected:
        raise RuntimeError(f"{path}?as_of={version}: not the answer current at {version} (X-Data-Version {named})")
    current = [client.send("GET", path)[2] for _ in range(REPEAT)]
    client.connection.close()
    return Reads(first, statistics.median(ms for _, _, ms in again), statistics.median(current), len(answer))


def disk(backend: str, home: Path, database: str) -> Disk:
    """The store's size and its history's, the server stopped."""
    if backend == "sqlite":
        path = home / "sales.db"
        with sqlite3.connect(path) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            indexes = "SELECT name FROM sqlite_master WHERE tbl_name = 'row_history'"
            (history,) = connection.execute(f"SELECT sum(pgsize) FROM dbstat WHERE name IN ({indexes})").fetchone()
            (rows,) = connection.execute("SELECT count(*) FROM row_history").fetchone()
        connection.close()
        return Disk(sum(file.stat().st_size for file in home.glob("sales.db*")), history, rows)
    if backend == "csv":
        folder = home / "csv"
        with open(folder / "history.csv", newline="", encoding="utf-8") as file:
            csv.field_size_limit(sys.maxsize)  # a history row may hold thousands of rows
            rows = sum(1 for _ in csv.DictReader(file))
        store = sum(file.stat().st_size for file in folder.rglob("*") if file.is_file())
        return Disk(store, (folder / "history.csv").stat().st_size, rows)
    with psycopg.connect(database) as postgres:
        sizes = "SELECT pg_database_size(current_database()), pg_total_relation_size('row_history')"
        store, history = postgres.execute(sizes).fetchone() or (0, 0)
        (rows,) = postgres.execute("SELECT count(*) FROM row_history").fetchone() or (0,)
    return Disk(store, history, rows)


def measure(backend: str, home: Path, database: str, rounds: int, figures: Figures) -> None:
    """Into `figures`, as they come: the sample posted a year at a time, the reads of V, the rounds of
    corrections, the reads again (and of the version before the last round: the whole history folded), and
    the disk before and after the rounds."""
    rows, rng, tables = valid_sample_rows(), random.Random(1), (MONTHLY, RAW)
    home.mkdir(parents=True, exist_ok=True)
    with running(backend, home, database) as server:
        client, posted, current = Client(server), figures.versions, dict[int, dict[str, Any]]()
        for records in yearly_posts(rows):
            posted.append(client.post(records)["data_version"])
            if len(posted) == 1:
                current[posted[0]] = {path: client.send("GET", path)[0] for path in tables}
    figures.disk["sample"] = disk(backend, home, database)
    for path in tables:
        figures.reads[("sample", "V", path)] = fresh_reads(backend, home, database, path, posted[0], current)
    corrected = f"sample + {rounds} rounds"
    with running(backend, home, database) as server:
        client = Client(server)
        figures.one_record_ms["sample"] = client.one_record_posts(rows, rng)
        for number in range(rounds):
            if number == rounds - 1:
                last = int(client.send("GET", MONTHLY)[1])
                current[last] = {path: client.send("GET", path)[0] for path in tables}
            figures.round_seconds.append(client.send("POST", "/post_sales", [varied(r, rng) for r in rows])[2] / 1000)
        figures.one_record_ms[corrected] = client.one_record_posts(rows, rng)
        for entry in client.send("GET", f"/get_history?limit={rounds + 2 * ONE_RECORD_POSTS}")[0]["versions"]:
            if entry["data_version"] > posted[-1]:  # the rounds' and the one-record posts'
                figures.bronze_changed += entry["bronze"]["inserted"] + entry["bronze"]["updated"]
                figures.gold_changed += entry["months_changed"]
    figures.disk[corrected] = disk(backend, home, database)
    for label, version in (("V", posted[0]), (f"{last} (before the last round)", last)):
        for path in tables:
            figures.reads[(corrected, label, path)] = fresh_reads(backend, home, database, path, version, current)
    print(f"{backend}: {figures}", flush=True)


def fresh_reads(backend: str, home: Path, database: str, path: str, version: int, current: Any) -> Reads:
    """as_of_reads() on a server started for them, nothing cached."""
    with running(backend, home, database) as server:
        return as_of_reads(server, path, version, current[version][path])


def instructions(trees: dict[str, Path], backends: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """This tree's bench/cost.py's counts of each tree's server (the same requests), by tree, backend and request."""
    counts: dict[str, dict[str, dict[str, float]]] = {}
    for name, tree in trees.items():
        with tempfile.NamedTemporaryFile(suffix=".md") as out:
            command = [
                sys.executable,
                "-m",
                "bench.cost",
                "--backends",
                *backends,
                "--tree",
                str(tree),
                "--out",
                out.name,
            ]
            subprocess.run(command, cwd=ROOT, check=True)
            table = Path(out.name).read_text(encoding="utf-8")
        counts[name] = {}
        for backend, request, count in re.findall(r"^\| (\w+) \| ([^|]+) \| ([\d,]+) \|", table, re.MULTILINE):
            counts[name].setdefault(backend, {})[request] = float(count.replace(",", ""))
    return counts


def cost_lines(counts: dict[str, dict[str, dict[str, float]]], before: str) -> list[str]:
    earlier, now = counts[f"@{before}"], counts["this one"]
    lines = [f"| backend | request | @{before} | this one | ratio | requirement |", "|---|---|---:|---:|---:|---|"]
    for backend, by_request in now.items():
        for request, count in by_request.items():
            ratio = count / earlier[backend][request]
            limit = POST_LIMIT if request.startswith("post") else 1.0
            verdict = f"≤ {limit:.2f}: {'met' if ratio <= limit else 'NOT met'}"
            lines.append(
                f"| {backend} | {request} | {earlier[backend][request]:,.0f} | {count:,.0f} | {ratio:.3f} | {verdict} |"
            )
    return lines


def report(figures: dict[str, Figures], rounds: int, costs: list[str], before: str | None) -> list[str]:
    load = ", ".join(f"{figure:.1f}" for figure in os.getloadavg())
    tree = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True)
    command = " ".join(["python -m bench.history", *sys.argv[1:]])
    measured = f"{heading('history')} `{command}` in {tree.stdout.strip()}; load average at the end: {load}."
    lines = ["# The row history's cost", "", measured, ""]
    if costs:
        lines += [
            f"## Instructions per request, @{before} beside this one",
            "",
            f"`python -m bench.cost --backends sqlite csv --tree T`, this tree's requests sent to a `git archive`"
            f" of {before} (its own src/) and to this tree, one after the other. Requirement: a read (no as_of)"
            f" costs no more than before, a post at most {POST_LIMIT - 1:.0%} more. A read's figure is a sequence"
            " of posts and reads less one of the same posts alone.",
            "",
            *costs,
            "",
        ]
    lines += [
        "## as_of reads of an old version",
        "",
        f"The sample ({len(valid_sample_rows()):,} records) posted in week order, {WEEKS_A_POST} weeks a post; V is"
        " the version after the first post (the first year). First: the first `as_of` read of a server just started"
        f" (one current read of each table before it); again: median of {REPEAT} more; current: median of {REPEAT}"
        " reads without as_of, after them. Milliseconds from sending to the whole answer (gzip), one keep-alive"
        " connection; every answer checked equal to the one current at that version. Requirement: V's first answer"
        f" within {FIRST_LIMIT_MS:.0f} ms, then from the cache.",
        "",
        *(f"- {backend}: the posts made versions {', '.join(map(str, f.versions))}" for backend, f in figures.items()),
        "",
        "| backend | history held | as_of | read | rows | first (ms) | again (ms) | current (ms) |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for backend, figure in figures.items():
        for (stage, label, path), reads in figure.reads.items():
            version = f"V = {figure.versions[0]}" if label == "V" else label
            lines.append(
                f"| {backend} | {stage} | {version} | `{path}` | {reads.rows:,} | {reads.first:.1f} |"
                f" {reads.again:.1f} | {reads.current:.1f} |"
            )
    lines += [
        "",
        "## Disk",
        "",
        f"{rounds} rounds of corrections after the sample: each re-posts every sample record, its kilos varied by up"
        f" to 20 % (bench/sample.py `varied`), and {2 * ONE_RECORD_POSTS} one-record posts (below). Store: SQLite's"
        " file and WAL after `PRAGMA wal_checkpoint(TRUNCATE)`, the CSV folder after a clean stop, PostgreSQL's"
        " database. History: SQLite's row_history pages (dbstat), history.csv, pg_total_relation_size('row_history').",
        "",
        "| backend | store: sample | store: after | history: sample | history: after | row_history rows: sample"
        " / after | changed (get_history): bronze rows / months | MB of history a million bronze rows changed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for backend, figure in figures.items():
        if len(figure.disk) < 2:  # see Failures
            continue
        start, end = figure.disk.values()
        grown = end.history - start.history
        lines.append(
            f"| {backend} | {mb(start.store)} | {mb(end.store)} | {mb(start.history)} | {mb(end.history)} |"
            f" {start.rows:,} / {end.rows:,} | {figure.bronze_changed:,} / {figure.gold_changed:,} |"
            f" {grown / max(figure.bronze_changed, 1):,.0f} |"
        )
    lines += [
        "",
        "MB: 10^6 bytes (so MB a million rows = bytes a row).",
        "",
        "## Posts as the history grows",
        "",
        f"The same servers: the mean of {ONE_RECORD_POSTS} one-record posts (a sample record, kilos varied) before"
        " and after the rounds, and the seconds of the rounds' posts (the whole sample each).",
        "",
        f"| backend | one-record post: sample (ms) | after {rounds} rounds (ms) | round 1 (s) |"
        f" round {rounds // 2} (s) | round {rounds} (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for backend, figure in figures.items():
        one, seconds = list(figure.one_record_ms.values()), figure.round_seconds
        if len(one) < 2:  # see Failures
            continue
        lines.append(
            f"| {backend} | {one[0]:.1f} | {one[-1]:.1f} | {seconds[0]:.2f} | {seconds[len(seconds) // 2 - 1]:.2f} |"
            f" {seconds[-1]:.2f} |"
        )
    return lines


def mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--before", help="also count instructions per request (callgrind) beside this commit")
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        costs: list[str] = []
        if args.before:
            trees = versions([args.before], Path(name))
            counted = [backend for backend in args.backends if backend != "postgres"]
            costs = cost_lines(instructions(trees, counted), args.before)
        figures, failures = {}, {}
        for backend in args.backends:
            figures[backend] = Figures([], {}, {})
            with fresh_database() if backend == "postgres" else nullcontext("") as database:
                try:
                    measure(backend, Path(name) / backend, database, args.rounds, figures[backend])
                except RuntimeError as error:  # a server that would not start (again), or a refused request
                    failures[backend] = str(error)
    lines = report(figures, args.rounds, costs, args.before)
    if failures:
        lines += ["", "## Failures", "", *(f"- {backend}: {error[:600]}" for backend, error in failures.items())]
    publish(lines, args.out)
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
