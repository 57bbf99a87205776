"""The CSV store's appended lines: a large file takes the changed rows' lines at its end, a commit
record in meta.csv makes them count, and a crash at any point leaves a folder that opens as it was
before the commit or after it."""

import csv
import datetime as dt
import errno
import itertools
import os
import re
import shutil
import zlib
from pathlib import Path

import pytest

from tests.conftest import RECEIVED, bronze, sale
from vegsales.pipeline import ingest
from vegsales.rows import GoldRow
from vegsales.silver import FeedRules
from vegsales.storage import StorageError
from vegsales.storage import csv_files as csv_files_module
from vegsales.storage.csv import LOCK_FILE, CsvStore
from vegsales.storage.csv_files import APPEND_FROM
from vegsales.storage.csv_format import BadFile

RULES = FeedRules()
LATER = "2026-02-01T00:00:00.000000Z"
BRONZE_HEADER = "date,vegetable,kilo_sold,week_start,received_at\n"
SILVER_HEADER = "week_start,vegetable,kilo_sold,raw_vegetable,date\n"
WEEKS = 300
"""Weeks of tomato sales: a bronze.csv of 18,600 bytes, over APPEND_FROM; silver.csv (12,300) stays under."""


def week(number: int) -> str:
    """The Monday `number` weeks after 2020-01-06."""
    return (dt.date(2020, 1, 6) + dt.timedelta(weeks=number)).isoformat()


def bronze_line(number: int, kilos: float, received_at: str = RECEIVED) -> str:
    return f"{week(number)},Tomate,{kilos},{week(number)},{received_at}\n"


def silver_line(number: int, kilos: float) -> str:
    return f"{week(number)},tomato,{kilos},Tomate,{week(number)}\n"


def read(folder, name: str) -> str:
    return (folder / name).read_text(encoding="utf-8")


def settings(folder) -> list[str]:
    """meta.csv's lines but its commit records, each setting once: as a folder at rest holds it."""
    lines = read(folder, "meta.csv").splitlines(keepends=True)
    assert lines[0] == "key,value\n"
    kept = [line for line in lines if not line.startswith("commit,")]
    assert len({line.split(",")[0] for line in kept}) == len(kept)
    return kept


def copy_of(folder, tmp_path, name: str):
    """The folder as a crash would leave it now (the lock file left out: it is held)."""
    copy = tmp_path / name
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(LOCK_FILE))
    return copy


def filled(folder) -> CsvStore:
    store = CsvStore(folder)
    ingest(store, RULES, [sale(week(n), "Tomate", 10.0) for n in range(WEEKS)], received_at=RECEIVED)
    return store


def test_a_large_file_takes_changed_rows_as_appended_lines_and_a_crash_copy_reads_their_last_line(folder, tmp_path):
    store = filled(folder)
    whole, whole_silver = read(folder, "bronze.csv"), read(folder, "silver.csv")
    assert whole == BRONZE_HEADER + "".join(bronze_line(n, 10.0) for n in range(WEEKS))
    assert whole_silver == SILVER_HEADER + "".join(silver_line(n, 10.0) for n in range(WEEKS))
    assert len(whole.encode()) >= APPEND_FROM > len(whole_silver.encode())

    ingest(store, RULES, [sale(week(3), "Tomate", 7.5)], received_at=LATER)
    ingest(store, RULES, [sale(week(3), "Tomate", 8.5), sale(week(WEEKS), "Tomate", 1.0)], received_at=LATER)

    appended = bronze_line(3, 7.5, LATER) + bronze_line(3, 8.5, LATER) + bronze_line(WEEKS, 1.0, LATER)
    assert read(folder, "bronze.csv") == whole + appended
    # silver.csv, under APPEND_FROM, takes its lines appended too: the commits append anyway
    appended_silver = silver_line(3, 7.5) + silver_line(3, 8.5) + silver_line(WEEKS, 1.0)
    assert read(folder, "silver.csv") == whole_silver + appended_silver
    record = read(folder, "meta.csv").splitlines(keepends=True)[-1]
    entry = r"(\d+):[0-9a-f]{8}"
    files = ("bronze", "gold", "history", "silver", "versions")
    match = re.fullmatch("commit," + " ".join(rf"{name}\.csv:{entry}" for name in files) + "\n", record)
    assert match
    assert (int(match[1]), int(match[4])) == (len((whole + appended).encode()), len(whole_silver + appended_silver))
    assert int(match[3]) == len(read(folder, "history.csv").encode())

    expected = [bronze(week(n), "Tomate", 10.0) for n in range(WEEKS)]
    expected.append(bronze(week(WEEKS), "Tomate", 1.0, None, LATER))
    expected[3] = bronze(week(3), "Tomate", 8.5, None, LATER)
    crashed = copy_of(folder, tmp_path, "crashed")
    reopened = CsvStore(crashed)
    assert reopened.bronze_changes(None).rows == expected
    canonical = BRONZE_HEADER + "".join(
        bronze_line(n, 8.5 if n == 3 else 10.0, LATER if n == 3 else RECEIVED) for n in range(WEEKS)
    )
    canonical += bronze_line(WEEKS, 1.0, LATER)
    assert read(crashed, "bronze.csv") == canonical  # compacted at start-up
    assert "commit," not in read(crashed, "meta.csv") and settings(crashed)
    reopened.close()

    store.close()  # a clean stop leaves true tables too
    assert read(folder, "bronze.csv") == canonical
    assert "commit," not in read(folder, "meta.csv") and settings(folder)


