"""What only the CSV backend promises: real CSV files, crash-safe commits, one process per folder."""

import contextlib
import csv
import os
import threading

import orjson
import pytest

from tests.conftest import RECEIVED, bronze
from vegsales.pipeline import ingest
from vegsales.silver import FeedRules
from vegsales.storage import StorageError
from vegsales.storage.csv import CsvStore
from vegsales.storage.csv_format import BadFile
from vegsales.storage.folder_commit import COMMIT, NEW_COMMIT

RULES = FeedRules()
HEADERS = {
    "bronze.csv": "date,vegetable,kilo_sold,week_start,received_at\n",
    "silver.csv": "week_start,vegetable,kilo_sold,raw_vegetable,date\n",
    "gold.csv": "year_month,vegetable,kilo_sold,is_outlier\n",
    "rejected.csv": "record_hash,record,truncated,errors,first_received,last_received,times\n",
    "meta.csv": "key,value\nschema_version,5\n",
    "versions.csv": "data_version,committed_at,operation,request_ids,inserted,updated,deleted,months_changed\n",
    "history.csv": "data_version,table_name,row_key,row_values\n",
}


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "csv"


@pytest.fixture
def store(folder):
    store = CsvStore(folder)
    yield store
    store.close()


def row_states(history) -> list[tuple[int, str, str]]:
    """(version, table, row key) of each row state the history rows hold."""
    return sorted(
        (row.data_version, table, key)
        for row in history
        for table, rows in orjson.loads(row.row_values).items()
        for key in rows
    )


def read(folder, name):
    return (folder / name).read_text(encoding="utf-8")


def sale(date, vegetable, kilos):
    return {"date": date, "vegetable": vegetable, "kilo_sold": kilos}


def test_a_new_folder_gets_a_file_per_table_with_its_header(store, folder):
    assert {name: read(folder, name) for name in HEADERS} == HEADERS
    assert sorted(path.name for path in folder.iterdir()) == sorted([*HEADERS, "vegsales.lock"])


def test_a_post_writes_the_tables_as_sorted_csv(store, folder):
    records = [sale("2020-W05", "tomatto", 7), sale("2020-01-27", "Tomate", 70), sale("2020-01-27", "mango", 1)]
    ingest(store, RULES, records, received_at=RECEIVED)
    assert read(folder, "bronze.csv") == HEADERS["bronze.csv"] + (
        f"2020-01-27,Tomate,70.0,2020-01-27,{RECEIVED}\n2020-W05,tomatto,7.0,2020-01-27,{RECEIVED}\n"
    )
    assert read(folder, "silver.csv") == (
        HEADERS["silver.csv"] + "2020-01-27,tomato,70.0,Tomate,2020-01-27\n2020-01-27,tomato,7.0,tomatto,2020-W05\n"
    )
    assert read(folder, "gold.csv") == (HEADERS["gold.csv"] + "2020-01,tomato,55.0,false\n2020-02,tomato,22.0,false\n")
    assert list(csv.reader(read(folder, "rejected.csv").splitlines())) == [
        HEADERS["rejected.csv"].strip().split(","),
        [
            "9d6539a391f6e0685322639b90e2de7d",
            '{"date":"2020-01-27","vegetable":"mango","kilo_sold":1}',
            "false",
            '[{"field":"vegetable","code":"unknown_vegetable",'
            '"message":"unknown vegetable \'mango\'; closest: mushroom (60%), apple (43%)"}]',
            RECEIVED,
            RECEIVED,
            "1",
        ],
    ]
    # the post's data version, 1, with the rows it wrote, in one line: by table, then by key (the key's
    # values joined by U+001F, which JSON writes \u001f), each as its fields; a bronze row's followed by
    # the vegetable its name was read as (its silver row)
    tomatto, tomate = '""2020-01-27\\u001ftomatto""', '""2020-01-27\\u001fTomate""'
    assert read(folder, "history.csv") == HEADERS["history.csv"] + (
        f'1,sales,0,"{{""bronze_sales"":{{{tomatto}:[""2020-W05"",""tomatto"",7.0,""2020-01-27"",""{RECEIVED}"",""tomato""],'
        f'{tomate}:[""2020-01-27"",""Tomate"",70.0,""2020-01-27"",""{RECEIVED}"",""tomato""]}},'
        '""gold_sales"":{""2020-01\\u001ftomato"":[""2020-01"",""tomato"",55.0,false],'
        '""2020-02\\u001ftomato"":[""2020-02"",""tomato"",22.0,false]}}"\n'
    )


