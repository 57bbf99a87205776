"""What only the CSV backend promises: real CSV files, crash-safe commits, one process per folder."""

import csv
import os

import pytest

from vegsales.pipeline import ingest
from vegsales.storage import StorageError
from vegsales.storage.csv import COMMIT, NEW_COMMIT, BadFile, CsvStore
from vegsales.tables import BronzeRow
from vegsales.vegetables import Vocabulary

VOCABULARY = Vocabulary.load()
HEADERS = {
    "bronze.csv": "date,vegetable,kilo_sold\n",
    "silver.csv": "date,vegetable,kilo_sold,raw_vegetable\n",
    "gold.csv": "year_month,vegetable,kilo_sold,is_outlier\n",
}


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "csv"


@pytest.fixture
def store(folder):
    store = CsvStore(folder)
    yield store
    store.close()


def read(folder, name):
    return (folder / name).read_text(encoding="utf-8")


def sale(date, vegetable, kilos):
    return {"date": date, "vegetable": vegetable, "kilo_sold": kilos}


def test_a_new_folder_gets_three_files_with_headers(store, folder):
    assert {name: read(folder, name) for name in HEADERS} == HEADERS


def test_a_post_writes_the_three_tables_as_sorted_csv(store, folder):
    ingest(store, VOCABULARY, [sale("2020-01-27", "tomatto", 7), sale("2020-01-27", "Tomate", 70)])
    assert read(folder, "bronze.csv") == HEADERS["bronze.csv"] + "2020-01-27,Tomate,70.0\n2020-01-27,tomatto,7.0\n"
    assert read(folder, "silver.csv") == (
        HEADERS["silver.csv"] + "2020-01-27,tomato,70.0,Tomate\n2020-01-27,tomato,7.0,tomatto\n"
    )
    assert read(folder, "gold.csv") == (HEADERS["gold.csv"] + "2020-01,tomato,55.0,false\n2020-02,tomato,22.0,false\n")


def test_a_corrected_record_replaces_its_line(store, folder):
    ingest(store, VOCABULARY, [sale("2020-01-06", "Tomate", 70)])
    ingest(store, VOCABULARY, [sale("2020-01-06", "Tomate", 7.5)])
    assert read(folder, "bronze.csv") == HEADERS["bronze.csv"] + "2020-01-06,Tomate,7.5\n"


def test_names_with_commas_quotes_and_newlines_survive_the_files(folder):
    name = 'Tomate, "ronde"\nde saison'
    store = CsvStore(folder)
    with store.write() as transaction:
        transaction.put_bronze([BronzeRow("2020-01-06", name, 1.0)])
    store.close()
    with open(folder / "bronze.csv", newline="", encoding="utf-8") as file:
        assert list(csv.reader(file)) == [["date", "vegetable", "kilo_sold"], ["2020-01-06", name, "1.0"]]
    reopened = CsvStore(folder)
    assert reopened.bronze_changes(None).rows == [BronzeRow("2020-01-06", name, 1.0)]
    reopened.close()


def test_init_leaves_only_the_headers(store, folder):
    ingest(store, VOCABULARY, [sale("2020-01-06", "Tomate", 70)])
    store.init()
    assert {name: read(folder, name) for name in HEADERS} == HEADERS


def test_a_second_store_on_the_same_folder_is_refused(store, folder):
    with pytest.raises(StorageError, match=r"in use by another vegsales process \(pid \d+\)"):
        CsvStore(folder)


def test_the_folder_is_free_again_once_the_store_is_closed(folder):
    CsvStore(folder).close()
    CsvStore(folder).close()


def test_a_commit_that_reached_its_commit_point_is_rolled_forward(store, folder):
    ingest(store, VOCABULARY, [sale("2020-01-06", "Tomate", 70)])
    store.close()
    # A crash after the commit point, with bronze already moved and silver/gold not yet.
    committed = folder / COMMIT
    committed.mkdir()
    (committed / "silver.csv").write_text(HEADERS["silver.csv"] + "2020-01-06,tomato,5.0,Tomate\n")
    (committed / "gold.csv").write_text(HEADERS["gold.csv"] + "2020-01,tomato,5.0,false\n")
    (folder / "bronze.csv").write_text(HEADERS["bronze.csv"] + "2020-01-06,Tomate,5.0\n")
    recovered = CsvStore(folder)
    assert not committed.exists()
    assert read(folder, "silver.csv").endswith("2020-01-06,tomato,5.0,Tomate\n")
    assert recovered.gold_changes(None).rows[0].kilo_sold == 5.0
    recovered.close()


