"""What a post of garbage costs next to the same post of valid records (quarantine included).

python bench/quarantine.py [--backends sqlite csv postgres] [--records 100000] [--out bench/results/quarantine.md]

For each backend and each of `--runs` rounds: a fresh server on an empty store receives one
POST of `--records` valid records (distinct weeks and names), then another fresh server one
POST of as many distinct invalid records (a mix of the feed's usual faults: unknown vegetable,
impossible date, week that does not exist, negative or text kilos, extra field, dirty name),
all of which end in quarantine. Each is timed from sending the body to reading the answer.
"""

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.growth import Connection, synthetic_rows  # noqa: E402
from tests.conftest import POSTGRES_URL  # noqa: E402
from tests.servers import Server  # noqa: E402


def garbage(count: int, seed: int = 3) -> list[object]:
    """Distinct records, every one invalid, in the proportions a dirty feed might send."""
    rng = random.Random(seed)
    faults = [
        lambda i: {"date": "2020-01-06", "vegetable": rng.choice(["mango", "kiwi", "banana", "okra"]), "kilo_sold": i},
        lambda i: {"date": f"2021-02-{29 + i % 2}", "vegetable": "Tomate", "kilo_sold": i},
        lambda i: {"date": "2021-W53", "vegetable": "Poire", "kilo_sold": i},
        lambda i: {"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": -1 - i},
        lambda i: {"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": f"{i} kg"},
        lambda i: {"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": i, "brand_quality": "A"},
        lambda i: {"date": "2020-01-06", "vegetable": "carrot\t", "kilo_sold": i},
    ]
    return [faults[i % len(faults)](i) for i in range(count)]


def location(backend: str, folder: str) -> tuple[str, str, str]:
    if backend == "sqlite":
        return "app_sql.py", "--db", f"{folder}/sales.db"
    if backend == "csv":
        return "app_csv.py", "--data-dir", f"{folder}/csv"
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    return "app_sql.py", "--db", f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"


def timed_post(backend: str, records: list[object]) -> tuple[float, dict]:
    body = json.dumps(records).encode()
    with tempfile.TemporaryDirectory() as folder, Server(*location(backend, folder)) as server:
        connection = Connection(server.port)
        connection.http.request("POST", "/init_database")
        connection.http.getresponse().read()
        start = time.perf_counter()
        connection.http.request("POST", "/post_sales", body=body, headers={"Content-Type": "application/json"})
        answer = connection.http.getresponse().read()
        seconds = time.perf_counter() - start
        report = json.loads(answer)
        connection.http.request("GET", "/get_rejected_sales?limit=1")
        quarantine = json.loads(connection.http.getresponse().read())
    report["quarantined"] = quarantine["total"]
    return seconds, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "csv", "postgres"])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    valid, invalid = synthetic_rows(args.records), garbage(args.records)
    lines = [
        f"# A post of {args.records:,} invalid records against one of {args.records:,} valid records",
        "",
        f"Seconds from sending the body to the answer, median of {args.runs} runs (each on a fresh store), "
        "in one run of `bench/quarantine.py`.",
        "",
        "| backend | valid post (s) | garbage post (s) | garbage / valid |",
        "|---|---:|---:|---:|",
    ]
    for backend in args.backends:
        times: dict[str, list[float]] = {"valid": [], "garbage": []}
        for _ in range(args.runs):  # alternating, so that a change in the machine's load hits both
            seconds, report = timed_post(backend, valid)
            assert report["inserted"] == args.records, report
            times["valid"].append(seconds)
            seconds, report = timed_post(backend, invalid)
            assert len(report["rejected"]) == args.records and report["quarantined"] == args.records
            times["garbage"].append(seconds)
        valid_s, garbage_s = (statistics.median(times[name]) for name in ("valid", "garbage"))
        lines.append(f"| {backend} | {valid_s:.2f} | {garbage_s:.2f} | {garbage_s / valid_s:.2f} |")
        print(lines[-1], flush=True)
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
