"""Side by side: the required load against the no-work floor and against the service, in one run.

python -m bench.side_by_side [--backends sqlite csv] [--rates 500 1000 1500 2000 2500 3000] [--seconds 30]
                             [--rounds 1] [--before COMMIT ...] [--out bench/results/side-by-side.md]

The floor (bench/floor.py), one server per backend and one per backend as it was at each COMMIT, the
sample imported, run for the whole benchmark; the floor's answers to the hot GETs are first checked
identical to the service's. Then locust runs `seconds` against each server in turn at every rate,
`rounds` times, the order rotated at every step; the round of median CPU per request is reported.
"""

import argparse
import http.client
import tempfile
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

from bench.common import heading, import_sample, publish, rotated_rounds, service, versions
from bench.floor import GETS, LOCUST_ACCEPT_ENCODING
from bench.load import ENDPOINTS, measured, micros_per_request, run_locust
from support.servers import ROOT, Server

FLOOR = "floor"
UNCOMPARED = {b"date", b"etag", b"x-request-id"}  # the moment, a version stamp, a per-request id: names only


def answer(url: str, path: str, accept_encoding: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", path, headers={"Accept-Encoding": accept_encoding})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    headers = [(n.lower().encode(), v.encode()) for n, v in response.getheaders()]
    return response.status, [(n, b"" if n in UNCOMPARED else v) for n, v in headers], body


def differences(floor_url: str, service_url: str) -> list[str]:
    """Where the floor's answers to the hot GETs differ from the service's (nothing posted yet)."""
    found = []
    for path in GETS:
        for accept_encoding in (LOCUST_ACCEPT_ENCODING, "identity"):
            floor, served = answer(floor_url, path, accept_encoding), answer(service_url, path, accept_encoding)
            for part, a, b in zip(("status", "headers", "body"), floor, served, strict=True):
                if a != b:
                    found.append(f"{path} ({accept_encoding}): {part} differs")
    return found


def median_round(runs: list[dict]) -> dict:
    """The round of median CPU per request, held only if every round was, with each round's cost."""
    median = dict(sorted(runs, key=micros_per_request)[len(runs) // 2])
    median["held"] = all(run["held"] for run in runs)
    median["rounds"] = [micros_per_request(run) for run in runs]
    return median


def highest_held(steps: dict[float, dict]) -> float | None:
    """The highest target rate up to which every step held."""
    best = None
    for rate in sorted(steps):
        if not steps[rate]["held"]:
            break
        best = rate
    return best


def report(results: dict[str, dict[float, dict]], checks: dict[str, list[str]], seconds: int) -> list[str]:
    rates = sorted(results[FLOOR])
    reference = min(rates, key=lambda rate: abs(rate - 1000))
    lines = [
        "# Side by side: the floor and the service",
        "",
        heading("side_by_side") + " Locust on the same machine.",
        "The required load (bench/locustfile.py: post : get_raw_sales : get_monthly_sales = 2 : 1 : 1),"
        f" {seconds} s per step, against each server in turn at every rate (the order rotated at each step);"
        " a step run in several rounds reports the round of median CPU per request.",
        "The floor (bench/floor.py) answers with the service's bytes for the sample data and does no other work.",
        "Server and locust CPU: share of one core. Written: what the server wrote, to files and sockets (/proc wchar)."
        " Others: share of the machine (all cores) that neither took (other jobs, the idle servers, the kernel).",
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
        for name, by_rate in results.items():
            s = by_rate[rate]
            p50, p99 = (" / ".join(f"{s[e][p]:.0f}" if e in s else "-" for e in ENDPOINTS) for p in ("p50", "p99"))
            lines.append(
                f"| {rate:,.0f} | {name} | {s['Total']['rps']:,.0f} | {s['Total']['failures']} | {p50} | {p99} | "
                f"{s['server_cpu']:.0%} | {micros_per_request(s):.0f} | {' '.join(f'{r:.0f}' for r in s['rounds'])} | "
                f"{s['server_written_bytes'] / max(s['Total']['requests'], 1) / 1000:.1f} | {s['locust_cpu']:.0%} | "
                f"{s['others']:.0%} | {'yes' if s['held'] else 'no'} |"
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
    for name, by_rate in results.items():
        rate = highest_held(by_rate)
        achieved = f"{rate:,.0f} ({by_rate[rate]['Total']['rps']:,.0f} achieved)" if rate else "below the lowest"
        cost = micros_per_request(by_rate[reference])
        served = results.get(name.split(" ")[0], {}).get(reference)
        versus = f"{cost / micros_per_request(served):.2f} x" if served and name != FLOOR else "-"
        lines.append(f"| {name} | {achieved} | {cost:.0f} | {cost / floor_cost:.1f} x | {versus} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "csv"], choices=["sqlite", "csv"])
    parser.add_argument("--rates", nargs="+", type=float, default=[500, 1000, 1500, 2000, 2500, 3000])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=1, help="steps per rate and server; the median is reported")
    parser.add_argument("--before", nargs="*", default=[], metavar="COMMIT", help="also the service at COMMIT")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "side-by-side.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name, ExitStack() as stack:
        folder = Path(name)
        running = {FLOOR: stack.enter_context(Server("bench/floor.py"))}
        trees = versions(args.before, folder)
        for backend in args.backends:
            for version, root in trees.items():
                label = backend if root == ROOT else f"{backend} {version}"
                running[label] = stack.enter_context(service(backend, folder / label.replace(" ", "_"), root))
                import_sample(running[label].url)
        checks = {backend: differences(running[FLOOR].url, running[backend].url) for backend in args.backends}
        for backend, found in checks.items():
            print(f"floor vs {backend}: {found or 'same answers'}", flush=True)
        for server in running.values():
            run_locust(server.url, 500, 10, folder)  # warm-up
        steps = [rate for rate in sorted(args.rates) for _ in range(args.rounds)]
        rounds: dict[str, dict[float, list[dict]]] = {name: {rate: [] for rate in args.rates} for name in running}
        for index, name in rotated_rounds(list(running), len(steps)):
            stats = measured(running[name], steps[index], args.seconds, folder)
            rounds[name][steps[index]].append(stats)
            print(
                f"{steps[index]:,.0f} req/s, {name}: {stats['Total']['rps']:,.0f} req/s, {stats['Total']['failures']}"
                f" failures, {micros_per_request(stats):.0f} µs/request, locust {stats['locust_cpu']:.0%}",
                flush=True,
            )
    results = {name: {rate: median_round(runs) for rate, runs in by_rate.items()} for name, by_rate in rounds.items()}
    publish(report(results, checks, args.seconds), args.out)


if __name__ == "__main__":
    main()
