"""Filtered reads beside whole-table reads, at 1,000,000 bronze rows, in one run.

The store: 2,500 ISO weeks from 1990-W01 x 400 raw spellings (names the vocabulary reads, in several casings)
of 7 vegetables, written by the pipeline in posts of 100,000 records (`--generate FILE` does only that). One
server process on it (and, for each --before COMMIT, that version on a store it wrote itself); over one
keep-alive connection, each URL asked once (the first request), then `rounds` rounds of one request of each,
the order rotated every round: first the whole-table reads of the load (with locust's Accept-Encoding and
without) on every server, then the filtered and paged reads. The server's RSS (VmRSS) after start and after
each phase; then its RSS, polled every 2 ms, while it answers the whole raw table as CSV once."""

import argparse
import datetime as dt
import http.client
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import heading, publish, rotated_rounds, versions
from bench.floor import LOCUST_ACCEPT_ENCODING
from support.servers import ROOT, Server, backend_server

ROWS, POST_RECORDS, WEEKS = 1_000_000, 100_000, 2_500
FIRST_WEEK = dt.date(1990, 1, 1)  # Monday of 1990-W01
NAMES = [
    "carotte", "zanahoria", "carrot", "Tomate", "jitomate", "tomato", "poire", "pera", "pear", "ail", "ajo",
    "garlic", "puerro", "poireau", "leek", "oignon", "cebolla", "onion", "pepino", "concombre", "cucumber",
]  # fmt: skip
WHOLE = [
    "/get_monthly_sales",
    "/get_monthly_sales?remove_outliers=true",
    "/get_raw_sales",
]  # the load's reads
FILTERED = [
    "/get_monthly_sales?vegetable=carrot&from=2023-01&to=2023-12",
    "/get_raw_sales?vegetable=carrot&limit=1000",
    "/get_raw_sales?vegetable=carrot&from=2023-W01&to=2023-W10",
    "/get_weekly_sales?vegetable=carrot&limit=1000",
    "/get_raw_sales?limit=1000",  # a paged read's first page; its middle page is found by following the Links
]
MIDDLE_PAGE = "middle page (500th of /get_raw_sales?limit=1000)"
TARGET_MS = 50
START_SECONDS = 600
ENCODINGS = {"identity": "identity", "gzip": LOCUST_ACCEPT_ENCODING}


def casings(name: str) -> list[str]:
    """The name as written, then its other casings (of its first 6 letters)."""
    variants = {"".join(c.upper() if bits >> i & 1 else c.lower() for i, c in enumerate(name)) for bits in range(64)}
    return [name, *sorted(variants - {name})]


def spellings(count: int) -> list[str]:
    """`count` distinct raw names: each name of NAMES in turn, in its next casing."""
    columns = [casings(name) for name in NAMES]
    names = [column[depth] for depth in range(max(map(len, columns))) for column in columns if depth < len(column)]
    return names[:count]


