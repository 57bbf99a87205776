"""Side by side: the required load against the no-work floor (bench/floor.py) and against the service, in one run.

A server per backend, and per backend as it was at each --before COMMIT, the sample imported; the floor's answers
checked identical to the service's. Then locust runs against each server in turn at every rate, `rounds` times,
the order rotated at every step; the round of median CPU per request is reported."""

import argparse
import http.client
import itertools
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench import common
from bench.floor import GETS, LOCUST_ACCEPT_ENCODING
from support.servers import ROOT, Server, backend_server

FLOOR = "floor"
PARTS = ("status", "headers", "body")
UNCOMPARED = {b"date", b"etag", b"x-data-version", b"x-request-id"}  # moment, versions, request id: names only


def answer(server: Server, path: str, accept_encoding: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request("GET", path, headers={"Accept-Encoding": accept_encoding})
    response = connection.getresponse()
    body, headers = response.read(), [(n.lower().encode(), v.encode()) for n, v in response.getheaders()]
    connection.close()
    return response.status, [(n, b"" if n in UNCOMPARED else v) for n, v in headers], body


def differences(floor: Server, service: Server) -> list[str]:
    """Where the floor's answers to the hot GETs differ from the service's (nothing posted yet)."""
    found = []
    for path, encoding in itertools.product(GETS, (LOCUST_ACCEPT_ENCODING, "identity")):
        pairs = zip(answer(floor, path, encoding), answer(service, path, encoding), strict=True)
        found += [f"{path} ({encoding}): {part} differs" for part, (a, b) in zip(PARTS, pairs, strict=True) if a != b]
    return found


def median_round(runs: list[dict]) -> dict:
    """The round of median CPU per request, held only if every round was, with each round's cost."""
    median = dict(sorted(runs, key=lambda run: run["cpu_us"])[len(runs) // 2])
    median["held"], median["rounds"] = all(run["held"] for run in runs), [run["cpu_us"] for run in runs]
    return median


def report(results: dict[str, dict[float, dict]], checks: dict[str, list[str]], seconds: int) -> list[str]:
    rates = sorted(results[FLOOR])
    reference = min(rates, key=lambda rate: abs(rate - 1000))
    lines = [
        "# Side by side: the floor and the service",
        "",
        common.heading("side_by_side") + " Locust on the same machine.",
        f"The required load (bench/locustfile.py), {seconds} s a step, against each server in turn at every rate"
        " (rotated); with several rounds, the round of median CPU per request. The floor (bench/floor.py) answers"
        " the service's bytes and does no other work. Server and locust CPU: share of one core. Written: what the"
        " server wrote (/proc wchar). Others: share of the machine (all cores) that neither took.",
        "",
    ]
    for name, found in checks.items():
        same = "identical (but Date, ETag, X-Data-Version, X-Request-ID values)"
        verdict = "DIFFERENT: " + "; ".join(found) if found else same
        lines.append(f"- floor vs {name}, hot GETs after the sample import: {verdict}")
    lines += [
        "",
        "| target req/s | server | req/s | failures | p50 post / raw / monthly (ms) | p99 post / raw / monthly (ms)"
        " | server CPU | CPU µs/request | rounds (µs/request) | written KB/request | locust CPU | others | held |",
        "|---:|---|---:|---:|---|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for rate, (name, by_rate) in itertools.product(rates, results.items()):
        s, total = by_rate[rate], by_rate[rate]["Total"]
        p50, p99 = (" / ".join(f"{s[e][p]:.0f}" if e in s else "-" for e in common.ENDPOINTS) for p in ("p50", "p99"))
        lines.append(
            f"| {rate:,.0f} | {name} | {total['rps']:,.0f} | {total['failures']} | {p50} | {p99} | "
            f"{s['server_cpu']:.0%} | {s['cpu_us']:.0f} | {' '.join(f'{r:.0f}' for r in s['rounds'])} | "
            f"{s['server_written_bytes'] / max(total['requests'], 1) / 1000:.1f} | {s['locust_cpu']:.0%} | "
            f"{s['others']:.0%} | {'yes' if s['held'] else 'no'} |"
        )
    lines += [
        "",
        "## Summary",
        "",
        f"| server | highest rate held | CPU µs/request at {reference:,.0f} req/s | CPU ratio to the floor"
        " | CPU ratio to the service as served |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, by_rate in results.items():
        held = list(itertools.takewhile(lambda rate: by_rate[rate]["held"], rates))  # noqa: B023
        achieved = (
            f"{held[-1]:,.0f} ({by_rate[held[-1]]['Total']['rps']:,.0f} achieved)" if held else "below the lowest"
        )
        cost, served = by_rate[reference]["cpu_us"], results.get(name.split(" ")[0], {}).get(reference)
        versus = f"{cost / served['cpu_us']:.2f} x" if served and name != FLOOR else "-"
        lines.append(
            f"| {name} | {achieved} | {cost:.0f} | {cost / results[FLOOR][reference]['cpu_us']:.1f} x | {versus} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "csv"], choices=["sqlite", "csv"])
    parser.add_argument("--rates", nargs="+", type=float, default=[1000, 1500, 2000])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="steps per rate and server; the median is reported")
    parser.add_argument("--before", nargs="*", default=[], metavar="COMMIT", help="also the service at COMMIT")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "side-by-side.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name, ExitStack() as stack:
        folder = Path(name)
        running = {FLOOR: stack.enter_context(Server("bench/floor.py"))}
        for backend, (version, root) in itertools.product(args.backends, common.versions(args.before, folder).items()):
            label = backend if root == ROOT else f"{backend} {version}"
            running[label] = stack.enter_context(backend_server(backend, folder / label.replace(" ", "_"), root))
            common.import_sample(running[label].url)
        checks = {backend: differences(running[FLOOR], running[backend]) for backend in args.backends}
        print(checks, flush=True)
        for server in running.values():
            common.run_locust(server.url, 500, 10, folder)  # warm-up
        steps = [rate for rate in sorted(args.rates) for _ in range(args.rounds)]
        rounds: dict[str, dict[float, list[dict]]] = {name: {rate: [] for rate in args.rates} for name in running}
        for index, name in common.rotated_rounds(list(running), len(steps)):
            stats = common.measured(running[name], steps[index], args.seconds, folder)
            rounds[name][steps[index]].append(stats)
            print(f"{steps[index]:,.0f} req/s, {name}: {stats['Total']} {stats['cpu_us']:.0f} µs/request", flush=True)
    results = {name: {rate: median_round(runs) for rate, runs in by_rate.items()} for name, by_rate in rounds.items()}
    common.publish(report(results, checks, args.seconds), args.out)


if __name__ == "__main__":
    main()
