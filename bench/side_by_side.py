"""Side by side: the load benchmark's locust mix against the floor and against the service, in one run.

python bench/side_by_side.py [--backends sqlite csv] [--rates 500 1000 1500 2000 2500 3000] [--seconds 30]
                             [--others 0.1] [--retries 3] [--out bench/results/side-by-side.md]
                             [--rounds 1] [--operations] [--before COMMIT ...]

The floor (bench/floor.py) answers the three hot endpoints with fixed bytes captured from the
real service (sample data imported), served by the same uvicorn set-up: it is what the server
and the ASGI round trip cost with no work. One floor process and one server per backend (the
sample file imported) run for the whole benchmark; their answers to the hot GETs are compared
first (same status, same headers in the same order, values too but Date, ETag and
X-Request-ID, same bytes). Then, at each rate, locust (bench/locustfile.py, via bench/load.py)
runs `seconds` against each of them in turn, the order rotated at every rate so that the
machine's drift hits them all. For each: the highest
rate held (every step up to it with 0 failures and p99 <= 100 ms on every endpoint) and the
server's CPU time per request served (from /proc) at the rate nearest 1,000 req/s. On a shared
machine, each step waits for a quiet moment and is run again (up to `retries` times) when
processes other than the server and locust took more than `others` of the machine meanwhile.

--operations adds, per backend, the service with metrics and JSON access lines on (`<backend>
+ops`: what an operated deployment runs) and with both off (`<backend> -ops`); --before COMMIT...
adds the service as it was at each COMMIT (`<backend> @COMMIT`, from `git archive`), default flags.
With --rounds N every step is run N times (the order rotated each time) and the round of median
CPU per request is reported, with every round's figure.
"""

import argparse
import datetime as dt
import http.client
import os
import platform
import resource
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import CLOCK_TICKS, checkout  # noqa: E402
from bench.floor import GETS, LOCUST_ACCEPT_ENCODING  # noqa: E402
from bench.load import ENDPOINTS, describe, import_sample, measured, run_locust, servers  # noqa: E402
from tests.servers import Server  # noqa: E402

FLOOR = "floor"
SCRIPTS = {"sqlite": ("app_sql.py", "--db", "sales.db"), "csv": ("app_csv.py", "--data-dir", "csv")}
OPERATIONS = {
    "+ops": ["--metrics", "--access-log", "--log-format", "json"],
    "-ops": ["--no-metrics", "--no-access-log", "--log-format", "text"],
}


def variant(name: str, backend: str, folder: Path, args: list[str], root: Path = ROOT) -> Server:
    """One more server of `backend`, its store and stderr under `folder`/`name`."""
    script, flag, location = SCRIPTS[backend]
    home = folder / name.replace(" ", "_")
    home.mkdir()
    python_path = {"PYTHONPATH": str(root / "src")} if root != ROOT else {}
    return Server(script, flag, str(home / location), *args, root=root, env=python_path, log_file=home / "stderr")


UNCOMPARED = {b"date", b"etag", b"x-request-id"}  # the moment, a version stamp, a per-request id: names only


