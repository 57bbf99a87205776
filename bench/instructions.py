"""Instructions per request: the locust mix, one request at a time, against servers run under callgrind.

python bench/instructions.py [--backends sqlite csv] [--requests 1000] [--warm-up 200] [--repeat 1]
                             [--before COMMIT ...] [--out bench/results/instructions.md]

On a shared machine, CPU time per request drifts by ±30 % between rounds of the same server,
more than the differences worth knowing (metrics and access lines on or off, one version
against another). Instructions do not drift: valgrind's callgrind counts those a process
executes, whatever else the machine is doing. Each server runs under callgrind (about 40 times
slower): the floor (bench/floor.py), and per backend the service with metrics and JSON access
lines on (`+ops`), with both off (`-ops`), as served by default (metrics on, no access lines),
and as it was at each COMMIT (default flags). The sample file is imported, then the same
sequence of requests is sent to each over one keep-alive connection, with locust's headers:
post : get_raw_sales : get_monthly_sales = 2 : 1 : 1 in turn, each post one sample record with
its kilos varied (a fixed seed), the monthly reads alternately with and without outliers.
After `warm-up` of them, the counters are zeroed (callgrind_control -z), and read after
`requests` more (callgrind_control -d): every thread of the server, the HTTP server included.

Instructions are not seconds (a cache miss or a system call costs more than it counts), so a
ratio of instructions is a ratio of the work done, which the CPU-time figures of
bench/side_by_side.py check under real load.
"""

import argparse
import concurrent.futures
import datetime as dt
import http.client
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.floor import LOCUST_ACCEPT_ENCODING  # noqa: E402
from bench.load import import_sample  # noqa: E402
from bench.sample import valid_sample_rows  # noqa: E402
from bench.side_by_side import FLOOR, OPERATIONS, SCRIPTS, checkout  # noqa: E402
from tests.servers import Server  # noqa: E402

VALGRIND = ("valgrind", "--tool=callgrind", "--quiet", "--separate-threads=yes")
START_SECONDS = 900  # the floor imports the sample file under valgrind before it answers


def request_sequence(count: int, seed: int = 1) -> list[tuple[str, str, bytes | None]]:
    """(method, path, body) of the mix, the same at every call."""
    rng, rows, without_outliers = random.Random(seed), valid_sample_rows(), False
    sequence: list[tuple[str, str, bytes | None]] = []
    for index in range(count):
        if index % 4 < 2:
            row = rng.choice(rows)
            kilos = round(float(row["kilo_sold"]) * rng.uniform(0.8, 1.2), 1)
            body = orjson.dumps([{"date": row["date"], "vegetable": row["vegetable"], "kilo_sold": kilos}])
            sequence.append(("POST", "/post_sales", body))
        elif index % 4 == 2:
            sequence.append(("GET", "/get_raw_sales", None))
        else:
            without_outliers = not without_outliers
            sequence.append(("GET", f"/get_monthly_sales?remove_outliers={str(without_outliers).lower()}", None))
    return sequence


