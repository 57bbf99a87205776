"""Instructions per request of each hot request type, counted under callgrind, against bench/budget.toml.

Each server runs under callgrind (`PYTHONHASHSEED=0`), the sample imported and the mix run to warm up; then,
over one keep-alive connection with locust's headers, each sequence between zeroed and dumped counters (every
thread of the server): one-record posts of sample rows with their kilos varied (updates, as under load); each
such post followed by a read, which must bring its cached body up to date (the read: the difference); posts
of 1,000 rows. Every sequence of one-record posts posts the same rows, in the same order, their kilos varied
anew: a read's figure is not moved by which rows the posts beside it wrote (other spellings, months, file
rewrites). --tree: the server of another checkout (its own src/), sent the same requests, for a comparison
beside it. --check: exit status 1 when a figure exceeds its budget by more than `tolerance`."""

import argparse
import http.client
import random
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import orjson

from bench.common import import_sample, publish
from bench.sample import valid_sample_rows, varied
from support.servers import BACKENDS, ROOT, backend_server

BUDGET = ROOT / "bench" / "budget.toml"
HEADERS = {"Accept-Encoding": "gzip, deflate, br", "Content-Type": "application/json"}  # as locust sends
REPEAT, BULK_REPEAT, BULK_RECORDS = 300, 5, 1000  # requests a sequence; bulk posts, and the records of each
START_SECONDS = 600
Request = tuple[str, str, bytes | None]
RAW: Request = ("GET", "/get_raw_sales", None)


class Mix:
    """The benchmark's requests, the same at every run (fixed seeds): the rows posted drawn by one, their
    kilos by another."""

    def __init__(self, seed: int = 1, kilos_seed: int | None = None):
        self.rng, self.rows, self.without_outliers = random.Random(seed), valid_sample_rows(), False
        self.kilos = self.rng if kilos_seed is None else random.Random(kilos_seed)

    def post(self, count: int = 1) -> Request:
        records = [varied(row, self.kilos) for row in self.rng.sample(self.rows, count)]
        return ("POST", "/post_sales", orjson.dumps(records))

    def monthly(self) -> Request:
        self.without_outliers = not self.without_outliers
        return ("GET", f"/get_monthly_sales?remove_outliers={str(self.without_outliers).lower()}", None)


def sequences() -> dict[str, list[Request]]:
    posts, raw, monthly, bulk = (Mix(seed=1, kilos_seed=number) for number in range(4))  # the same rows posted
    return {
        "post": [posts.post() for _ in range(REPEAT)],
        "post + raw": [request for _ in range(REPEAT) for request in (raw.post(), RAW)],
        "post + monthly": [request for _ in range(REPEAT) for request in (monthly.post(), monthly.monthly())],
        "bulk post": [bulk.post(BULK_RECORDS) for _ in range(BULK_REPEAT)],
    }


def per_request(counts: dict[str, int]) -> dict[str, float]:
    """Instructions per request of each hot request type, from the counts of the sequences."""
    post = counts["post"] / REPEAT
    return {
        "post, 1 record": post,
        "raw read after a post": counts["post + raw"] / REPEAT - post,
        "monthly read after a post": counts["post + monthly"] / REPEAT - post,
        f"post, {BULK_RECORDS:,} records": counts["bulk post"] / BULK_REPEAT,
    }


def send_all(connection: http.client.HTTPConnection, requests: list[Request]) -> None:
    """Each request in turn over one keep-alive connection; every answer must be a 200."""
    for method, path, body in requests:
        connection.request(method, path, body=body, headers=HEADERS)
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status} {answer[:200]!r}")


def counted(backend: str, folder: Path, tree: Path = ROOT) -> dict[str, int]:
    """Instructions the server (of `tree`) executed for each sequence, under callgrind."""
    dumps = folder / "callgrind.out"
    valgrind = ("valgrind", "--tool=callgrind", "--quiet", f"--callgrind-out-file={dumps}")
    server = backend_server(backend, folder, root=tree, env={"PYTHONHASHSEED": "0"}, wrapper=valgrind)
    counts = {}
    try:
        server.wait_ready(START_SECONDS)
        import_sample(server.url)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=START_SECONDS)
        warm_up = Mix(seed=2)
        send_all(connection, [r for _ in range(100) for r in (warm_up.post(), RAW, warm_up.monthly())])
        send_all(connection, [warm_up.post(BULK_RECORDS)])
        pid = str(server.process.pid)
        for number, (name, requests) in enumerate(sequences().items(), 1):
            send_all(connection, [RAW, warm_up.monthly(), warm_up.monthly()])  # every cached body current
            subprocess.run(["callgrind_control", "--zero", pid], check=True, capture_output=True)
            send_all(connection, requests)
            subprocess.run(["callgrind_control", "--dump", pid], check=True, capture_output=True)
            text = Path(f"{dumps}.{number}").read_text(encoding="utf-8", errors="replace")
            (summary,) = re.findall(r"^summary: (\d+)$", text, re.MULTILINE)  # one, or the dump is broken
            counts[name] = int(summary)
        connection.close()
    finally:
        server.stop()
    return counts


def table(figures: dict[str, dict[str, float]], budget: dict, tolerance: float) -> tuple[list[str], list[str]]:
    """The report's rows, and the figures over budget."""
    lines, over = ["| backend | request | instructions | budget | ratio to budget |", "|---|---|---:|---:|---:|"], []
    for backend, by_request in figures.items():
        for request, count in by_request.items():
            allowed = budget.get(backend, {}).get(request)
            ratio = f"{count / allowed:.3f}" if allowed else "-"
            if allowed and count > allowed * (1 + tolerance):
                over.append(f"{backend}, {request}: {count:,.0f} > {allowed:,} + {tolerance:.0%}")
                ratio += " OVER"
            lines.append(f"| {backend} | {request} | {count:,.0f} | {f'{allowed:,}' if allowed else '-'} | {ratio} |")
    return lines, over


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=list(BACKENDS))
    parser.add_argument("--check", action="store_true", help="exit 1 when a figure exceeds its budget")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose server is measured")
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("bench/cost.py needs valgrind: apt-get install valgrind")
    budget = tomllib.loads(BUDGET.read_text(encoding="utf-8"))
    figures = {}
    for backend in args.backends:
        with tempfile.TemporaryDirectory() as folder:
            figures[backend] = per_request(counted(backend, Path(folder), args.tree.resolve()))
        print(
            f"{backend}: " + ", ".join(f"{name} {count:,.0f}" for name, count in figures[backend].items()), flush=True
        )
    lines, over = table(figures, budget, budget["tolerance"])
    publish(["# Instructions per request (callgrind)", "", *lines], args.out)
    if args.check and over:
        print("over budget:\n" + "\n".join(f"- {line}" for line in over), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
