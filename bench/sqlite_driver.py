"""Why stdlib sqlite3 and not SQLAlchemy Core: the cost of the write a one-record post makes.

python bench/sqlite_driver.py  (needs: pip install sqlalchemy)
Times one transaction = BEGIN IMMEDIATE + one upsert + COMMIT, on a WAL database, both ways.
"""

import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROUNDS = 5_000
UPSERT = (
    "INSERT INTO t (date, vegetable, kilo_sold) VALUES (:date, :vegetable, :kilo_sold) "
    "ON CONFLICT (date, vegetable) DO UPDATE SET kilo_sold = excluded.kilo_sold"
)
SCHEMA = "CREATE TABLE t (date TEXT, vegetable TEXT, kilo_sold REAL, PRIMARY KEY (date, vegetable))"


def params(i: int) -> dict:
    return {"date": f"2020-01-{i % 28 + 1:02d}", "vegetable": f"v{i % 50}", "kilo_sold": float(i)}


def time_stdlib(path: Path) -> list[float]:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute(SCHEMA)
    timings = []
    for i in range(ROUNDS):
        start = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(UPSERT, params(i))
        connection.execute("COMMIT")
        timings.append(time.perf_counter() - start)
    return timings


def time_sqlalchemy(path: Path) -> list[float]:
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA journal_mode = WAL")
        connection.exec_driver_sql("PRAGMA synchronous = NORMAL")
        connection.exec_driver_sql(SCHEMA)
        connection.commit()
    statement = sa.text(UPSERT)
    timings = []
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA synchronous = NORMAL")
        connection.commit()
        for i in range(ROUNDS):
            start = time.perf_counter()
            with connection.begin():
                connection.execute(statement, params(i))
            timings.append(time.perf_counter() - start)
    return timings


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        for name, run in (("sqlite3", time_stdlib), ("SQLAlchemy Core", time_sqlalchemy)):
            timings = run(Path(folder) / f"{name.split()[0]}.db")
            print(f"{name:16} median {statistics.median(timings) * 1e6:6.1f} us per one-row write transaction")


if __name__ == "__main__":
    main()
