"""The row history's parts: a version's changed rows as JSON, PART_ROWS rows a history row."""

import orjson
import pytest

from vegsales import history
from vegsales.history import ALL_TABLES, entries, latest_states
from vegsales.rows import HistoryRow

BRONZE = {f"2021-03-0{day}\x1fcarotte": [f"2021-03-0{day}", "carotte", float(day), "", "", "carrot"] for day in (1, 2)}
GOLD = {"2021-03\x1fcarrot": ["2021-03", "carrot", 3.0, False], "2021-04\x1fcarrot": None}


def parts(rows: list[HistoryRow]) -> list[tuple[int, str, str, dict]]:
    return [(row.data_version, row.table_name, row.row_key, orjson.loads(row.row_values)) for row in rows]


def test_a_version_of_up_to_part_rows_changed_rows_is_one_history_row(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(history, "PART_ROWS", 4)
    assert parts(entries(7, {"bronze_sales": BRONZE, "gold_sales": GOLD})) == [
        (7, ALL_TABLES, "0", {"bronze_sales": BRONZE, "gold_sales": GOLD})
    ]
    assert parts(entries(7, {"bronze_sales": {}, "gold_sales": GOLD})) == [(7, ALL_TABLES, "0", {"gold_sales": GOLD})]
    assert entries(7, {"bronze_sales": {}, "gold_sales": {}}) == []


def test_more_changed_rows_are_split_in_parts_of_part_rows_table_after_table(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(history, "PART_ROWS", 3)
    bronze = {**BRONZE, "2021-03-08\x1fcarrot": None}
    rows = entries(8, {"bronze_sales": bronze, "gold_sales": GOLD})
    assert parts(rows) == [
        (8, ALL_TABLES, "0", {"bronze_sales": bronze}),
        (8, ALL_TABLES, "1", {"gold_sales": GOLD}),
    ]
    monkeypatch.setattr(history, "PART_ROWS", 4)  # one row over
    assert [orjson.loads(row.row_values) for row in entries(8, {"bronze_sales": bronze, "gold_sales": GOLD})] == [
        {"bronze_sales": bronze, "gold_sales": {"2021-03\x1fcarrot": GOLD["2021-03\x1fcarrot"]}},
        {"gold_sales": {"2021-04\x1fcarrot": None}},
    ]
    monkeypatch.setattr(history, "PART_ROWS", 2)
    rows = entries(8, {"bronze_sales": bronze, "gold_sales": GOLD})
    assert parts(rows) == [
        (8, ALL_TABLES, "0", {"bronze_sales": BRONZE}),
        (
            8,
            ALL_TABLES,
            "1",
            {
                "bronze_sales": {"2021-03-08\x1fcarrot": None},
                "gold_sales": {"2021-03\x1fcarrot": GOLD["2021-03\x1fcarrot"]},
            },
        ),
        (8, ALL_TABLES, "2", {"gold_sales": {"2021-04\x1fcarrot": None}}),
    ]
    assert latest_states(rows) == ({"bronze_sales": bronze, "gold_sales": GOLD}, 5)
