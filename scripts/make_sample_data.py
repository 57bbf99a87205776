"""Write a deterministic sample of weekly vegetable sales: data/sample_sales.csv.

Four years of Mondays (2020-01-06 .. 2023-12-25), twelve vegetables each with its own scale,
season, trend and noise, named in English, French and Spanish with typos. Planted on purpose:
three spike weeks the outlier rule must flag, and about 1% of rows the validation must reject
(impossible dates, unknown vegetables, negative kilos).

The generator uses the standard library only. If the vegsales package is importable, the script
then checks the file against the real pipeline (every name resolves to its intended vegetable,
exactly the planted rows are rejected, exactly the planted months are flagged) and exits 1 if not.

    python scripts/make_sample_data.py [--seed 2024] [--out data/sample_sales.csv]
"""

import argparse
import csv
import datetime as dt
import math
import random
import sys
from collections import Counter
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "data" / "sample_sales.csv"
DEFAULT_SEED = 2024
HEADER = ("date", "vegetable", "kilo_sold")

FIRST_MONDAY = dt.date(2020, 1, 6)
LAST_MONDAY = dt.date(2023, 12, 25)
SPLIT_RATE = 0.03
"""Share of (week, vegetable) sales written as two rows under two spellings of the vegetable."""


SPELLINGS: dict[str, tuple[tuple[str, int], ...]] = {
    "tomato": (("Tomate", 5), ("tomato", 4), ("Tomatoes", 3), ("tomatto", 1), ("tomaot", 1)),
    "pear": (("Poire", 4), ("Pera", 3), ("pear", 3), ("peer", 1)),
    "brussels sprout": (
        ("Brussels sprouts", 4),
        ("chou de Bruxelles", 2),
        ("Brussel Sprout", 2),
        ("Brusselsprout", 1),
        ("Brussell Sprout", 1),
        ("Brusel Sprout", 1),
    ),
    "carrot": (("carotte", 4), ("Zanahoria", 3), ("Carrots", 3), ("carot", 1)),
    "potato": (("pomme de terre", 4), ("Patata", 3), ("Potatoes", 3), ("patate", 1), ("potatos", 1)),
    "onion": (("oignon", 4), ("Cebolla", 3), ("Onions", 3), ("onoin", 1)),
    "leek": (("poireau", 4), ("Leeks", 3), ("puerro", 2), ("poirreau", 1)),
    "cauliflower": (("chou-fleur", 4), ("Cauliflower", 3), ("coliflor", 2), ("cauliflour", 1)),
    "zucchini": (("Courgette", 4), ("calabacin", 3), ("zucchini", 3), ("zuchini", 1)),
    "cabbage": (("Cabbage", 4), ("chou", 3), ("repollo", 2), ("cabage", 1)),
    "garlic": (("garlic", 4), ("ail", 3), ("ajo", 3), ("garlik", 1)),
    "lettuce": (("laitue", 4), ("lechuga", 3), ("Lettuce", 3), ("letuce", 1)),
}
"""Canonical name -> (raw name, weight): how often the source writes each vegetable each way."""


class Vegetable(NamedTuple):
    canonical: str
    weekly_kilos: float
    """Typical kilos a week at the start of 2020, before the season."""
    season_amplitude: float
    """Relative swing of the season: 0.6 means from 40% to 160% of the typical level."""
    peak_day: int
    """Day of the year the season peaks."""
    trend: float
    """Relative change over the four years."""
    noise: float
    """Relative standard deviation of the week-to-week noise."""

    @property
    def spellings(self) -> tuple[tuple[str, int], ...]:
        return SPELLINGS[self.canonical]


VEGETABLES = (
    Vegetable("tomato", 800, 0.6, 196, 0.10, 0.08),  # summer, peak mid-July
    Vegetable("pear", 300, 0.4, 288, -0.05, 0.09),  # autumn
    Vegetable("brussels sprout", 150, 0.8, 355, 0.15, 0.10),  # winter, peak around Christmas
    Vegetable("carrot", 1200, 0.15, 20, 0.08, 0.06),  # all year
    Vegetable("potato", 2500, 0.2, 330, -0.04, 0.05),  # all year, a little more in winter
    Vegetable("onion", 900, 0.1, 60, 0.05, 0.06),  # all year
    Vegetable("leek", 250, 0.6, 15, 0.12, 0.08),  # winter
    Vegetable("cauliflower", 200, 0.5, 30, 0.00, 0.09),  # winter
    Vegetable("zucchini", 400, 0.7, 200, 0.20, 0.09),  # summer
    Vegetable("cabbage", 350, 0.45, 5, -0.10, 0.08),  # winter
    Vegetable("garlic", 40, 0.1, 220, 0.25, 0.10),  # tens of kilos, growing
    Vegetable("lettuce", 500, 0.5, 180, 0.05, 0.10),  # summer
)