def records(rows: int = ROWS) -> list[dict[str, object]]:
    """Week after week from 1990-W01, every spelling sold each week, the kilos drawn with a fixed seed."""
    rng, names = random.Random(1), spellings(rows // WEEKS)
    weeks = [(FIRST_WEEK + dt.timedelta(weeks=n)).isocalendar() for n in range(WEEKS)]
    dates = [f"{year}-W{week:02d}" for year, week, _ in weeks]
    return [{"date": d, "vegetable": n, "kilo_sold": round(rng.uniform(10, 2000), 1)} for d in dates for n in names]


def generate(path: Path) -> None:
    """Writes the store through the pipeline, a post of POST_RECORDS records at a time; prints each post's
    seconds as JSON. Imports the service of PYTHONPATH: a --before version writes its own store."""
    from vegsales.pipeline import ingest_posts, sync_with_rules
    from vegsales.silver import FeedRules
    from vegsales.storage.sqlite import SqliteStore

    store, rules, rows, seconds = SqliteStore(path), FeedRules(), records(), []
    sync_with_rules(store, rules)
    for start in range(0, len(rows), POST_RECORDS):
        began = time.perf_counter()
        (report,) = ingest_posts(store, rules, [rows[start : start + POST_RECORDS]])
        seconds.append(time.perf_counter() - began)
        assert report.inserted == POST_RECORDS, report  # type: ignore[union-attr]
    store.close()
    print(json.dumps(seconds))


def generated(path: Path, root: Path) -> tuple[float, list[float]]:
    """`--generate path` in a process of its own with the service at `root`: wall seconds, and each post's."""
    env = {**os.environ} | ({"PYTHONPATH": str(root / "src")} if root != ROOT else {})
    began = time.perf_counter()
    command = [sys.executable, "-m", "bench.filtered_reads", "--generate", str(path)]
    out = subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - began, json.loads(out.splitlines()[-1])


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:", 1)[1].split()[0]) / 1024


def run_seconds(pid: int) -> float:
    """CPU seconds the process's living threads have run (schedstat, in ns): a filtered read costs a few
    milliseconds, below /proc/<pid>/stat's 10 ms ticks."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError):
            continue  # a thread that ended meanwhile
    return total / 1e9


@dataclass
class Figures:
    """One URL's answers from one server, in one encoding: the first request, then the timed ones."""

    size: int
    first_ms: float
    ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    def cells(self) -> list[str]:
        median, p95 = statistics.median(self.ms), statistics.quantiles(self.ms, n=20, method="inclusive")[-1]
        return [f"{median:,.1f}", f"{p95:,.1f}", f"{statistics.median(self.cpu_ms):,.1f}"]


@dataclass
class Served:
    """A server on its own store, one keep-alive connection to it, and what its making took."""

    server: Server
    written_s: float
    posts_s: list[float]
    start_s: float
    rss: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=START_SECONDS)
        self.note_rss("after start")

    def note_rss(self, moment: str) -> None:
        self.rss[moment] = rss_mib(self.server.process.pid)

    def get(self, path: str, encoding: str) -> tuple[float, float, int, bytes, str | None]:
        """(seconds from sending to the last byte, server CPU seconds, status, body, Link) of one GET."""
        pid = self.server.process.pid
        cpu, began = run_seconds(pid), time.perf_counter()
        self.connection.request("GET", path, headers={"Accept-Encoding": ENCODINGS[encoding]})
        response = self.connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - began
        return elapsed, run_seconds(pid) - cpu, response.status, body, response.getheader("Link")


def started(version: str, root: Path, folder: Path, stack: ExitStack) -> Served:
    """The store written with the service at `root`, then a server of that version on it."""
    (folder / version).mkdir()
    written_s, posts_s = generated(folder / version / "sales.db", root)
    print(f"{version}: {ROWS:,} rows written in {written_s:.1f} s", flush=True)
    server, began = backend_server("sqlite", folder / version, root), time.perf_counter()
    stack.callback(server.stop)
    server.wait_ready(START_SECONDS)  # it reads the whole store first
    return Served(server, written_s, posts_s, time.perf_counter() - began)


def middle_page(served: Served, first: str, pages: int) -> str:
    """The URL of page `pages` of a paged read, reached by following its Link from `first`."""
    url = first
    for _ in range(pages - 1):
        link = served.get(url, "identity")[4]
        assert link, f"no next link after {url}"
        url = link.split(">", 1)[0].removeprefix("<")
    return url


Case = tuple[str, str, str]  # server, read, encoding


def measure(servers: dict[str, Served], urls: dict[str, str], rounds: int) -> dict[Case, Figures]:
    """Every (server, read, encoding) asked once, then `rounds` times in rotated order; urls: read -> path."""
    figures: dict[Case, Figures] = {}
    cases = list(itertools.product(servers, urls, ENCODINGS))
    for name, read, encoding in cases:
        seconds, _, status, body, _ = servers[name].get(urls[read], encoding)
        assert status == 200, f"{name} {urls[read]}: {status} {body[:200]!r}"
        figures[name, read, encoding] = Figures(len(body), seconds * 1e3)
    for _, (name, read, encoding) in rotated_rounds(cases, rounds):  # type: ignore[arg-type]
        seconds, cpu, status, _, _ = servers[name].get(urls[read], encoding)
        assert status == 200, f"{name} {urls[read]}: {status}"
        figures[name, read, encoding].ms.append(seconds * 1e3)
        figures[name, read, encoding].cpu_ms.append(cpu * 1e3)
    return figures