def send_all(url: str, sequence: list[tuple[str, str, bytes | None]]) -> None:
    """Each request in turn over one keep-alive connection; every answer must be a 200."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=600)
    headers = {"Accept-Encoding": LOCUST_ACCEPT_ENCODING, "Content-Type": "application/json"}
    for method, path, body in sequence:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        assert response.status == 200, (method, path, response.status, answer[:200])
    connection.close()


def counted(server: Server, dumps: Path, sequence: list[tuple[str, str, bytes | None]]) -> int:
    """Instructions the server executed while answering `sequence`."""
    pid = str(server.process.pid)  # valgrind runs the server in its own process
    subprocess.run(["callgrind_control", "--zero", pid], check=True, capture_output=True)
    send_all(server.url, sequence)
    subprocess.run(["callgrind_control", "--dump", pid], check=True, capture_output=True)
    total = 0
    for thread in dumps.glob("callgrind.out.1-*"):  # the dump: one file per thread
        match = re.search(r"^summary: (\d+)$", thread.read_text(encoding="utf-8", errors="replace"), re.MULTILINE)
        assert match, f"no summary in {thread}"
        total += int(match.group(1))
    assert total, f"no dump in {dumps}"
    return total


Variant = tuple[str, list[str], Path]
"""A server to measure: its script, arguments (`{home}`: its own folder) and tree."""


def measure(name: str, run: int, server_of: Variant, folder: Path, warm_up: list, sequence: list) -> int:
    script, template, root = server_of
    home = folder / (re.sub(r"[^\w+-]+", "_", name) + f"-{run}")
    home.mkdir()
    args = [arg.format(home=home) for arg in template]
    env = {"PYTHONPATH": str(root / "src")} if root != ROOT else {}
    wrapper = (*VALGRIND, f"--callgrind-out-file={home / 'callgrind.out'}")
    server = Server(script, *args, root=root, env=env, log_file=home / "stderr", wrapper=wrapper)
    try:
        server.wait_ready(START_SECONDS)
        if name != FLOOR:
            import_sample(server.url)
        send_all(server.url, warm_up)
        count = counted(server, home, sequence)
    finally:
        server.stop()
    print(f"{name}: {count / len(sequence):,.0f} instructions/request", flush=True)
    return count


def variants(backends: list[str], before: list[str], folder: Path) -> dict[str, Variant]:
    """name -> (script, arguments, tree) of every server to measure."""
    found: dict[str, Variant] = {FLOOR: ("bench/floor.py", [], ROOT)}
    trees = {commit: checkout(commit, folder) for commit in before}
    for backend in backends:
        script, flag, location = SCRIPTS[backend]
        store = [flag, f"{{home}}/{location}"]
        found[backend] = (script, store, ROOT)
        for suffix, flags in OPERATIONS.items():
            found[f"{backend} {suffix}"] = (script, [*store, *flags], ROOT)
        for commit, tree in trees.items():
            found[f"{backend} @{commit}"] = (script, store, tree)
    return found


def report(results: dict[str, list[int]], requests: int, warm_up: int) -> str:
    def per_request(name: str) -> float:
        return min(results[name]) / requests

    lines = [
        "# Instructions per request (callgrind)",
        "",
        f"{dt.datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, {os.cpu_count()} cores; bench/instructions.py.",
        f"Each server under callgrind, the sample file imported, {warm_up} requests of the mix to warm up, then"
        f" {requests:,} counted (post : get_raw_sales : get_monthly_sales = 2 : 1 : 1 in turn, one keep-alive"
        " connection, locust's headers). Every thread of the server process, the HTTP server included.",
        "`+ops`: metrics and JSON access lines on; `-ops`: both off; no suffix: as served by default (metrics"
        " on, no access lines); `@COMMIT`: the service at that commit, default flags.",
        "",
        "| server | instructions/request | runs | ratio to the floor | ratio to -ops | ratio to the first @COMMIT |",
        "|---|---:|---|---:|---:|---:|",
    ]
    floor = per_request(FLOOR)
    for name in results:
        backend = name.split(" ")[0]
        off = f"{backend} -ops"
        first_before = next((other for other in results if other.startswith(f"{backend} @")), None)
        to_off = f"{per_request(name) / per_request(off):.3f}" if off in results and name != FLOOR else "-"
        to_before = f"{per_request(name) / per_request(first_before):.3f}" if first_before else "-"
        runs = " ".join(f"{count / requests:,.0f}" for count in results[name])
        lines.append(
            f"| {name} | {per_request(name):,.0f} | {runs} | {per_request(name) / floor:.2f} | {to_off} | {to_before} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "csv"], choices=list(SCRIPTS))
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warm-up", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1, help="runs per server (the lowest count is reported)")
    parser.add_argument("--before", nargs="*", default=[], metavar="COMMIT", help="also the service at COMMIT")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "instructions.md")
    args = parser.parse_args()
    warm_up, sequence = request_sequence(args.warm_up, seed=2), request_sequence(args.requests)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        servers = variants(args.backends, args.before, folder)
        runs = [(server, run) for run in range(args.repeat) for server in servers]
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # one core each
            counts = pool.map(lambda job: measure(job[0], job[1], servers[job[0]], folder, warm_up, sequence), runs)
            results: dict[str, list[int]] = {server: [] for server in servers}
            for (server, _), count in zip(runs, counts, strict=True):
                results[server].append(count)
    args.out.write_text(report(results, args.requests, args.warm_up), encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