class Spike(NamedTuple):
    date: str
    vegetable: str
    raw_name: str
    factor: float

    @property
    def month(self) -> str:
        return self.date[:7]


SPIKES = (
    Spike("2020-09-14", "carrot", "Zanahoria", 32),
    Spike("2022-07-11", "tomato", "tomatto", 25),
    Spike("2023-01-16", "leek", "poireau", 38),
)
"""Single weeks, each lying entirely inside one calendar month, so that exactly one month is flagged."""

IMPOSSIBLE_DATES = (
    "2021-02-29",
    "2022-13-07",
    "2023-04-31",
    "2020-06-31",
    "2022-00-10",
    "2021-11-31",
    "2023-02-30",
    "2020-09-31",
)
UNKNOWN_VEGETABLES = ("banana", "xyzzy", "kiwi", "mango", "Banane", "plátano", "rutabaga", "parsnip")
NEGATIVE_KILOS_ROWS = 8

IMPOSSIBLE_DATE, UNKNOWN_VEGETABLE, NEGATIVE_KILOS = "impossible date", "unknown vegetable", "negative kilos"


class Row(NamedTuple):
    date: str
    vegetable: str
    kilo_sold: str
    problem: str | None = None
    """Why the row must be rejected; None for a valid row."""


def mondays() -> list[dt.date]:
    weeks = (LAST_MONDAY - FIRST_MONDAY).days // 7 + 1
    return [FIRST_MONDAY + dt.timedelta(weeks=week) for week in range(weeks)]


def kilos_text(kilos: float) -> str:
    text = f"{round(kilos, 1):.1f}"
    return "0.0" if text == "-0.0" else text


def usual_kilos(vegetable: Vegetable, day: dt.date, week: int, weeks: int, rng: random.Random) -> float:
    """One week's kilos: scale x trend x season x noise."""
    phase = 2 * math.pi * (day.timetuple().tm_yday - vegetable.peak_day) / 365.25
    season = 1 + vegetable.season_amplitude * math.cos(phase)
    trend = 1 + vegetable.trend * week / (weeks - 1)
    noise = max(0.6, rng.gauss(1.0, vegetable.noise))
    return max(vegetable.weekly_kilos * trend * season * noise, 1.0)


def pick_spelling(spellings: tuple[tuple[str, int], ...], rng: random.Random, exclude: set[str] = frozenset()) -> str:
    names = [name for name, _ in spellings if name not in exclude]
    weights = [weight for name, weight in spellings if name not in exclude]
    return rng.choices(names, weights)[0]


def generate(seed: int = DEFAULT_SEED) -> list[Row]:
    """Every row of the sample, sorted by (date, vegetable) as text."""
    rng = random.Random(seed)
    weeks = mondays()
    spikes = {(spike.date, spike.vegetable): spike for spike in SPIKES}
    rows: list[Row] = []
    names_used: dict[tuple[str, str], set[str]] = {}
    for week, day in enumerate(weeks):
        date = day.isoformat()
        for vegetable in VEGETABLES:
            kilos = usual_kilos(vegetable, day, week, len(weeks), rng)
            # Always draw the split, share and spellings, so a spike does not shift the random stream.
            split = rng.random() < SPLIT_RATE
            share = rng.uniform(0.25, 0.75)
            first = pick_spelling(vegetable.spellings, rng)
            second = pick_spelling(vegetable.spellings, rng, exclude={first})
            spike = spikes.get((date, vegetable.canonical))
            if spike:
                rows.append(Row(date, spike.raw_name, kilos_text(kilos * spike.factor)))
                names_used[date, vegetable.canonical] = {spike.raw_name}
            elif split:
                rows.append(Row(date, first, kilos_text(kilos * share)))
                rows.append(Row(date, second, kilos_text(kilos * (1 - share))))
                names_used[date, vegetable.canonical] = {first, second}
            else:
                rows.append(Row(date, first, kilos_text(kilos)))
                names_used[date, vegetable.canonical] = {first}
    rows.extend(_invalid_rows(rng, weeks, names_used))
    rows.sort(key=lambda row: (row.date, row.vegetable, row.kilo_sold))
    return rows


def _invalid_rows(rng: random.Random, weeks: list[dt.date], names_used: dict[tuple[str, str], set[str]]) -> list[Row]:
    rows = []
    for date in IMPOSSIBLE_DATES:
        vegetable = rng.choice(VEGETABLES)
        name = pick_spelling(vegetable.spellings, rng)
        rows.append(Row(date, name, kilos_text(rng.uniform(0.5, 1.5) * vegetable.weekly_kilos), IMPOSSIBLE_DATE))
    for name in UNKNOWN_VEGETABLES:
        rows.append(Row(rng.choice(weeks).isoformat(), name, kilos_text(rng.uniform(20, 400)), UNKNOWN_VEGETABLE))
    for _ in range(NEGATIVE_KILOS_ROWS):
        date = rng.choice(weeks).isoformat()
        vegetable = rng.choice(VEGETABLES)
        # A spelling not already used that week for that vegetable: no two rows share (date, name).
        name = pick_spelling(vegetable.spellings, rng, exclude=names_used[date, vegetable.canonical])
        rows.append(Row(date, name, kilos_text(-rng.uniform(0.05, 1.0) * vegetable.weekly_kilos), NEGATIVE_KILOS))
    return rows