def answer(url: str, path: str, accept_encoding: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", path, headers={"Accept-Encoding": accept_encoding})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    headers = [(n.lower().encode(), v.encode()) for n, v in response.getheaders()]
    headers = [(n, b"" if n in UNCOMPARED else v) for n, v in headers]
    return response.status, headers, body


def differences(floor_url: str, service_url: str) -> list[str]:
    """Where the floor's answers to the hot GETs differ from the service's (nothing posted yet)."""
    found = []
    for path in GETS:
        for accept_encoding in (LOCUST_ACCEPT_ENCODING, "identity"):
            floor, service = answer(floor_url, path, accept_encoding), answer(service_url, path, accept_encoding)
            for part, a, b in zip(("status", "headers", "body"), floor, service, strict=True):
                if a != b:
                    found.append(f"{path} ({accept_encoding}): {part} differs")
    return found


def machine_seconds() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine since boot (/proc/stat): all cores, every process."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS, sum(ticks) / CLOCK_TICKS  # idle, iowait: not busy


def children_cpu() -> float:
    """CPU seconds of this process's finished children: the locust runs (servers still run)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_quiet(limit: float, patience: float = 900) -> None:
    """Until the machine is at most `limit` busy over 5 s (the servers idle), or `patience` seconds."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        busy, total = machine_seconds()
        time.sleep(5)
        busy_after, total_after = machine_seconds()
        if busy_after - busy <= limit * (total_after - total):
            return


def step(group: list[Server], rate: float, seconds: int, folder: Path, limit: float, retries: int) -> dict:
    """load.measured, with the share of the machine that other processes took meanwhile (neither the
    server nor locust: other jobs, the idle servers, the kernel's network work); the step is run
    again (up to `retries` times, after a quiet moment) when that share is over `limit`."""
    for attempt in range(retries + 1):
        wait_quiet(limit)
        (busy, total), locust = machine_seconds(), children_cpu()
        stats = measured(group, [server.url for server in group], rate, seconds, folder)
        busy_after, total_after = machine_seconds()
        locust_cpu = children_cpu() - locust
        stats["others"] = (busy_after - busy - stats["server_cpu_seconds"] - locust_cpu) / (total_after - total)
        stats["locust_cpu"] = locust_cpu / (total_after - total) * (os.cpu_count() or 1)  # share of one core
        stats["attempts"] = attempt + 1
        if stats["others"] <= limit:
            break
    return stats


def held(steps: dict[float, dict]) -> float | None:
    """The highest target rate up to which every step passed."""
    best = None
    for rate in sorted(steps):
        if not steps[rate]["passed"]:
            break
        best = rate
    return best


def median_round(runs: list[dict]) -> dict:
    """The round of median CPU per request, held only if every round was, with each round's cost."""
    ordered = sorted(runs, key=micros_per_request)
    median = dict(ordered[len(ordered) // 2])
    median["passed"] = all(run["passed"] for run in runs)
    median["rounds"] = [micros_per_request(run) for run in runs]
    return median


def micros_per_request(stats: dict) -> float:
    return stats["server_cpu_seconds"] / max(stats["Total"]["requests"], 1) * 1e6


def report(results: dict[str, dict[float, dict]], checks: dict[str, list[str]], seconds: int, limit: float) -> str:
    names = list(results)
    rates = sorted(results[FLOOR])
    reference = min(rates, key=lambda rate: abs(rate - 1000))
    lines = [
        "# Side by side: the floor and the service",
        "",
        f"{dt.datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, {os.cpu_count()} cores; locust on the same machine.",
        "The load benchmark's mix (bench/locustfile.py: post : get_raw_sales : get_monthly_sales = 2 : 1 : 1),"
        f" {seconds} s per step, against each server in turn at every rate (the order rotated at each step);"
        " a step run in several rounds reports the round of median CPU per request.",
        "The floor (bench/floor.py) answers with the service's bytes for the sample data and does no other work.",
        "Server and locust CPU: share of one core. Written: what the server wrote, to files and sockets (/proc wchar)."
        " Others: share of the machine (all cores) that neither took"
        " (other jobs, the idle servers, the kernel); a step is rerun, after a quiet moment, when it is over"
        f" {limit:.0%}.",
        "",
    ]
    for name, found in checks.items():
        verdict = "DIFFERENT: " + "; ".join(found) if found else "identical (but Date, ETag, X-Request-ID values)"
        lines.append(f"- floor vs {name}, hot GETs after the sample import: {verdict}")
    lines += [
        "",
        "| target req/s | server | req/s | failures | p50 post / raw / monthly (ms) | p99 post / raw / monthly (ms)"
        " | server CPU | CPU µs/request | rounds (µs/request) | written KB/request | locust CPU | others | held |",
        "|---:|---|---:|---:|---|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for rate in rates:
        for name in names:
            s = results[name][rate]
            rerun = f" ({s['attempts']} runs)" if s["attempts"] > 1 else ""
            p50 = " / ".join(f"{s[e]['p50']:.0f}" if e in s else "-" for e in ENDPOINTS)
            p99 = " / ".join(f"{s[e]['p99']:.0f}" if e in s else "-" for e in ENDPOINTS)
            lines.append(
                f"| {rate:,.0f} | {name} | {s['Total']['rps']:,.0f} | {s['Total']['failures']} | {p50} | {p99} | "
                f"{s['server_cpu']:.0%} | {micros_per_request(s):.0f} | {' '.join(f'{r:.0f}' for r in s['rounds'])} | "
                f"{s['server_written_bytes'] / max(s['Total']['requests'], 1) / 1000:.1f} | {s['locust_cpu']:.0%} | "
                f"{s['others']:.0%}{rerun} | {'yes' if s['passed'] else 'no'} |"
            )
    floor_cost = micros_per_request(results[FLOOR][reference])
    lines += [
        "",
        "## Summary",
        "",
        f"| server | highest rate held | CPU µs/request at {reference:,.0f} req/s | CPU ratio to the floor"
        " | CPU ratio to the service as served |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in names:
        rate = held(results[name])
        achieved = f"{rate:,.0f} ({results[name][rate]['Total']['rps']:,.0f} achieved)" if rate else "below the lowest"
        cost = micros_per_request(results[name][reference])
        served = results.get(name.split(" ")[0], {}).get(reference)
        versus = f"{cost / micros_per_request(served):.2f} x" if served and name != FLOOR else "-"
        lines.append(f"| {name} | {achieved} | {cost:.0f} | {cost / floor_cost:.1f} x | {versus} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "csv"], choices=["sqlite", "csv"])
    parser.add_argument("--rates", nargs="+", type=float, default=[500, 1000, 1500, 2000, 2500, 3000])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "side-by-side.md")
    parser.add_argument(
        "--others", type=float, default=0.1, help="a step is rerun if other processes took more of the machine"
    )
    parser.add_argument("--retries", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1, help="steps per rate and server; the median is reported")
    parser.add_argument("--operations", action="store_true", help="also with metrics and access logs on, and off")
    parser.add_argument("--before", nargs="*", default=[], metavar="COMMIT", help="also the service at COMMIT")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name, ExitStack() as stack:
        folder = Path(name)
        running = {FLOOR: [stack.enter_context(Server("bench/floor.py"))]}
        old_trees = {commit: checkout(commit, folder) for commit in args.before}
        for backend in args.backends:
            running[backend] = stack.enter_context(servers(backend, folder))
            import_sample(running[backend][0].url)
            extra = {f"{backend} {suffix}": flags for suffix, flags in OPERATIONS.items()} if args.operations else {}
            for name, flags in extra.items():
                running[name] = [stack.enter_context(variant(name, backend, folder, flags))]
            for commit, tree in old_trees.items():
                before = f"{backend} @{commit}"
                running[before] = [stack.enter_context(variant(before, backend, folder, [], tree))]
                extra[before] = []
            for name in extra:
                import_sample(running[name][0].url)
        checks = {backend: differences(running[FLOOR][0].url, running[backend][0].url) for backend in args.backends}
        for backend, found in checks.items():
            print(f"floor vs {backend}: {found or 'same answers'}", flush=True)
        for group in running.values():
            run_locust([server.url for server in group], 500, 10, folder)  # warm-up
        rounds: dict[str, dict[float, list[dict]]] = {name: {rate: [] for rate in args.rates} for name in running}
        names = list(running)
        steps = [(rate, number) for rate in sorted(args.rates) for number in range(args.rounds)]
        for index, (rate, _) in enumerate(steps):
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                stats = step(running[name], rate, args.seconds, folder, args.others, args.retries)
                rounds[name][rate].append(stats)
                print(
                    f"{rate:,.0f} req/s, {name}: {describe(stats)}, {micros_per_request(stats):.0f} µs/request,"
                    f" locust {stats['locust_cpu']:.0%}, others {stats['others']:.0%} (attempt {stats['attempts']})",
                    flush=True,
                )
    results = {name: {rate: median_round(runs) for rate, runs in by_rate.items()} for name, by_rate in rounds.items()}
    text = report(results, checks, args.seconds, args.others)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
