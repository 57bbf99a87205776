"""Instructions per request: the locust mix, one request at a time, against servers run under callgrind.

python bench/instructions.py [--backends sqlite csv] [--requests 1000] [--warm-up 200] [--repeat 1]
                             [--cpu-rounds 0] [--cpu-requests 2000]
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
ratio of instructions is a ratio of the work done. With --cpu-rounds N, the same servers also run
natively, all at once, and each round sends every one of them (in an order rotated each round)
`cpu-requests` requests of a new sequence (the same for all in that round): the server's CPU
time per request, from /proc, median of the rounds. bench/side_by_side.py measures CPU time
under concurrent load.
"""

import argparse
import concurrent.futures
import datetime as dt
import http.client
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import cpu_seconds  # noqa: E402
from bench.floor import LOCUST_ACCEPT_ENCODING  # noqa: E402
from bench.load import import_sample  # noqa: E402
from bench.sample import valid_sample_rows  # noqa: E402
from bench.side_by_side import FLOOR, OPERATIONS, SCRIPTS, checkout  # noqa: E402
from tests.servers import Server  # noqa: E402

VALGRIND = ("valgrind", "--tool=callgrind", "--quiet")
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
    dump = dumps / "callgrind.out.1"  # the first dump, every thread's counts summed
    match = re.search(r"^summary: (\d+)$", dump.read_text(encoding="utf-8", errors="replace"), re.MULTILINE)
    assert match, f"no summary in {dump}"
    return int(match.group(1))


Variant = tuple[str, list[str], Path]
"""A server to measure: its script, arguments (`{home}`: its own folder) and tree."""


def started(name: str, server_of: Variant, home: Path, warm_up: list, wrapper: tuple[str, ...] = ()) -> Server:
    """The server, ready, the sample imported (but in the floor, which holds its answers) and warmed up."""
    script, template, root = server_of
    home.mkdir()
    args = [arg.format(home=home) for arg in template]
    env = {"PYTHONPATH": str(root / "src")} if root != ROOT else {}
    server = Server(script, *args, root=root, env=env, log_file=home / "stderr", wrapper=wrapper)
    try:
        server.wait_ready(START_SECONDS)
        if name != FLOOR:
            import_sample(server.url)
        send_all(server.url, warm_up)
    except BaseException:
        server.stop()
        raise
    return server


def folder_name(name: str) -> str:
    return re.sub(r"[^\w+-]+", "_", name)


def measure(name: str, run: int, server_of: Variant, folder: Path, warm_up: list, sequence: list) -> int:
    home = folder / f"{folder_name(name)}-{run}"
    server = started(name, server_of, home, warm_up, (*VALGRIND, f"--callgrind-out-file={home / 'callgrind.out'}"))
    try:
        count = counted(server, home, sequence)
    finally:
        server.stop()
    print(f"{name}: {count / len(sequence):,.0f} instructions/request", flush=True)
    return count


def cpu_rounds(servers: dict[str, Variant], folder: Path, warm_up: list, rounds: int, requests: int) -> dict:
    """name -> CPU µs per request of each round, every server run natively, side by side."""
    results: dict[str, list[float]] = {name: [] for name in servers}
    with ExitStack() as stack:
        running = {
            name: stack.enter_context(started(name, server_of, folder / f"cpu-{folder_name(name)}", warm_up))
            for name, server_of in servers.items()
        }
        names = list(running)
        for number in range(rounds):
            sequence = request_sequence(requests, seed=3 + number)  # new kilos: posts keep updating rows
            shift = number % len(names)
            for name in names[shift:] + names[:shift]:
                pid = running[name].process.pid
                before = cpu_seconds(pid)
                send_all(running[name].url, sequence)
                results[name].append((cpu_seconds(pid) - before) / requests * 1e6)
            print(f"CPU round {number + 1}: " + ", ".join(f"{n} {results[n][-1]:.0f} µs" for n in names), flush=True)
    return results


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


def report(results: dict[str, list[int]], cpu: dict[str, list[float]], requests: int, warm_up: int) -> str:
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
        *table(results, lambda name: per_request(name), lambda name: [c / requests for c in results[name]], ",.0f"),
    ]
    if cpu:
        rounds = len(next(iter(cpu.values())))
        lines += [
            "",
            f"## CPU time per request (µs), natively: median of {rounds} rotated rounds",
            "",
            *table(cpu, lambda name: statistics.median(cpu[name]), lambda name: cpu[name], ".0f"),
        ]
    return "\n".join(lines) + "\n"


def table(names: dict, figure, runs, style: str) -> list[str]:
    """One row per server: its figure, each run's, and its ratios to the floor, to -ops and to the first @COMMIT."""
    rows = [
        "| server | per request | runs | ratio to the floor | ratio to -ops | ratio to the first @COMMIT |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for name in names:
        backend = name.split(" ")[0]
        off = f"{backend} -ops"
        first_before = next((other for other in names if other.startswith(f"{backend} @")), None)
        to_off = f"{figure(name) / figure(off):.3f}" if off in names and name != FLOOR else "-"
        to_before = f"{figure(name) / figure(first_before):.3f}" if first_before else "-"
        each = " ".join(format(value, style) for value in runs(name))
        ratio = figure(name) / figure(FLOOR)
        rows.append(f"| {name} | {format(figure(name), style)} | {each} | {ratio:.2f} | {to_off} | {to_before} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "csv"], choices=list(SCRIPTS))
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warm-up", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1, help="runs per server (the lowest count is reported)")
    parser.add_argument("--cpu-rounds", type=int, default=0, help="also CPU time per request, natively")
    parser.add_argument("--cpu-requests", type=int, default=2000, help="requests per server and CPU round")
    parser.add_argument("--before", nargs="*", default=[], metavar="COMMIT", help="also the service at COMMIT")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "instructions.md")
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("bench/instructions.py needs valgrind: apt-get install valgrind")
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
        cpu = cpu_rounds(servers, folder, warm_up, args.cpu_rounds, args.cpu_requests) if args.cpu_rounds else {}
    args.out.write_text(report(results, cpu, args.requests, args.warm_up), encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
