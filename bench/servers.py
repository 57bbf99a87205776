"""Server candidates side by side: the load mix against each, alternating, in one run; then what
each does with an oversized header, a slow header, a slow body, an idle connection and one
connection past 1,000.

python bench/servers.py [--candidates NAME ...] [--rate 1000] [--seconds 30] [--rounds 3]
                        [--out bench/results/servers.md]

Every candidate (bench/candidates.py) serves the SQLite service on its own port, the sample file
imported, for the whole run. At each round, locust (bench/locustfile.py, via bench/load.py) runs
`seconds` at `rate` against each candidate in turn, the order rotated at every round so that the
machine's drift hits them all. The server's CPU time (its process and their children, from
/proc) per request served is the cost compared. The behaviour checks run afterwards, each
candidate at once, with the limits set as bench/candidates.py says.
"""

import argparse
import datetime as dt
import os
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.candidates import CANDIDATES  # noqa: E402
from bench.common import cpu_seconds  # noqa: E402
from bench.load import ENDPOINTS, P99_LIMIT_MS, describe, import_sample, run_locust  # noqa: E402
from bench.side_by_side import micros_per_request  # noqa: E402
from tests.servers import Server  # noqa: E402

WATCH_SECONDS = 45  # how long a slow or idle client is watched before it is called "never closed"
CAP_PROBE = 1050


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (granian serves from a child process)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def tree_cpu_seconds(pid: int) -> float:
    total = 0.0
    for member in process_tree(pid):
        try:
            total += cpu_seconds(member)
        except OSError:
            continue
    return total


def measured(server: Server, rate: float, seconds: int, folder: Path) -> dict:
    before, start = tree_cpu_seconds(server.process.pid), time.monotonic()
    stats = run_locust([server.url], rate, seconds, folder)
    stats["server_cpu_seconds"] = tree_cpu_seconds(server.process.pid) - before
    stats["server_cpu"] = stats["server_cpu_seconds"] / (time.monotonic() - start)
    stats["passed"] = stats["Total"]["failures"] == 0 and all(
        stats.get(name, {"p99": 0})["p99"] <= P99_LIMIT_MS for name in ENDPOINTS
    )
    return stats


# Behaviour checks: what the candidate does, in words for the table.


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def status_or_end(sock: socket.socket, wait: float) -> str:
    """The status line the server sent, or how the connection ended, within `wait` seconds."""
    sock.settimeout(wait)
    try:
        data = sock.recv(4096)
    except TimeoutError:
        return "no answer"
    except OSError as error:
        return f"reset ({error.__class__.__name__})"
    if not data:
        return "closed"
    return data.split(b"\r\n", 1)[0].decode("latin-1").removeprefix("HTTP/1.1 ")


def big_header(port: int) -> str:
    sock, start = connect(port), time.monotonic()
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
        outcome = status_or_end(sock, 10)
    except OSError as error:
        outcome = f"reset while sending ({error.__class__.__name__})"
    finally:
        sock.close()
    return f"{outcome}, {time.monotonic() - start:.1f} s"


def trickle(port: int, preamble: bytes, drip: bytes) -> str:
    """Sends `preamble`, then `drip` one byte a second: when did the server end it?"""
    sock, start = connect(port), time.monotonic()
    try:
        sock.sendall(preamble)
        for byte in drip:
            if time.monotonic() - start > WATCH_SECONDS:
                return f"open after {WATCH_SECONDS} s"
            sock.sendall(bytes([byte]))
            outcome = status_or_end(sock, 1)
            if outcome != "no answer":
                return f"{outcome} after {time.monotonic() - start:.0f} s"
        return f"open after {time.monotonic() - start:.0f} s"
    except OSError as error:
        return f"reset ({error.__class__.__name__}) after {time.monotonic() - start:.0f} s"
    finally:
        sock.close()


