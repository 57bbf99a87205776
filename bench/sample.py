"""The sample file's rows that the service accepts, for the benchmarks' posts."""

import csv
import datetime as dt
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample_sales.csv"
UNKNOWN = {"mango", "banana", "parsnip", "rutabaga", "plátano", "xyzzy", "Banane", "kiwi"}


def valid_sample_rows() -> list[dict]:
    """Rows of the sample file that the service accepts (the 24 planted bad rows left out)."""
    with open(SAMPLE, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return [r for r in rows if float(r["kilo_sold"]) >= 0 and r["vegetable"] not in UNKNOWN and real_date(r["date"])]


def real_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True