def test_a_corrected_record_replaces_its_line(store, folder):
    ingest(store, RULES, [sale("2020-01-06", "Tomate", 70)], received_at=RECEIVED)
    ingest(store, RULES, [sale("2020-01-06", "Tomate", 7.5)], received_at=RECEIVED)
    assert read(folder, "bronze.csv") == HEADERS["bronze.csv"] + f"2020-01-06,Tomate,7.5,2020-01-06,{RECEIVED}\n"


def test_names_with_commas_quotes_and_newlines_survive_the_files(folder):
    name = 'Tomate, "ronde"\nde saison'
    store = CsvStore(folder)
    with store.write() as transaction:
        transaction.put_bronze([bronze("2020-01-06", name, 1.0)])
    store.close()
    with open(folder / "bronze.csv", newline="", encoding="utf-8") as file:
        assert list(csv.reader(file)) == [
            ["date", "vegetable", "kilo_sold", "week_start", "received_at"],
            ["2020-01-06", name, "1.0", "2020-01-06", RECEIVED],
        ]
    reopened = CsvStore(folder)
    assert reopened.bronze_changes(None).rows == [bronze("2020-01-06", name, 1.0)]
    reopened.close()


def test_init_leaves_only_the_headers(store, folder):
    ingest(store, RULES, [sale("2020-01-06", "Tomate", 70), sale("2020-01-06", "mango", 1)])
    store.init()
    assert {name: read(folder, name) for name in HEADERS} == HEADERS


def test_a_second_store_on_the_same_folder_is_refused(store, folder):
    with pytest.raises(StorageError, match=r"in use by another vegsales process \(pid \d+\)"):
        CsvStore(folder)


def test_the_folder_is_free_again_once_the_store_is_closed(folder):
    CsvStore(folder).close()
    CsvStore(folder).close()


def test_a_commit_that_reached_its_commit_point_is_rolled_forward(store, folder):
    ingest(store, RULES, [sale("2020-01-06", "Tomate", 70)])
    store.close()
    # A crash after the commit point, with bronze already moved and silver/gold not yet.
    committed = folder / COMMIT
    committed.mkdir()
    (committed / "silver.csv").write_text(HEADERS["silver.csv"] + "2020-01-06,tomato,5.0,Tomate,2020-01-06\n")
    (committed / "gold.csv").write_text(HEADERS["gold.csv"] + "2020-01,tomato,5.0,false\n")
    (folder / "bronze.csv").write_text(HEADERS["bronze.csv"] + f"2020-01-06,Tomate,5.0,2020-01-06,{RECEIVED}\n")
    recovered = CsvStore(folder)
    assert not committed.exists()
    assert read(folder, "silver.csv").endswith("2020-01-06,tomato,5.0,Tomate,2020-01-06\n")
    assert recovered.gold_changes(None).rows[0].kilo_sold == 5.0
    recovered.close()


def test_a_commit_that_did_not_reach_its_commit_point_is_dropped(store, folder):
    ingest(store, RULES, [sale("2020-01-06", "Tomate", 70)], received_at=RECEIVED)
    store.close()
    (folder / NEW_COMMIT).mkdir()
    (folder / NEW_COMMIT / "bronze.csv").write_text(HEADERS["bronze.csv"] + "2020-01-06,Tom")
    recovered = CsvStore(folder)
    assert not (folder / NEW_COMMIT).exists()
    assert recovered.bronze_changes(None).rows == [bronze("2020-01-06", "Tomate", 70.0)]
    recovered.close()


