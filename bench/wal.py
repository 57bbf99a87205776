"""SQLite's files under sustained load: the -wal file stays bounded, and empties once load stops.

python bench/wal.py [--rate 1500] [--seconds 120] [--workers 2] [--out bench/results/wal.md]

A SQLite server with `--workers N` gets the sample data, then the load benchmark's locust mix
at `--rate` for `--seconds`, while the sizes of sales.db and sales.db-wal are read every 0.5 s;
then 10 s without load; then POST /init_database. Reports the largest -wal size under load, how
long after the load the -wal file was back under 4 MiB, and the database file's size before and
after /init_database next to a new empty store's.
"""

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.load import import_sample, run_locust  # noqa: E402
from tests.servers import Server, request  # noqa: E402
from vegsales.storage.sqlite import SqliteStore  # noqa: E402

MIB = 1024 * 1024


def size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1500)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "sales.db"
        wal = database.with_name("sales.db-wal")
        SqliteStore(Path(folder) / "empty.db").close()
        empty = size(Path(folder) / "empty.db")
        workers = ["--workers", str(args.workers)]
        with Server("app_sql.py", "--db", str(database), *workers, log_file=Path(folder) / "stderr") as server:
            import_sample(server.url)
            samples: list[tuple[float, int]] = []
            stop = threading.Event()

            def watch() -> None:
                while not stop.wait(0.5):
                    samples.append((time.monotonic(), size(wal)))

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            stats = run_locust([server.url], args.rate, args.seconds, Path(folder))
            load_ended = time.monotonic()
            time.sleep(10)
            stop.set()
            watcher.join()
            under_load = [wal_bytes for moment, wal_bytes in samples if moment <= load_ended]
            after = [(moment - load_ended, wal_bytes) for moment, wal_bytes in samples if moment > load_ended]
            back_under = next((seconds for seconds, wal_bytes in after if wal_bytes < 4 * MIB), None)
            before_init = size(database)
            assert request(f"{server.url}/init_database", "POST")[0] == 200
            after_init = size(database)
    lines = [
        f"# SQLite files under {args.seconds} s of the locust mix at {args.rate:,.0f} req/s, --workers {args.workers}",
        "",
        f"Achieved {stats['Total']['rps']:,.0f} req/s, {stats['Total']['failures']} failures, "
        f"p99 {stats['Total']['p99']:.0f} ms.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| largest -wal file under load | {max(under_load) / MIB:.1f} MiB |",
        f"| -wal file 10 s after the load | {after[-1][1] / MIB:.2f} MiB |",
        f"| back under 4 MiB after the load stopped | {back_under:.1f} s |"
        if back_under is not None
        else "| back under 4 MiB after the load stopped | not within 10 s |",
        f"| sales.db before /init_database | {before_init / MIB:.2f} MiB |",
        f"| sales.db after /init_database | {after_init / 1024:.0f} KiB (a new empty store: {empty / 1024:.0f} KiB) |",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