def test_a_small_file_is_appended_to_with_a_large_one_rather_than_rewritten(folder, monkeypatch):
    store = filled(folder)
    ingest(store, RULES, [sale(week(3), "Tomate", 7.5)], received_at=LATER)  # the first appends
    rejected = read(folder, "rejected.csv")
    renames: list = []
    monkeypatch.setattr(os, "rename", lambda *args: renames.append(args))  # a folder commit would rename
    ingest(store, RULES, [sale(week(4), "Tomate", 7.5), sale(week(5), "mango", 1.0)], received_at=LATER)
    assert renames == []
    assert read(folder, "rejected.csv").startswith(rejected)
    (added,) = read(folder, "rejected.csv")[len(rejected) :].splitlines()
    assert '""vegetable"":""mango""' in added
    monkeypatch.undo()
    store.close()
    assert len(read(folder, "rejected.csv").splitlines()) == 2  # a true table again


def test_lines_after_the_last_commit_record_are_cut_at_start_up(folder, tmp_path):
    store = filled(folder)
    ingest(store, RULES, [sale(week(3), "Tomate", 7.5)], received_at=LATER)
    stored = sorted(store.bronze_changes(None).rows, key=lambda row: row.key)
    crashed = copy_of(folder, tmp_path, "crashed")
    store.close()
    # A commit killed after appending its lines, before its record: an update, a new key, a setting.
    with open(crashed / "bronze.csv", "a", encoding="utf-8") as file:
        file.write(bronze_line(3, 99.0, LATER) + bronze_line(WEEKS + 5, 99.0, LATER))
    with open(crashed / "meta.csv", "a", encoding="utf-8") as file:
        file.write("rejected_dropped,7\n")

    reopened = CsvStore(crashed)
    assert sorted(reopened.bronze_changes(None).rows, key=lambda row: row.key) == stored
    assert "rejected_dropped" not in reopened.meta()
    assert read(crashed, "bronze.csv") == BRONZE_HEADER + "".join(
        bronze_line(n, 7.5, LATER) if n == 3 else bronze_line(n, 10.0) for n in range(WEEKS)
    )
    assert "commit," not in read(crashed, "meta.csv") and "rejected_dropped" not in read(crashed, "meta.csv")
    reopened.close()


def test_a_file_changed_after_a_crash_stops_start_up_rather_than_lose_lines(folder, tmp_path):
    store = filled(folder)
    ingest(store, RULES, [sale(week(3), "Tomate", 7.5)], received_at=LATER)
    crashed = copy_of(folder, tmp_path, "crashed")
    store.close()
    text = read(crashed, "bronze.csv")
    (crashed / "bronze.csv").write_text(text.replace(bronze_line(3, 7.5, LATER), bronze_line(3, 75.0, LATER)))
    with pytest.raises(BadFile, match=r"bronze\.csv does not end as its last commit left it .* Remove the 'commit'"):
        CsvStore(crashed)
    assert read(crashed, "bronze.csv").endswith(bronze_line(3, 75.0, LATER))  # nothing cut


def test_init_on_a_folder_with_appended_lines_leaves_only_headers(folder):
    store = filled(folder)
    ingest(store, RULES, [sale(week(3), "Tomate", 7.5)], received_at=LATER)
    store.init()
    assert (read(folder, "bronze.csv"), read(folder, "silver.csv")) == (BRONZE_HEADER, SILVER_HEADER)
    assert "commit," not in read(folder, "meta.csv") and settings(folder)
    assert ingest(store, RULES, [sale(week(3), "Tomate", 7.5)], received_at=LATER).inserted == 1
    store.close()


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "csv"


