"""Bulk posts: one POST of 50,000 records, and one of 100,000 (the limit), side by side with earlier versions.

python -m bench.bulk [--backend sqlite] [--rounds 5] [--before COMMIT ...] [--out bench/results/bulk.md]

Each version serves its own store (one server process each, all running for the whole benchmark).
At each round, every version in turn (the order rotated each round) empties its store, imports the
sample file and receives a POST of 50,000 new records (weekly sales of 30 vegetables under ~1,000
raw spellings), then one of 100,000: seconds from sending the request to the whole answer, every
record reported inserted. Medians of the rounds.
"""

import argparse
import datetime as dt
import json
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench.common import SCRIPTS, Connection, heading, import_sample, publish, rotated_rounds, service, versions
from bench.sample import weekly_rows
from support.servers import ROOT, request

SIZES = (50_000, 100_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=list(SCRIPTS), default="sqlite")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", nargs="*", default=[], metavar="COMMIT", help="also the service at COMMIT")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "bulk.md")
    args = parser.parse_args()
    bodies = {size: weekly_rows(size, 32, dt.date(2030, 1, 7)) for size in SIZES}  # after the sample's years
    seconds: dict[str, dict[int, list[float]]] = {}
    with tempfile.TemporaryDirectory() as name, ExitStack() as stack:
        folder = Path(name)
        servers = {}
        for number, (version, root) in enumerate(versions(args.before, folder).items()):
            servers[version] = stack.enter_context(service(args.backend, folder / f"server-{number}", root))
            seconds[version] = {size: [] for size in SIZES}
        for number, version in rotated_rounds(list(servers), args.rounds):
            url = servers[version].url
            for size, records in bodies.items():
                request(f"{url}/init_database", "POST")
                import_sample(url)
                connection = Connection(servers[version].port)  # a new one: the last went idle meanwhile
                status, answer, took = connection.call("POST", "/post_sales", records)
                connection.http.close()
                assert status == 200 and json.loads(answer)["inserted"] == size, answer[:300]
                seconds[version][size].append(took)
            print(f"round {number + 1}, {version}: " + ", ".join(f"{s[-1]:.3f} s" for s in seconds[version].values()))
    lines = [
        f"# Bulk posts ({args.backend})",
        "",
        heading("bulk") + f" {args.rounds} rounds, the versions in rotated order; seconds from sending the POST"
        " to the whole answer.",
        "",
        "| version | " + " | ".join(f"{size:,} records: median (each round)" for size in SIZES) + " |",
        "|---|" + "---|" * len(SIZES),
    ]
    for version, by_size in seconds.items():
        cells = [f"{statistics.median(s):.3f} ({' '.join(f'{t:.2f}' for t in s)})" for s in by_size.values()]
        lines.append(f"| {version} | " + " | ".join(cells) + " |")
    publish(lines, args.out)


if __name__ == "__main__":
    main()