def test_a_commit_that_did_not_reach_its_commit_point_is_dropped(store, folder):
    ingest(store, VOCABULARY, [sale("2020-01-06", "Tomate", 70)])
    store.close()
    (folder / NEW_COMMIT).mkdir()
    (folder / NEW_COMMIT / "bronze.csv").write_text(HEADERS["bronze.csv"] + "2020-01-06,Tom")
    recovered = CsvStore(folder)
    assert not (folder / NEW_COMMIT).exists()
    assert recovered.bronze_changes(None).rows == [BronzeRow("2020-01-06", "Tomate", 70.0)]
    recovered.close()


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        ("bronze.csv", "date,vegetable\n", r"bronze.csv, line 1: header must be date,vegetable,kilo_sold"),
        ("bronze.csv", "date,vegetable,kilo_sold\n2020-01-06,Tomate,1\n2020-01-13,Tomate\n", r"line 3: expected 3"),
        ("bronze.csv", "date,vegetable,kilo_sold\n2020-01-06,Tomate,abc\n", r"bronze.csv, line 2: could not convert"),
        ("bronze.csv", "date,vegetable,kilo_sold\n2020-01-06,Tomate,-1\n", r"line 2: kilo_sold must be a finite"),
        ("bronze.csv", "date,vegetable,kilo_sold\n06/01/2020,Tomate,1\n", r"line 2: unexpected value '06/01/2020'"),
        ("bronze.csv", "date,vegetable,kilo_sold\n2020-01-06,A,1\n2020-01-06,A,2\n", r"line 3: duplicate of line 2"),
        ("bronze.csv", 'date,vegetable,kilo_sold\n2020-01-06,"A,1\n', r"bronze.csv, line \d+: unexpected end"),
        ("gold.csv", "year_month,vegetable,kilo_sold,is_outlier\n2020-01,tomato,1,maybe\n", r"gold.csv, line 2"),
    ],
)
def test_a_bad_line_stops_start_up_naming_file_and_line(store, folder, file, text, message):
    store.close()
    (folder / file).write_text(text, encoding="utf-8")
    with pytest.raises(BadFile, match=message):
        CsvStore(folder)
    CsvStore(folder / "other").close()  # the failed start released nothing it should keep


def test_a_folder_missing_one_table_is_refused(store, folder):
    store.close()
    (folder / "gold.csv").unlink()
    with pytest.raises(BadFile, match=r"holds bronze\.csv, silver\.csv but not gold\.csv"):
        CsvStore(folder)


def disk_full(*args, **kwargs):
    raise OSError(28, "No space left on device")


def test_a_failed_file_write_stores_nothing_and_stops_writes_until_restart(store, folder, monkeypatch):
    ingest(store, VOCABULARY, [sale("2020-01-06", "Tomate", 70)])

    monkeypatch.setattr("builtins.open", disk_full)
    with pytest.raises(StorageError, match="No space left on device"):
        ingest(store, VOCABULARY, [sale("2020-01-13", "Tomate", 1)])
    monkeypatch.undo()
    assert store.bronze_changes(None).rows == [BronzeRow("2020-01-06", "Tomate", 70.0)]
    with pytest.raises(StorageError, match="stopped writing after an I/O error"):
        ingest(store, VOCABULARY, [sale("2020-01-20", "Tomate", 2)])
    with pytest.raises(StorageError, match="restart it"):
        store.check()
    store.close()
    restarted = CsvStore(folder)
    assert restarted.bronze_changes(None).rows == [BronzeRow("2020-01-06", "Tomate", 70.0)]
    assert ingest(restarted, VOCABULARY, [sale("2020-01-13", "Tomate", 2)]).inserted == 1
    assert read(folder, "bronze.csv").endswith("2020-01-06,Tomate,70.0\n2020-01-13,Tomate,2.0\n")
    restarted.close()


def test_a_commit_that_cannot_move_its_files_is_kept_and_finished_at_restart(store, folder, monkeypatch):
    real_replace = os.replace

    def fail_for_silver(source, target):
        if str(target).endswith("silver.csv"):
            raise OSError(5, "Input/output error")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", fail_for_silver)
    report = ingest(store, VOCABULARY, [sale("2020-01-06", "Tomate", 70)])
    monkeypatch.undo()
    assert report.inserted == 1  # committed: durable in .commit/
    assert store.bronze_changes(None).rows == [BronzeRow("2020-01-06", "Tomate", 70.0)]
    with pytest.raises(StorageError, match="stopped writing"):
        ingest(store, VOCABULARY, [sale("2020-01-13", "Tomate", 1)])
    store.close()
    restarted = CsvStore(folder)
    assert not (folder / COMMIT).exists()
    assert read(folder, "silver.csv").endswith("2020-01-06,tomato,70.0,Tomate\n")
    assert [row.kilo_sold for row in restarted.gold_changes(None).rows] == [70.0]
    restarted.close()


def test_a_failed_init_keeps_the_data(store, folder, monkeypatch):
    ingest(store, VOCABULARY, [sale("2020-01-06", "Tomate", 70)])

    monkeypatch.setattr("builtins.open", disk_full)
    with pytest.raises(StorageError, match="No space left on device"):
        store.init()
    monkeypatch.undo()
    assert store.bronze_changes(None).rows == [BronzeRow("2020-01-06", "Tomate", 70.0)]
    assert read(folder, "bronze.csv").endswith("2020-01-06,Tomate,70.0\n")
    assert ingest(store, VOCABULARY, [sale("2020-01-13", "Tomate", 1)]).inserted == 1