@pytest.fixture
def small_pages(monkeypatch):
    """Every file appended to from 1 KiB, and pages of 1 KiB: appends that would cross one,
    meta.csv's page filling up and compactions all come within a few posts."""
    monkeypatch.setattr(csv_files_module, "APPEND_FROM", 1024)
    monkeypatch.setattr(csv_files_module, "PAGE", 1024)


SMALL = 200
"""Weeks of tomato sales for small pages: every file over 1 KiB, gold.csv's 47 months included."""


ALL_VERSIONS = 2**62


def reads(store: CsvStore) -> dict:
    with store.write() as transaction:  # silver is read in a transaction; this one writes nothing
        silver = transaction.silver_rows("tomato", "0001-01-01", "9999-12-31")
    return {
        "bronze": sorted(store.bronze_changes(None).rows, key=lambda row: row.key),
        "silver": silver,
        "gold": sorted(store.gold_changes(None).rows, key=lambda row: row.key),
        "rejected": store.rejected_sales(limit=1000),
        "meta": store.meta(),
        "data_version": store.data_version(),
        "versions": store.versions(ALL_VERSIONS),
        "history": sorted(store.history(ALL_VERSIONS), key=lambda row: row.key),
    }


def whole_lines(folder) -> None:
    """Every file of the folder parses as CSV, each line with its header's number of fields."""
    for path in folder.glob("*.csv"):
        text = path.read_text(encoding="utf-8")
        assert text.endswith("\n"), f"{path.name} ends mid-line"
        rows = list(csv.reader(text.splitlines(keepends=True), strict=True))
        assert all(len(row) == len(rows[0]) for row in rows), f"{path.name} has a half-written line"


POSTS = [
    [sale(week(n % SMALL), "Tomate", float(n))]
    for n in range(0, 300, 7)  # updates, one record each
] + [
    [sale(week(200), "Tomate", 5.0), sale(week(201), "Tomatte", 6.0)],  # new weeks, a second raw name
    [sale(week(202), "mango", 1.0)],  # quarantined: rejected.csv changes
    [sale(week(n), "Tomate", 1.5) for n in range(0, 40)],  # a large append: crosses pages
]


def test_a_crash_at_any_step_of_any_commit_leaves_the_state_before_it_or_after_it(small_pages, tmp_path):
    folder = tmp_path / "csv"
    store = CsvStore(folder)
    ingest(store, RULES, [sale(week(n), "Tomate", 10.0) for n in range(SMALL)], received_at=RECEIVED)
    snapshots: list[tuple[int, object]] = []
    steps = {"append": 0, "record": 0, "folder commit": 0}
    post_number = 0

    def snapshot() -> None:
        snapshots.append((post_number, copy_of(folder, tmp_path, f"snapshot-{len(snapshots)}")))

    def before(function, step=None):
        def call(*args):
            snapshot()
            if step:
                steps[step(*args)] += 1
            return function(*args)

        return call

    def written(descriptor, data, offset):
        page = csv_files_module.PAGE
        # history.csv only grows: its long lines may cross a page, a line a kill cuts short lying past
        # its committed length (the crash copies below check that start-up cuts it)
        if not os.readlink(f"/proc/self/fd/{descriptor}").endswith("history.csv"):
            assert offset // page == (offset + len(data) - 1) // page, "an append across a page: a kill may cut it"
        path = os.readlink(f"/proc/self/fd/{descriptor}")
        return "record" if path.endswith("meta.csv") else "append"

    states = [reads(store)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "pwrite", before(os.pwrite, written))
        patch.setattr(os, "rename", before(os.rename, lambda *args: "folder commit"))
        patch.setattr(os, "replace", before(os.replace))
        patch.setattr(os, "rmdir", before(os.rmdir))
        for post_number, records in enumerate(POSTS):
            ingest(store, RULES, records, received_at=f"2026-02-01T00:00:{post_number:02d}.000000Z")
            states.append(reads(store))
    store.close()
    assert all(count > 3 for count in steps.values()), steps  # every way of committing was taken

    for number, copy in snapshots:
        whole_lines(copy)  # as any reader finds the folder at that moment
        reopened = CsvStore(copy)
        assert reads(reopened) in (states[number], states[number + 1]), f"snapshot {number}"
        reopened.close()
        whole_lines(copy)
        assert "commit," not in read(copy, "meta.csv")  # compacted: true tables again