def slow_header(port: int) -> str:
    return trickle(port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", b"a" * 100)


def slow_body(port: int) -> str:
    head = (
        b"POST /post_sales HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    return trickle(port, head, b"[" + b" " * 98 + b"]")


def idle(port: int) -> str:
    sock, start = connect(port), time.monotonic()
    try:
        outcome = status_or_end(sock, WATCH_SECONDS)
    finally:
        sock.close()
    return (
        f"open after {WATCH_SECONDS} s"
        if outcome == "no answer"
        else f"{outcome} after {time.monotonic() - start:.0f} s"
    )


def past_the_cap(port: int) -> str:
    """With CAP_PROBE idle connections open, what a request for /health gets."""
    held = []
    try:
        for _ in range(CAP_PROBE):
            held.append(connect(port))
        sock = connect(port)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        sock.settimeout(5)
        try:
            while chunk := sock.recv(4096):
                data += chunk
        except OSError:
            pass
        sock.close()
        if not data:
            return "closed without an answer"
        head, _, body = data.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].decode("latin-1").removeprefix("HTTP/1.1 ")
        return f"{status}: `{body[:100].decode('utf-8', 'replace')}`"
    except OSError as error:
        return f"{error.__class__.__name__} while connecting"
    finally:
        for sock in held:
            sock.close()


CHECKS = {
    "1 MiB header": big_header,
    "header at 1 byte/s": slow_header,
    "body at 1 byte/s": slow_body,
    "idle connection": idle,
}


def behaviour(running: dict[str, Server]) -> dict[str, dict[str, str]]:
    cap = f"connection {CAP_PROBE + 1:,} (with {CAP_PROBE:,} idle)"
    found: dict[str, dict[str, str]] = {name: dict.fromkeys([cap, *CHECKS], "") for name in running}
    for name, server in running.items():  # one at a time: each opens a thousand sockets
        found[name][cap] = past_the_cap(server.port)
        time.sleep(1)

    def check(name: str, label: str) -> None:
        found[name][label] = CHECKS[label](running[name].port)

    threads = [threading.Thread(target=check, args=(name, label)) for name in running for label in CHECKS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return found


def report(results: dict[str, list[dict]], found: dict[str, dict[str, str]], rate: float, seconds: int) -> str:
    lines = [
        "# Server candidates side by side",
        "",
        f"{dt.datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, {os.cpu_count()} cores; locust on the same machine.",
        f"The load benchmark's mix (bench/locustfile.py) at {rate:,.0f} req/s, {seconds} s against each candidate in"
        f" turn, {len(next(iter(results.values())))} rounds (the order rotated at each); SQLite, sample data imported.",
        "CPU = the server's processes' CPU time per request served; the median of the rounds, each round in brackets.",
        "Candidates: bench/candidates.py.",
        "",
        "| candidate | req/s | failures | p99 post / raw / monthly (ms) | CPU µs/request | rounds |",
        "|---|---:|---:|---|---:|---|",
    ]
    for name, rounds in results.items():
        costs = [micros_per_request(stats) for stats in rounds]
        middle = sorted(rounds, key=micros_per_request)[len(rounds) // 2]
        p99 = " / ".join(f"{middle[e]['p99']:.0f}" if e in middle else "-" for e in ENDPOINTS)
        rps = statistics.median(stats["Total"]["rps"] for stats in rounds)
        failures = sum(stats["Total"]["failures"] for stats in rounds)
        lines.append(
            f"| {name} | {rps:,.0f} | {failures} | {p99} | {statistics.median(costs):,.0f} | "
            + " ".join(f"[{cost:,.0f}]" for cost in costs)
            + " |"
        )
    labels = list(next(iter(found.values())))
    if not labels:
        return "\n".join(lines)
    lines += [
        "",
        f"## Behaviour (a client is watched {WATCH_SECONDS} s at most)",
        "",
        "| candidate | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for name, outcomes in found.items():
        lines.append(f"| {name} | " + " | ".join(outcomes[label] for label in labels) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-behaviour", dest="behaviour", action="store_false")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "servers.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name, ExitStack() as stack:
        folder = Path(name)
        running: dict[str, Server] = {}
        for candidate in args.candidates:
            server = Server("bench/candidates.py", candidate, "--db", str(folder / f"{candidate}.db"))
            stack.callback(server.stop)
            running[candidate] = server.wait_ready()
            import_sample(server.url)
            run_locust([server.url], args.rate / 2, 10, folder)  # warm-up
        results: dict[str, list[dict]] = {candidate: [] for candidate in running}
        names = list(running)
        for round_ in range(args.rounds):
            shift = round_ % len(names)
            for candidate in names[shift:] + names[:shift]:
                stats = measured(running[candidate], args.rate, args.seconds, folder)
                results[candidate].append(stats)
                print(f"round {round_ + 1}, {candidate}: {describe(stats)}, {micros_per_request(stats):.0f} µs/request")
        found = behaviour(running) if args.behaviour else {candidate: {} for candidate in running}
    text = report(results, found, args.rate, args.seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