BRONZE, REJECTED = HEADERS["bronze.csv"], HEADERS["rejected.csv"]


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        (
            "bronze.csv",
            "date,vegetable\n",
            r"bronze.csv, line 1: header must be date,vegetable,kilo_sold,week_start,received_at",
        ),
        ("bronze.csv", f"{BRONZE}2020-01-06,Tomate,1,2020-01-06,t\n2020-01-13,Tomate\n", r"line 3: expected 5"),
        ("bronze.csv", f"{BRONZE}2020-01-06,Tomate,abc,2020-01-06,t\n", r"bronze.csv, line 2: could not convert"),
        ("bronze.csv", f"{BRONZE}2020-01-06,Tomate,-1,2020-01-06,t\n", r"line 2: kilo_sold must be a finite"),
        ("bronze.csv", f"{BRONZE}2020-01-06,Tomate,1,06/01/2020,t\n", r"line 2: unexpected value '06/01/2020'"),
        (
            "bronze.csv",
            f"{BRONZE}2020-01-06,A,1,2020-01-06,t\n2020-W02,A,2,2020-01-06,t\n",
            r"line 3: duplicate of line 2",
        ),
        ("bronze.csv", f'{BRONZE}2020-01-06,"A,1\n', r"bronze.csv, line \d+: unexpected end"),
        ("gold.csv", "year_month,vegetable,kilo_sold,is_outlier\n2020-01,tomato,1,maybe\n", r"gold.csv, line 2"),
        ("rejected.csv", f"{REJECTED}abc,{{}},false,[],t,t,0\n", r"rejected.csv, line 2: expected a count >= 1"),
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
    with pytest.raises(
        BadFile,
        match=r"holds bronze\.csv, silver\.csv, rejected\.csv, meta\.csv, versions\.csv, history\.csv "
        r"but not gold\.csv",
    ):
        CsvStore(folder)


def test_a_folder_missing_its_settings_is_refused_not_taken_for_version_1(store, folder):
    store.close()
    (folder / "meta.csv").unlink()
    with pytest.raises(
        BadFile,
        match=r"holds bronze\.csv, silver\.csv, gold\.csv, rejected\.csv, versions\.csv, history\.csv "
        r"but not meta\.csv",
    ):
        CsvStore(folder)


def disk_full(*args, **kwargs):
    raise OSError(28, "No space left on device")


def test_a_failed_file_write_stores_nothing_and_the_next_post_is_written(store, folder, monkeypatch):
    ingest(store, RULES, [sale("2020-01-06", "Tomate", 70)], received_at=RECEIVED)

    monkeypatch.setattr("builtins.open", disk_full)
    with pytest.raises(StorageError, match="No space left on device"):
        ingest(store, RULES, [sale("2020-01-13", "Tomate", 1), sale("2020-01-06", "mango", 1)])
    monkeypatch.undo()
    assert store.bronze_changes(None).rows == [bronze("2020-01-06", "Tomate", 70.0)]
    assert store.rejected_sales(limit=10) == ([], 0)
    assert sorted(path.name for path in folder.iterdir()) == sorted([*HEADERS, "vegsales.lock"])
    store.check()
    assert ingest(store, RULES, [sale("2020-01-20", "Tomate", 2)], received_at=RECEIVED).inserted == 1
    assert read(folder, "bronze.csv") == BRONZE + (
        f"2020-01-06,Tomate,70.0,2020-01-06,{RECEIVED}\n2020-01-20,Tomate,2.0,2020-01-20,{RECEIVED}\n"
    )
    assert read(folder, "rejected.csv") == REJECTED
    history = [  # the failed post's version left no row: the next post took its number
        (1, "bronze_sales", "2020-01-06\x1fTomate"),
        (1, "gold_sales", "2020-01\x1ftomato"),
        (2, "bronze_sales", "2020-01-20\x1fTomate"),
        (2, "gold_sales", "2020-01\x1ftomato"),
    ]
    assert row_states(store.history(2)) == history
    store.close()
    restarted = CsvStore(folder)
    assert restarted.bronze_changes(None).rows == [
        bronze("2020-01-06", "Tomate", 70.0),
        bronze("2020-01-20", "Tomate", 2.0),
    ]
    assert row_states(restarted.history(2**62)) == history
    restarted.close()


def fail_to_move(name, monkeypatch):
    """os.replace fails for one table's file: a commit reaches its commit point, not its end."""
    real_replace = os.replace

    def replace(source, target):
        if str(target).endswith(name):
            raise OSError(5, "Input/output error")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)


