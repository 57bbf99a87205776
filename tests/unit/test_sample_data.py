"""data/sample_sales.csv: reproducible from its seed, and exactly the planted errors and spikes."""

import csv
import datetime as dt
import importlib.util
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests import oracle
from vegsales.gold import gold_sales
from vegsales.monthly import monthly_sales
from vegsales.silver import FeedRules, clean_records, silver_row
from vegsales.vegetables import Vocabulary

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample_sales.csv"
SCRIPT = REPO / "scripts" / "make_sample_data.py"

# Written by hand from the generated file (header = line 1); see data/SAMPLE.md.
REJECTED_LINES = {
    5: "kilo_sold",
    220: "kilo_sold",
    226: "vegetable",
    313: "vegetable",
    329: "date",
    450: "vegetable",
    490: "date",
    686: "vegetable",
    745: "kilo_sold",
    751: "date",
    789: "kilo_sold",
    1031: "kilo_sold",
    1095: "vegetable",
    1134: "vegetable",
    1172: "kilo_sold",
    1258: "date",
    1308: "date",
    1707: "kilo_sold",
    1763: "kilo_sold",
    1954: "date",
    2015: "vegetable",
    2066: "date",
    2165: "date",
    2393: "vegetable",
}
PLANTED_OUTLIERS = [("2020-09", "carrot"), ("2022-07", "tomato"), ("2023-01", "leek")]
DATA_ROWS = 2593


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return Vocabulary.load()


@pytest.fixture(scope="module")
def records() -> list[dict[str, str]]:
    with SAMPLE.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def cleaned(records, vocabulary):
    accepted, rejected = clean_records(records, FeedRules(vocabulary))
    return [silver_row(row, vegetable) for _, row, vegetable in accepted], rejected, accepted.rows


def load_generator():
    spec = importlib.util.spec_from_file_location("make_sample_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sample_file_is_reproducible_from_its_seed(tmp_path):
    out = tmp_path / "sample_sales.csv"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == SAMPLE.read_bytes()


def test_another_seed_gives_another_sample(tmp_path):
    generator = load_generator()
    assert generator.generate(seed=1) != generator.generate(seed=generator.DEFAULT_SEED)


def test_sample_file_starts_with_the_header():
    assert SAMPLE.read_text(encoding="utf-8").splitlines()[0] == "date,vegetable,kilo_sold"


def test_sample_file_has_the_expected_number_of_rows(records):
    assert len(records) == DATA_ROWS


def test_every_monday_from_2020_01_06_to_2023_12_25_has_a_sale_of_every_vegetable(cleaned):
    accepted, _, _ = cleaned
    mondays = {(dt.date(2020, 1, 6) + dt.timedelta(weeks=week)).isoformat() for week in range(208)}
    assert max(mondays) == "2023-12-25"
    assert {row.date for row in accepted} == mondays
    vegetables = {row.vegetable for row in accepted}
    assert {(row.date, row.vegetable) for row in accepted} == {(d, v) for d in mondays for v in vegetables}


def test_sample_file_holds_at_least_ten_canonical_vegetables_under_several_spellings(cleaned):
    accepted, _, _ = cleaned
    spellings = Counter(row.vegetable for row in {(row.vegetable, row.raw_vegetable): row for row in accepted}.values())
    assert len(spellings) >= 10
    assert all(count >= 3 for count in spellings.values()), spellings


def test_every_spelling_the_generator_uses_resolves_to_its_intended_vegetable(vocabulary):
    generator = load_generator()
    resolved = {name: vocabulary.resolve(name) for spellings in generator.SPELLINGS.values() for name, _ in spellings}
    intended = {name: canonical for canonical, spellings in generator.SPELLINGS.items() for name, _ in spellings}
    assert resolved == intended


def test_no_two_valid_rows_share_a_date_and_raw_name(cleaned):
    accepted, _, _ = cleaned
    repeated = [key for key, count in Counter(row.key for row in accepted).items() if count > 1]
    assert repeated == []


def test_exactly_the_planted_rows_are_rejected_each_for_its_one_reason(records, cleaned):
    accepted, rejected, _ = cleaned
    got = {rejection.index + 2: [error.field for error in rejection.errors] for rejection in rejected}
    assert got == {line: [field] for line, field in REJECTED_LINES.items()}
    assert len(accepted) == len(records) - 24


def test_flagged_outlier_months_are_exactly_the_planted_spikes(cleaned):
    accepted, _, _ = cleaned
    expected = oracle.gold((row.week_start, row.vegetable, row.kilo_sold) for row in accepted)
    assert [(month, vegetable) for month, vegetable, _, outlier in expected if outlier] == PLANTED_OUTLIERS
    oracle.assert_gold_equals(gold_sales(monthly_sales(accepted)), expected)
