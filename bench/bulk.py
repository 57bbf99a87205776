"""Bulk posts: one POST of 50,000 records, and one of 100,000 (the limit), side by side with earlier versions.

python -m bench.bulk [--backend sqlite] [--rounds 5] [--before COMMIT ...] [--out bench/results/bulk.md]

Each version serves its own store (one server process each, all running for the whole benchmark).
At each round, every version in turn (the order rotated each round) empties its store, imports the
sample file and receives a POST of 50,000 new records (a year of 30 vegetables under ~1,000 raw
spellings, bench/load.py's bulk_records), then the same with 100,000: the time from sending the
request to the whole answer, every record reported inserted. Medians of the rounds.
"""

import argparse
import datetime as dt
import os
import platform
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench.common import checkout
from bench.load import bulk_records, import_sample, timed_post
from bench.side_by_side import SCRIPTS
from tests.servers import ROOT, Server, request

SIZES = (50_000, 100_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=list(SCRIPTS), default="sqlite")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", nargs="*", default=[], metavar="COMMIT", help="also the service at COMMIT")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "bulk.md")
    args = parser.parse_args()
    script, flag, location = SCRIPTS[args.backend]
    bodies = {size: bulk_records(size) for size in SIZES}
    seconds: dict[str, dict[int, list[float]]] = {}
    with tempfile.TemporaryDirectory() as name, ExitStack() as stack:
        folder = Path(name)
        trees = {"this one": ROOT, **{f"@{commit}": checkout(commit, folder) for commit in args.before}}
        servers = {}
        for number, (version, root) in enumerate(trees.items()):
            home = folder / f"server-{number}"
            home.mkdir()
            env = {"PYTHONPATH": str(root / "src")} if root != ROOT else {}
            server = Server(script, flag, str(home / location), root=root, env=env, log_file=home / "stderr")
            servers[version] = stack.enter_context(server)
            seconds[version] = {size: [] for size in SIZES}
        names = list(servers)
        for number in range(args.rounds):
            for version in names[number % len(names) :] + names[: number % len(names)]:
                url = servers[version].url
                for size, records in bodies.items():
                    request(f"{url}/init_database", "POST")
                    import_sample(url)
                    took, report = timed_post(url, records)
                    assert report["inserted"] == size, report
                    seconds[version][size].append(took)
                print(
                    f"round {number + 1}, {version}: " + ", ".join(f"{s[-1]:.3f} s" for s in seconds[version].values())
                )
    lines = [
        f"# Bulk posts ({args.backend})",
        "",
        f"{dt.datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, {os.cpu_count()} cores; bench/bulk.py, {args.rounds}"
        " rounds, the versions in rotated order; seconds from sending the POST to the whole answer.",
        "",
        "| version | " + " | ".join(f"{size:,} records: median (each round)" for size in SIZES) + " |",
        "|---|" + "---|" * len(SIZES),
    ]
    for version, by_size in seconds.items():
        cells = [f"{statistics.median(s):.3f} ({' '.join(f'{t:.2f}' for t in s)})" for s in by_size.values()]
        lines.append(f"| {version} | " + " | ".join(cells) + " |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
