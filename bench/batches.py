"""What a batch of posts costs the writer: this tree against earlier commits, in one run.

python bench/batches.py [--sizes 1 8] [--batches 300] [--rounds 5] [--before 89c839b a87388a]
                        [--out bench/results/batches.md]

Under load, posts that wait while a write is under way go to the store together (the pipeline's
writer); how many do depends on timing, so a locust run cannot tell a dearer batch from a
smaller one. Here each tree's `ingest_posts` gets the same batches: a CSV store (fsync off: the
disk is not what is compared) holding the valid sample rows, then batches of `size` one-record
posts, each a sample row with its kilos varied (a fixed seed), so that most update a row and
their weeks are scattered over the four years. CPU time per batch of `batches` batches after 30
to warm up, each tree in its own process, the trees in turn, median of `rounds`: user time (the
pipeline's own work) apart from system time (the kernel's, writing and replacing the files,
which grows with their size).
"""

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.side_by_side import checkout  # noqa: E402

MEASURE = r"""
import json, os, random, sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from bench.sample import valid_sample_rows
from vegsales import pipeline
from vegsales.storage.csv import CsvStore
try:
    from vegsales.silver import FeedRules
    rules = FeedRules()
except ImportError:  # before week notations: the vocabulary alone
    from vegsales.vegetables import Vocabulary
    rules = Vocabulary.load()
size, batches = int(sys.argv[2]), int(sys.argv[3])
rows, rng = valid_sample_rows(), random.Random(1)
def post():
    row = rng.choice(rows)
    return [{"date": row["date"], "vegetable": row["vegetable"],
             "kilo_sold": round(float(row["kilo_sold"]) * rng.uniform(0.8, 1.2), 1)}]
with tempfile.TemporaryDirectory() as folder:
    store = CsvStore(Path(folder) / "csv", fsync=False)
    pipeline.ingest_posts(store, rules, [rows])
    for _ in range(30):
        pipeline.ingest_posts(store, rules, [post() for _ in range(size)])
    work = [[post() for _ in range(size)] for _ in range(batches)]
    start = os.times()
    for posts in work:
        pipeline.ingest_posts(store, rules, posts)
    end = os.times()
    print(json.dumps([(end.user - start.user) / batches, (end.system - start.system) / batches]))
"""


def cost(tree: Path, size: int, batches: int) -> tuple[float, float]:
    """User and system CPU seconds per batch in a fresh process running `tree`'s code."""
    env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{ROOT}"}
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tree / "src"), str(size), str(batches)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    user, system = json.loads(run.stdout.strip().splitlines()[-1])
    return user, system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", nargs="*", default=["89c839b", "a87388a"], metavar="COMMIT")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "batches.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        trees = {"this tree": ROOT, **{f"@{commit}": checkout(commit, Path(name)) for commit in args.before}}
        results: dict[tuple[str, int], list[tuple[float, float]]] = {
            (tree, size): [] for tree in trees for size in args.sizes
        }
        for number in range(args.rounds):
            order = list(trees)[number % len(trees) :] + list(trees)[: number % len(trees)]
            for size in args.sizes:
                for tree in order:
                    results[tree, size].append(cost(trees[tree], size, args.batches))
            print(f"round {number + 1} of {args.rounds}", flush=True)
    lines = [
        "# What a batch of posts costs the writer",
        "",
        f"{dt.datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, {os.cpu_count()} cores; bench/batches.py.",
        f"CSV store (fsync off) holding the sample; {args.batches} batches of one-record posts per run, median of"
        f" {args.rounds} rotated rounds. CPU ms per batch, user (the pipeline's work) + system (the kernel's file"
        " work), and the user time's ratio to this tree's.",
        "",
        "| tree | " + " | ".join(f"{size} post{'s' if size > 1 else ''} a batch" for size in args.sizes) + " |",
        "|---|" + "---:|" * len(args.sizes),
    ]
    for tree in trees:
        cells = []
        for size in args.sizes:
            user = statistics.median(run[0] for run in results[tree, size])
            system = statistics.median(run[1] for run in results[tree, size])
            ratio = user / statistics.median(run[0] for run in results["this tree", size])
            cells.append(f"{user * 1e3:.2f} + {system * 1e3:.2f} ms ({ratio:.2f} x)")
        lines.append(f"| {tree} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
