"""The table declarations (storage/schema.py) and what is generated from them, checked against
statements and headers written out by hand."""

from dataclasses import dataclass

import pytest

from vegsales.rows import BronzeRow, GoldRow, Setting, SilverRow
from vegsales.storage.csv_format import FORMATS
from vegsales.storage.generated import key_function, rows_reader, values_lists
from vegsales.storage.postgres import PUT_GOLD as POSTGRES_PUT_GOLD
from vegsales.storage.schema import BRONZE_SALES, GOLD_SALES, ROW_HISTORY, SILVER_SALES, STORE_META, Column, Table, Type
from vegsales.storage.sql import create_table, upsert_values
from vegsales.storage.sqlite import SQLITE


@dataclass
class Pair:
    left: str
    right: float

    @property
    def key(self) -> str:
        return self.left


@pytest.mark.parametrize(
    "columns, key, problem",
    [
        pytest.param(
            (Column("left", Type.TEXT), Column("other", Type.KILOS)), ("left",), "has fields", id="a_field_not_a_column"
        ),
        pytest.param(
            (Column("left", Type.TEXT), Column("right", Type.TEXT)),
            ("left",),
            "has fields",
            id="a_field_of_another_type",
        ),
        pytest.param(
            (Column("left", Type.TEXT), Column("right", Type.KILOS)), ("right",), r"key is not", id="another_key"
        ),
    ],
)
def test_a_table_that_does_not_match_its_row_class_is_refused(columns, key, problem):
    with pytest.raises(TypeError, match=problem):
        Table("pairs", columns, key=key, row=Pair)


def test_a_change_seq_column_is_in_no_row():
    table = Table(
        "pairs", (Column("right", Type.KILOS), Column("left", Type.TEXT), Column("seq", Type.SEQ)), ("left",), row=Pair
    )
    assert [column.name for column in table.row_columns] == ["left", "right"]


def test_the_sqlite_ddl_of_bronze():
    assert create_table(BRONZE_SALES, SQLITE) == (
        "CREATE TABLE bronze_sales (\n"
        "    week_start TEXT NOT NULL,\n"
        "    vegetable TEXT NOT NULL,\n"
        "    date TEXT NOT NULL,\n"
        "    kilo_sold REAL NOT NULL,\n"
        "    received_at TEXT NOT NULL,\n"
        "    change_seq INTEGER NOT NULL,\n"
        "    PRIMARY KEY (vegetable, week_start)\n"
        ") WITHOUT ROWID"
    )


def test_the_sqlite_ddl_of_the_row_history_keys_it_by_version_first():
    assert create_table(ROW_HISTORY, SQLITE) == (
        "CREATE TABLE row_history (\n"
        "    data_version INTEGER NOT NULL,\n"
        "    table_name TEXT NOT NULL,\n"
        "    row_key TEXT NOT NULL,\n"
        "    row_values TEXT NOT NULL,\n"
        "    PRIMARY KEY (data_version, table_name, row_key)\n"
        ") WITHOUT ROWID"
    )


def test_the_upserts_name_every_column_and_update_all_but_the_key():
    assert upsert_values(BRONZE_SALES, SQLITE) == (
        "INSERT INTO bronze_sales (date, vegetable, kilo_sold, week_start, received_at, change_seq) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (vegetable, week_start) DO UPDATE SET date = excluded.date, "
        "kilo_sold = excluded.kilo_sold, received_at = excluded.received_at, change_seq = excluded.change_seq"
    )
    assert POSTGRES_PUT_GOLD == (
        "INSERT INTO gold_sales (year_month, vegetable, kilo_sold, is_outlier, change_seq) "
        "SELECT *, %s FROM unnest(%s::text[], %s::text[], %s::double precision[], %s::boolean[]) "
        "ON CONFLICT (vegetable, year_month) DO UPDATE SET kilo_sold = excluded.kilo_sold, "
        "is_outlier = excluded.is_outlier, change_seq = excluded.change_seq"
    )


def test_each_csv_file_has_the_columns_of_its_row_in_the_row_order():
    assert {name: (table.file_name, ",".join(table.header)) for name, table in FORMATS.items()} == {
        "bronze_sales": ("bronze.csv", "date,vegetable,kilo_sold,week_start,received_at"),
        "silver_sales": ("silver.csv", "week_start,vegetable,kilo_sold,raw_vegetable,date"),
        "gold_sales": ("gold.csv", "year_month,vegetable,kilo_sold,is_outlier"),
        "rejected_sales": ("rejected.csv", "record_hash,record,truncated,errors,first_received,last_received,times"),
        "store_meta": ("meta.csv", "key,value"),
        "data_versions": (
            "versions.csv",
            "data_version,committed_at,operation,request_ids,inserted,updated,deleted,months_changed",
        ),
        "row_history": ("history.csv", "data_version,table_name,row_key,row_values"),
    }


@pytest.mark.parametrize(
    "flags_as_integers, skipped, given, value_tuples, expected",
    [
        pytest.param(
            True, 0, (), [("2020-01", "tomato", 1.5, 1)], [GoldRow("2020-01", "tomato", 1.5, True)], id="sqlite_flag"
        ),
        pytest.param(
            False, 0, (), [("2020-01", "tomato", 1.5, False)], [GoldRow("2020-01", "tomato", 1.5, False)], id="bool"
        ),
        pytest.param(
            True, 2, (), [(7, 3, "2020-02", "leek", 2.0, 0)], [GoldRow("2020-02", "leek", 2.0, False)], id="changes"
        ),
        pytest.param(
            True,
            0,
            ("vegetable",),
            [("2020-03", 3.0, 0), ("2020-04", 4.0, 1)],
            [GoldRow("2020-03", "leek", 3.0, False), GoldRow("2020-04", "leek", 4.0, True)],
            id="of_one_vegetable",
        ),
    ],
)
def test_the_rows_read_back(flags_as_integers, skipped, given, value_tuples, expected):
    read = rows_reader(GOLD_SALES, flags_as_integers, skipped, given)
    rows = read(value_tuples, *(["leek"] if given else []))
    assert rows == expected
    assert all(isinstance(row.is_outlier, bool) for row in rows)


def test_the_key_of_a_row_is_the_row_class_key():
    silver = SilverRow("2020-01-06", "tomato", 1.0, "Tomate", "2020-W02")
    assert key_function(SILVER_SALES)(silver) == ("2020-01-06", "Tomate")
    assert key_function(STORE_META)(Setting("week_date", "start")) == "week_date"
    assert values_lists(BRONZE_SALES, after="seq")([bronze_row()], 9) == [
        ("2020-W02", "Tomate", 1.0, "2020-01-06", "2026-01-01T00:00:00.000000Z", 9)
    ]


def bronze_row() -> BronzeRow:
    return BronzeRow("2020-W02", "Tomate", 1.0, "2020-01-06", "2026-01-01T00:00:00.000000Z")