def csv_growth(served: Served) -> dict[str, float]:
    """The server's RSS before, at its peak (polled every 2 ms) and after one whole raw table as CSV."""
    pid, peak, done = served.server.process.pid, [0.0], threading.Event()

    def poll() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mib(pid))
            time.sleep(0.002)

    before, poller = rss_mib(pid), threading.Thread(target=poll)
    poller.start()
    seconds, _, status, body, _ = served.get("/get_raw_sales?format=csv", "identity")
    done.set()
    poller.join()
    assert status == 200, status
    return {"before": before, "peak": peak[0], "after": rss_mib(pid), "seconds": seconds, "bytes": len(body)}


def table(figures: dict[Case, Figures]) -> list[str]:
    lines = [
        "| server | read | body identity / gzip | first request ms identity | median ms identity | p95 ms identity"
        " | server CPU ms identity | median ms gzip | p95 ms gzip | server CPU ms gzip |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, read in dict.fromkeys((name, read) for name, read, _ in figures):
        plain, packed = figures[name, read, "identity"], figures[name, read, "gzip"]
        cells = [f"{size(plain.size)} / {size(packed.size)}", f"{plain.first_ms:,.1f}", *plain.cells(), *packed.cells()]
        lines.append(f"| {name} | `{read}` | {' | '.join(cells)} |")
    return lines


def targets(whole: dict[Case, Figures], filtered: dict[Case, Figures]) -> list[str]:
    """Whether each filtered read answers within TARGET_MS (p95, both encodings); each whole-table read
    against every earlier version (medians of time and of CPU, this one / the earlier one)."""
    lines = []
    for read in dict.fromkeys(read for _, read, _ in filtered):
        p95s = [statistics.quantiles(filtered["this one", read, e].ms, n=20, method="inclusive")[-1] for e in ENCODINGS]
        verdict = "holds" if max(p95s) <= TARGET_MS else "MISSED"
        lines.append(f"- `{read}`: p95 {' / '.join(f'{p:.1f}' for p in p95s)} ms (identity / gzip), {verdict}")
    for (name, read, encoding), earlier in whole.items():
        if name != "this one":
            now = whole["this one", read, encoding]
            times = statistics.median(now.ms) / statistics.median(earlier.ms)
            cpu = statistics.median(now.cpu_ms) / statistics.median(earlier.cpu_ms)
            lines.append(f"- `{read}` ({encoding}), this one / {name}: time {times:.2f} x, server CPU {cpu:.2f} x")
    return lines


def size(count: float) -> str:
    return f"{count / 1e6:,.1f} MB" if count >= 1e6 else f"{count / 1e3:,.1f} kB"


def machine() -> str:
    """The machine and the commit measured, with the load average before anything starts."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    changed = subprocess.run(["git", "status", "--porcelain", "src"], cwd=ROOT, capture_output=True, text=True)
    local = f" (src/ with {len(changed.stdout.splitlines())} uncommitted changes)" if changed.stdout.strip() else ""
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return f"nproc {os.cpu_count()}, load average at start {load}; commit {commit.stdout.strip()}{local}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30, help="timed requests of each read and encoding")
    parser.add_argument("--before", nargs="*", default=[], metavar="COMMIT", help="whole-table reads at COMMIT too")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "filtered-reads.md")
    parser.add_argument("--generate", type=Path, metavar="FILE", help="only write the store to FILE")
    args = parser.parse_args()
    if args.generate:
        return generate(args.generate)
    command = " ".join(["python -m bench.filtered_reads", *sys.argv[1:]])
    at_start = machine()
    with tempfile.TemporaryDirectory() as name, ExitStack() as stack:
        folder = Path(name)
        servers = {
            version: started(version, root, folder, stack) for version, root in versions(args.before, folder).items()
        }
        here = servers["this one"]
        whole = measure(servers, {path: path for path in WHOLE}, args.rounds)
        for served in servers.values():
            served.note_rss("after the whole-table reads")
        urls = {path: path for path in FILTERED} | {MIDDLE_PAGE: middle_page(here, "/get_raw_sales?limit=1000", 500)}
        filtered = measure({"this one": here}, urls, args.rounds)
        here.note_rss("after the filtered reads")
        growth = csv_growth(here)
    publish(report(command, at_start, servers, whole, filtered, urls[MIDDLE_PAGE], growth, args.rounds), args.out)


def report(
    command: str,
    at_start: str,
    servers: dict[str, Served],
    whole: dict[Case, Figures],
    filtered: dict[Case, Figures],
    middle: str,
    growth: dict[str, float],
    rounds: int,
) -> list[str]:
    carrots = sum(name.lower() in NAMES[:3] for name in spellings(ROWS // WEEKS))
    lines = [
        "# Filtered reads at 1,000,000 bronze rows",
        "",
        heading("filtered_reads") + f" {at_start}. `{command}` (in `make bench`).",
        "",
        f"The store: {ROWS:,} bronze rows, {WEEKS:,} ISO weeks from 1990-W01 x {ROWS // WEEKS} raw spellings"
        f" ({len(NAMES)} names of 7 vegetables in several casings, {carrots} of them carrot's), SQLite, written by"
        f" the pipeline (`ingest_posts`) in posts of {POST_RECORDS:,} records, a process of its own per version:",
        "",
    ]
    for version, served in servers.items():
        posts = served.posts_s
        lines.append(
            f"- {version}: written in {served.written_s:.1f} s ({sum(posts):.1f} s in the {len(posts)} posts, each"
            f" {min(posts):.1f} to {max(posts):.1f} s); its server answered /health {served.start_s:.1f} s after it"
            " was started (it reads the whole store first)"
        )
    lines += [
        "",
        "One server process a version. Over one keep-alive connection, every read and encoding asked once (first"
        f" request), then {rounds} rounds of one request of each, the order rotated every round; each request timed"
        " from sending it to the last byte of the answer, not decompressed. gzip: locust's"
        f" `Accept-Encoding: {LOCUST_ACCEPT_ENCODING}`; identity: `Accept-Encoding: identity`. Server CPU: the"
        " median request's, the run time of the server's threads (/proc/<pid>/task/*/schedstat).",
        "",
        "## Whole-table reads (the load's)",
        "",
        *table(whole),
        "",
        "## Filtered and paged reads (after the whole-table reads)",
        "",
        f"The middle page: `{middle}`. The first request of `/get_weekly_sales` builds the server's silver table.",
        "",
        *table(filtered),
        "",
        "## Targets",
        "",
        f"Each filtered or paged read within {TARGET_MS} ms warm; the whole-table reads no dearer than before.",
        "",
        *targets(whole, filtered),
        "",
        "## Memory (server RSS, MiB)",
        "",
        "| server | after start | after the whole-table reads | after the filtered reads |",
        "|---|---:|---:|---:|",
    ]
    for version, served in servers.items():
        moments = ("after start", "after the whole-table reads", "after the filtered reads")
        cells = [f"{served.rss[moment]:,.0f}" if moment in served.rss else "-" for moment in moments]
        lines.append(f"| {version} | {' | '.join(cells)} |")
    lines += [
        "",
        f"`GET /get_raw_sales?format=csv`, the whole table ({size(growth['bytes'])}, identity), once, after the"
        f" filtered reads: {growth['seconds']:.2f} s; RSS {growth['before']:,.0f} MiB before, {growth['peak']:,.0f}"
        f" MiB at its peak (+{growth['peak'] - growth['before']:,.0f} MiB while answering it), {growth['after']:,.0f}"
        " MiB after.",
    ]
    return lines


if __name__ == "__main__":
    main()