def test_a_file_is_compacted_before_its_appended_lines_outgrow_it(monkeypatch, folder):
    monkeypatch.setattr(csv_files_module, "APPEND_FROM", 1024)
    monkeypatch.setattr(csv_files_module, "PAGE", 1 << 20)  # no append crosses a page: only growth compacts
    store = CsvStore(folder)
    ingest(store, RULES, [sale(week(n), "Tomate", 10.0) for n in range(SMALL)], received_at=RECEIVED)
    compacted = len(read(folder, "bronze.csv").encode())
    sizes = []
    for n in range(200):
        ingest(store, RULES, [sale(week(n % SMALL), "Tomate", 20.0 + n)], received_at=LATER)
        sizes.append(len(read(folder, "bronze.csv").encode()))
    assert max(sizes) <= 2 * compacted
    assert any(later < earlier for earlier, later in itertools.pairwise(sizes))  # rewritten whole
    store.close()


def failing_once(function, failed: list):
    def call(*args):
        if not failed:
            failed.append(args)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return function(*args)

    return call


def fail_append(patch, failed):
    patch.setattr(os, "pwrite", failing_once(os.pwrite, failed))


def fail_sync(patch, failed):
    patch.setattr(os, "fdatasync", failing_once(os.fdatasync, failed))


def fail_record(patch, failed):
    real = os.pwrite

    def pwrite(descriptor, data, offset):
        if (data.startswith(b"commit,") or b"\ncommit," in data) and not failed:
            failed.append(data)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(descriptor, data, offset)

    patch.setattr(os, "pwrite", pwrite)


@pytest.mark.parametrize("fail", [fail_append, fail_sync, fail_record], ids=["append", "sync", "record"])
def test_an_append_that_fails_changes_no_file_and_no_read(small_pages, folder, fail):
    store = CsvStore(folder)
    ingest(store, RULES, [sale(week(n), "Tomate", 10.0) for n in range(SMALL)], received_at=RECEIVED)
    ingest(store, RULES, [sale(week(1), "Tomate", 11.0)], received_at=RECEIVED)  # appended: every file recorded
    assert "\ncommit," in read(folder, "meta.csv")
    on_disk = {path.name: path.read_bytes() for path in folder.glob("*.csv")}
    before = reads(store)

    failed: list = []
    with pytest.MonkeyPatch.context() as patch:
        fail(patch, failed)
        with pytest.raises(StorageError, match="No space left on device"):
            ingest(store, RULES, [sale(week(2), "Tomate", 12.0)], received_at=LATER)
    assert failed
    assert {path.name: path.read_bytes() for path in folder.glob("*.csv")} == on_disk
    assert reads(store) == before

    assert ingest(store, RULES, [sale(week(2), "Tomate", 12.0)], received_at=LATER).updated == 1
    after = reads(store)
    assert after["bronze"][2] == bronze(week(2), "Tomate", 12.0, None, LATER)
    assert after["gold"][0] == GoldRow("2020-01", "tomato", pytest.approx(10.0 + 11.0 + 12.0 + 10.0 * 5 / 7), False)
    reopened = CsvStore(shutil.copytree(folder, folder.parent / "copy", ignore=shutil.ignore_patterns(LOCK_FILE)))
    assert reads(reopened) == after
    reopened.close()
    store.close()


def test_a_folder_of_an_earlier_version_left_with_appended_lines_is_migrated_with_their_last_lines(tmp_path):
    """A crash, then an upgrade: the migration reads each key's last line, and writes true tables."""
    folder = tmp_path / "csv"
    shutil.copytree(Path(__file__).resolve().parents[1] / "fixtures" / "store-v2" / "csv", folder)
    bronze_file, meta_file = folder / "bronze.csv", folder / "meta.csv"
    updated = "2020-01-06,Cebolla,5.5,2020-01-06,2026-12-07T00:06:56.305812Z\n"
    with open(bronze_file, "a", encoding="utf-8") as file:
        file.write(updated)
    data = bronze_file.read_bytes()
    with open(meta_file, "a", encoding="utf-8") as file:  # its commit record
        file.write(f"commit,bronze.csv:{len(data)}:{zlib.crc32(data[-64:]):08x}\n")
    with open(bronze_file, "a", encoding="utf-8") as file:  # and a commit that did not finish
        file.write("2020-01-06,Cebolla,99.0,2020-01-06,2026-12-07T00:06:56.305812Z\n")

    store = CsvStore(folder)
    raw = {(row.date, row.vegetable): row.kilo_sold for row in store.bronze_changes(None).rows}
    assert raw[("2020-01-06", "Cebolla")] == 5.5
    assert raw[("2020-01-06", "Brussel Sprout")] == 228.4
    assert "commit," not in read(folder, "meta.csv")
    lines = read(folder, "bronze.csv").splitlines()
    assert lines.count(updated.strip()) == 1 and len(lines) == len(set(lines)) == len(raw) + 1
    store.close()