def write_csv(rows: list[Row], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows((row.date, row.vegetable, row.kilo_sold) for row in rows)


def summary(rows: list[Row], path: Path) -> list[str]:
    invalid = [(line, row) for line, row in enumerate(rows, start=2) if row.problem]
    kinds = Counter(row.problem for _, row in invalid)
    lines = [
        f"wrote {path}",
        f"rows: {len(rows)} (plus the header)",
        f"valid rows: {len(rows) - len(invalid)}",
        f"invalid rows: {len(invalid)} ({', '.join(f'{kind}: {kinds[kind]}' for kind in sorted(kinds))})",
        f"weeks: {len(mondays())} Mondays, {FIRST_MONDAY} .. {LAST_MONDAY}",
        f"vegetables: {len(VEGETABLES)}",
    ]
    spellings_seen = Counter(row.vegetable for row in rows if not row.problem)
    for vegetable in VEGETABLES:
        spelled = ", ".join(f"{name!r} x{spellings_seen[name]}" for name, _ in vegetable.spellings)
        lines.append(f"  {vegetable.canonical}: {spelled}")
    lines.append("spikes (month expected to be flagged):")
    by_key = {(row.date, row.vegetable): row for row in rows}
    for spike in SPIKES:
        row = by_key[spike.date, spike.raw_name]
        name = f"{spike.raw_name!r} ({spike.vegetable})"
        lines.append(f"  {spike.date} {name} {row.kilo_sold} kg, x{spike.factor:g} -> {spike.month}")
    lines.append("invalid rows (line in the file, header = line 1):")
    lines.extend(f"  line {line}: {row.date},{row.vegetable},{row.kilo_sold}  [{row.problem}]" for line, row in invalid)
    return lines


def check_with_pipeline(rows: list[Row]) -> list[str]:
    """What the real pipeline disagrees with; empty when all is as planted. Needs vegsales installed."""
    from vegsales.gold import gold_sales
    from vegsales.monthly import monthly_sales
    from vegsales.silver import FeedRules, clean_records, silver_sales
    from vegsales.vegetables import UnknownVegetable, Vocabulary

    vocabulary = Vocabulary.load()
    problems = []
    for vegetable in VEGETABLES:
        for name, _ in vegetable.spellings:
            resolved = vocabulary.resolve(name)
            if resolved != vegetable.canonical:
                problems.append(f"{name!r} resolves to {resolved!r}, not {vegetable.canonical!r}")
    for name in UNKNOWN_VEGETABLES:
        if not isinstance(vocabulary.resolve(name), UnknownVegetable):
            problems.append(f"{name!r} was meant to be unknown, resolves to {vocabulary.resolve(name)!r}")
    records = [{"date": row.date, "vegetable": row.vegetable, "kilo_sold": row.kilo_sold} for row in rows]
    accepted, rejected = clean_records(records, FeedRules(vocabulary))
    rejected_indexes = [rejection.index for rejection in rejected]
    planted_indexes = [index for index, row in enumerate(rows) if row.problem]
    if rejected_indexes != planted_indexes:
        problems.append(f"rejected rows {rejected_indexes} are not the planted ones {planted_indexes}")
    keys = Counter(row.key for row in accepted.rows)
    problems.extend(f"two valid rows for {key}" for key, count in keys.items() if count > 1)
    gold = gold_sales(monthly_sales(silver_sales(accepted.rows, vocabulary)))
    flagged = sorted((row.year_month, row.vegetable) for row in gold if row.is_outlier)
    planted = sorted((spike.month, spike.vegetable) for spike in SPIKES)
    if flagged != planted:
        problems.append(f"flagged months {flagged} are not the planted ones {planted}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default: {DEFAULT_SEED})")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="CSV file to write (default: data/sample_sales.csv in the repo)"
    )
    args = parser.parse_args(argv)
    for spike in SPIKES:
        start = dt.date.fromisoformat(spike.date)
        if start.weekday() != 0 or (start + dt.timedelta(days=6)).month != start.month:
            parser.error(f"spike week {spike.date} must be a Monday whose 7 days lie in one month")
    rows = generate(args.seed)
    write_csv(rows, args.out)
    print("\n".join(summary(rows, args.out)))
    try:
        problems = check_with_pipeline(rows)
    except ImportError:
        print("check against the pipeline skipped: the vegsales package is not importable")
        return 0
    if problems:
        print("check against the pipeline FAILED:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    print("check against the pipeline: every name resolves as intended, exactly the planted rows are rejected")
    print("  and exactly the planted months are flagged as outliers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
