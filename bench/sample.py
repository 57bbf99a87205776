"""The data the benchmarks send: the sample file's rows that the service accepts, and synthetic weekly
sales of any size. Standard library only: bench/locustfile.py imports it inside locust."""

import csv
import datetime as dt
import random
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample_sales.csv"
UNKNOWN = {"mango", "banana", "parsnip", "rutabaga", "plátano", "xyzzy", "Banane", "kiwi"}
VEGETABLES = [
    "Tomate", "Patata", "Carotte", "Oignon", "Poire", "Manzana", "Brussel Sprout", "Poivron", "Pepino", "Courgette",
    "Aubergine", "Poireau", "Chou-fleur", "Repollo", "Brocoli", "Garlic", "Laitue", "Espinaca", "Guisante",
    "Haricot vert", "Calabaza", "Radis", "Betterave", "Apio", "Asperge", "Alcachofa", "Navet", "Batata", "Champignon",
    "Elote",
]  # fmt: skip


def valid_sample_rows() -> list[dict]:
    """Rows of the sample file that the service accepts (the 24 planted bad rows left out)."""
    with open(SAMPLE, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return [r for r in rows if float(r["kilo_sold"]) >= 0 and r["vegetable"] not in UNKNOWN and real_date(r["date"])]


def varied(row: dict, rng: random.Random) -> dict:
    """A sample row with its kilos varied by up to 20 %: a post of it updates the stored row, as most posts
    under load do."""
    kilos = round(float(row["kilo_sold"]) * rng.uniform(0.8, 1.2), 1)
    return {"date": row["date"], "vegetable": row["vegetable"], "kilo_sold": kilos}


def real_date(text: str) -> bool:
    try:
        return bool(dt.date.fromisoformat(text))
    except ValueError:
        return False


def spellings(per_vegetable: int) -> list[str]:
    """Distinct raw names: each of 30 vegetables' names in up to `per_vegetable` casings (all map to it)."""
    names = []
    for name in VEGETABLES:
        casings = {
            "".join(c.upper() if variant >> i & 1 else c.lower() for i, c in enumerate(name))
            for variant in range(2 ** len(name))
        }
        names += sorted(casings)[:per_vegetable]
    return names


def weekly_rows(count: int, per_vegetable: int, first: dt.date, seed: int = 1) -> list[dict]:
    """`count` distinct records: week after week from the Monday `first`, every spelling sold each week."""
    rng, names = random.Random(seed), spellings(per_vegetable)
    dates = [(first + dt.timedelta(days=7 * week)).isoformat() for week in range(-(-count // len(names)))]
    rows = [{"date": d, "vegetable": n, "kilo_sold": round(rng.uniform(10, 2000), 1)} for d in dates for n in names]
    return rows[:count]
