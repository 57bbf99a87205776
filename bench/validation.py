"""What checking records costs, before and after a change, measured side by side in one run.

python bench/validation.py [--baseline REF] [--records 50000] [--out bench/results/validation.md]

Runs the same measurement on this tree's `src/` and on `src/` as of a git REF (default: the
first parent of the commit that introduced week notations, see BASELINE), each in a fresh
process: validating the records and cleaning their names (no storage), the median of 7 runs.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "89c839b"
"""The last commit before week notations, quarantine and name rules."""

MEASURE = r"""
import gc, json, random, sys, time
from vegsales.vegetables import Vocabulary
count = int(sys.argv[1])
names = ["Tomate", "tomatto", "Poire", "peer", "Zanahoria", "carotte", "chou-fleur", "Brussels sprouts",
         "pomme de terre", "Patata", "oignon", "Cebolla", "ail", "ajo", "laitue", "Lettuce", "poireau", "Leeks"]
rng = random.Random(1)
items = [{"date": f"20{rng.randint(10, 29)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
          "vegetable": rng.choice(names), "kilo_sold": round(rng.uniform(0, 900), 1)} for _ in range(count)]
try:  # this tree
    from vegsales.silver import FeedRules, clean_records
    rules = FeedRules(Vocabulary.load())
except ImportError:  # before week notations
    from vegsales.pipeline import clean_records
    rules = Vocabulary.load()
clean_records(items, rules)  # warm the caches, as a running server has them
times = []
for _ in range(7):
    gc.collect()
    start = time.perf_counter()
    accepted, rejected = clean_records(items, rules)
    times.append(time.perf_counter() - start)
assert len(accepted) == count and not rejected, (len(accepted), rejected[:3])
print(json.dumps(times))
"""


def measure(src: Path, records: int) -> list[float]:
    output = subprocess.run(
        [sys.executable, "-c", MEASURE, str(records)],
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        archive = subprocess.run(["git", "archive", args.baseline, "src"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
        # Alternate the two trees so that a change in the machine's load hits both alike.
        runs: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(3):
            runs["before"] += measure(Path(folder) / "src", args.records)
            runs["after"] += measure(ROOT / "src", args.records)
    medians = {name: statistics.median(times) for name, times in runs.items()}
    lines = [
        f"# Validating {args.records:,} records (no storage)",
        "",
        f"Median of {len(runs['after'])} runs each, alternating trees, in one run of `bench/validation.py`.",
        "",
        "| tree | median (s) | per record (µs) |",
        "|---|---:|---:|",
        f"| before (`{args.baseline}`) | {medians['before']:.3f} | {medians['before'] / args.records * 1e6:.2f} |",
        f"| after (this tree) | {medians['after']:.3f} | {medians['after'] / args.records * 1e6:.2f} |",
        "",
        f"After / before: {medians['after'] / medians['before']:.2f}",
    ]
    print("\n".join(lines))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