def test_a_commit_that_cannot_move_its_files_is_kept_and_finished_at_restart(store, folder, monkeypatch):
    fail_to_move("silver.csv", monkeypatch)
    report = ingest(store, RULES, [sale("2020-01-06", "Tomate", 70)], received_at=RECEIVED)
    monkeypatch.undo()
    assert report.inserted == 1  # committed: durable in .commit/
    assert store.bronze_changes(None).rows == [bronze("2020-01-06", "Tomate", 70.0)]
    store.close()
    restarted = CsvStore(folder)
    assert not (folder / COMMIT).exists()
    assert read(folder, "silver.csv").endswith("2020-01-06,tomato,70.0,Tomate,2020-01-06\n")
    assert [row.kilo_sold for row in restarted.gold_changes(None).rows] == [70.0]
    restarted.close()


def test_a_commit_that_cannot_move_its_files_is_finished_before_the_next_one(store, folder, monkeypatch):
    fail_to_move("silver.csv", monkeypatch)
    assert ingest(store, RULES, [sale("2020-01-06", "Tomate", 70)], received_at=RECEIVED).inserted == 1
    with pytest.raises(StorageError, match="Input/output error"):  # still cannot move it: nothing more stored
        ingest(store, RULES, [sale("2020-01-13", "Tomate", 1)], received_at=RECEIVED)
    assert store.bronze_changes(None).rows == [bronze("2020-01-06", "Tomate", 70.0)]
    monkeypatch.undo()
    assert ingest(store, RULES, [sale("2020-01-13", "Tomate", 1)], received_at=RECEIVED).inserted == 1
    assert not (folder / COMMIT).exists()
    assert read(folder, "silver.csv") == HEADERS["silver.csv"] + (
        "2020-01-06,tomato,70.0,Tomate,2020-01-06\n2020-01-13,tomato,1.0,Tomate,2020-01-13\n"
    )
    assert read(folder, "gold.csv") == HEADERS["gold.csv"] + "2020-01,tomato,71.0,false\n"


def test_a_failed_init_keeps_the_data(store, folder, monkeypatch):
    ingest(store, RULES, [sale("2020-01-06", "Tomate", 70)], received_at=RECEIVED)

    monkeypatch.setattr("builtins.open", disk_full)
    with pytest.raises(StorageError, match="No space left on device"):
        store.init()
    monkeypatch.undo()
    assert store.bronze_changes(None).rows == [bronze("2020-01-06", "Tomate", 70.0)]
    assert read(folder, "bronze.csv").endswith(f"2020-01-06,Tomate,70.0,2020-01-06,{RECEIVED}\n")
    assert ingest(store, RULES, [sale("2020-01-13", "Tomate", 1)]).inserted == 1


def test_the_folder_never_holds_more_than_the_tables_and_one_commit_in_progress(store, folder):
    tables = {
        *("bronze.csv", "silver.csv", "gold.csv", "rejected.csv", "meta.csv", "versions.csv", "history.csv"),
        "vegsales.lock",
    }
    seen, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            with contextlib.suppress(FileNotFoundError):  # a commit folder renamed while listed
                seen.append({path.name for path in folder.iterdir()})

    watcher = threading.Thread(target=watch)
    watcher.start()
    for week in range(60):
        ingest(store, RULES, [sale(f"2020-W{1 + week % 52:02d}", "Tomate", week), sale("2020-01-06", "mango", week)])
    stop.set()
    watcher.join()
    assert len(seen) > 10
    assert all(names - tables in (set(), {COMMIT}, {NEW_COMMIT}) for names in seen), [n - tables for n in seen]
    assert {path.name for path in folder.iterdir()} == tables


def test_a_bulk_post_s_history_line_past_the_csv_module_s_field_limit_reads_back(store, folder):
    records = [
        sale(f"{1990 + week // 52}-W{week % 52 + 1:02d}", name, week)
        for week in range(1500)
        for name in ("Tomate", "Poire")
    ]
    ingest(store, RULES, records, received_at=RECEIVED)
    field = read(folder, "history.csv").splitlines()[1]
    assert len(field) > 131_072  # the csv module's default limit
    history = store.history(2**62)
    store.close()
    restarted = CsvStore(folder)
    assert restarted.history(2**62) == history
    assert len(restarted.bronze_changes(None).rows) == 3000
    restarted.close()
