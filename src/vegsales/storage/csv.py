"""CSV storage: bronze.csv, silver.csv and gold.csv in one folder, served from memory.

Every table lives in memory with each row's CSV line already rendered; a write rewrites the
changed files whole, so they stay true tables (one row per key, sorted). A commit is crash-safe
across the three files:

1. the new files are written and fsynced in `.commit-new/`;
2. renaming `.commit-new/` to `.commit/` is the commit point (then the folder is fsynced);
3. each file is moved over its old version with os.replace, the folder fsynced, `.commit/` removed.

At start-up a leftover `.commit/` is rolled forward (step 3 again) and a `.commit-new/` thrown
away, so the three files always hold one consistent version, and a reader at any moment sees a
whole file. Posts that arrive while a commit is being written wait and are committed together
(group commit): one rewrite serves them all. Readers see a row only once it is on disk.
"""

import bisect
import csv
import fcntl
import io
import logging
import math
import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable, Collection, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..rendered import BULK, RenderedRows
from ..tables import BronzeKey, BronzeRow, GoldRow, SilverRow
from .base import Changes, Cursor, StorageError, StoreBusy

log = logging.getLogger("vegsales")
LOCK_FILE = "vegsales.lock"
NEW_COMMIT, COMMIT = ".commit-new", ".commit"
REPLACED = "(replaced)"
"""Marks, in a transaction's log, a table replaced whole."""
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_YEAR_MONTH = re.compile(r"\d{4}-\d{2}")


class BadFile(StorageError):
    """A CSV file that cannot be loaded as it is."""


def _kilos(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"kilo_sold must be a finite number >= 0, got {text!r}")
    return value


def _text(pattern: re.Pattern | None = None) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not text or (pattern is not None and not pattern.fullmatch(text)):
            raise ValueError(f"unexpected value {text!r}")
        return text

    return parse


def _flag(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(f"is_outlier must be true or false, got {text!r}")
    return text == "true"


@dataclass(frozen=True)
class TableFormat:
    file_name: str
    header: tuple[str, ...]
    row_type: type
    parsers: tuple[Callable[[str], Any], ...]
    key: Callable[[Any], Hashable]
    index: Callable[[Any], str] | None = None
    """Rows are also listed per value of `index` (the canonical vegetable) for range reads."""


BRONZE = TableFormat(
    "bronze.csv", ("date", "vegetable", "kilo_sold"), BronzeRow, (_text(_DATE), _text(), _kilos), lambda r: r.key
)
SILVER = TableFormat(
    "silver.csv",
    ("date", "vegetable", "kilo_sold", "raw_vegetable"),
    SilverRow,
    (_text(_DATE), _text(), _kilos, _text()),
    lambda r: r.key,
    index=lambda r: r.vegetable,
)
GOLD = TableFormat(
    "gold.csv",
    ("year_month", "vegetable", "kilo_sold", "is_outlier"),
    GoldRow,
    (_text(_YEAR_MONTH), _text(), _kilos, _flag),
    lambda r: r.key,
    index=lambda r: r.vegetable,
)
FORMATS = (BRONZE, SILVER, GOLD)


def _csv_line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        [("true" if v else "false") if isinstance(v, bool) else repr(v) if isinstance(v, float) else v for v in values]
    )
    return buffer.getvalue()


class Table(RenderedRows[str]):
    """One table in memory: rows with their CSV lines in key order, and an optional index."""

    def __init__(self, table_format: TableFormat):
        super().__init__(table_format.key, lambda row: _csv_line([getattr(row, f) for f in table_format.header]))
        self.format = table_format
        self.index: dict[str, list[Hashable]] = {}

    def update(self, rows: Sequence[Any]) -> list[Any | None]:
        replaced = super().update(rows)
        group_of = self.format.index
        if group_of:
            added: dict[str, list[Hashable]] = {}
            for row, before in zip(rows, replaced, strict=True):
                if before is None or group_of(before) != group_of(row):
                    if before is not None:
                        self.index[group_of(before)].remove(self.format.key(row))
                    added.setdefault(group_of(row), []).append(self.format.key(row))
            for group, keys in added.items():
                members = self.index.setdefault(group, [])
                if len(keys) > BULK:
                    members.extend(keys)
                    members.sort()
                else:
                    for key in keys:
                        bisect.insort(members, key)
        return replaced

    def remove(self, key: Hashable) -> Any:
        row = super().remove(key)
        if self.format.index:
            self.index[self.format.index(row)].remove(key)
        return row

    def clear(self) -> None:
        super().clear()
        self.index.clear()

    def render(self) -> str:
        return _csv_line(self.format.header) + "".join(self.rendered)


class Published:
    """What readers see: committed rows by key, ordered by the seq that last wrote them."""

    def __init__(self) -> None:
        self.rows: dict[Hashable, tuple[Any, int]] = {}

    def apply(self, key: Hashable, row: Any, seq: int) -> None:
        self.rows.pop(key, None)  # re-inserting moves the key to the end: newest last
        self.rows[key] = (row, seq)

    def since(self, seq: int) -> list[Any]:
        changed = []
        for row, row_seq in reversed(self.rows.values()):
            if row_seq <= seq:
                break
            changed.append(row)
        return changed


class CsvStore:
    """The three tables as CSV files in `folder` (created if missing), one process at a time."""

    writes_wait_on_io = True

    def __init__(self, folder: str | Path, fsync: bool = True):
        self.folder = Path(folder)
        self._fsync = fsync
        self._write_lock = threading.Lock()  # guards the working tables
        self._commit_lock = threading.Lock()  # one file commit at a time
        self._read_lock = threading.Lock()  # guards the published tables
        self._tables = {f.file_name: Table(f) for f in FORMATS}
        self._published = {BRONZE.file_name: Published(), GOLD.file_name: Published()}
        self._pending: list[tuple[str, Hashable, Any, int]] = []
        # A random epoch per start: cursors and ETags from before a restart never match.
        self._epoch, self._seq, self._durable_seq = secrets.randbits(52), 0, 0
        self._broken: BaseException | None = None
        self._closed = False
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._lock_file = self._lock_folder()
        except OSError as error:
            raise StorageError(f"cannot use data folder {self.folder}: {error}") from error
        try:
            self._recover()
            self._load()
            for name, published in self._published.items():
                for key, row in self._tables[name].rows.items():
                    published.apply(key, row, 0)
        except BaseException:
            self._lock_file.close()
            raise

    # -- start-up -------------------------------------------------------------------------

    def _lock_folder(self):
        lock_file = open(self.folder / LOCK_FILE, "a+")  # noqa: SIM115 - held open while the store lives
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            holder = lock_file.read().strip() or "unknown"
            lock_file.close()
            raise StorageError(
                f"data folder {self.folder} is in use by another vegsales process (pid {holder}); "
                "two processes on one folder would corrupt it"
            ) from None
        lock_file.truncate(0)
        lock_file.write(f"{os.getpid()}\n")
        lock_file.flush()
        return lock_file

    def _recover(self) -> None:
        """Finish a commit that reached its commit point; drop one that did not."""
        shutil.rmtree(self.folder / NEW_COMMIT, ignore_errors=True)
        if (self.folder / COMMIT).is_dir():
            self._move_committed_files()

    def _load(self) -> None:
        """Fill the working tables from the files; a new folder gets three files of headers."""
        present = [f.file_name for f in FORMATS if (self.folder / f.file_name).exists()]
        if not present:
            unfinished = self._commit_files({name: table.render() for name, table in self._tables.items()})
            if unfinished:
                raise unfinished
        elif len(present) < len(FORMATS):
            missing = ", ".join(f.file_name for f in FORMATS if f.file_name not in present)
            raise BadFile(
                f"data folder {self.folder} holds {', '.join(present)} but not {missing}: "
                "restore the missing files, or move all of them away to start empty"
            )
        for table in self._tables.values():
            table.clear()
            table.update(list(_read_rows(self.folder / table.format.file_name, table.format)))

    # -- writing --------------------------------------------------------------------------

    def init(self) -> None:
        with self._commit_lock, self._write_lock:
            self._check_writable()
            empty = {f.file_name: Table(f).render() for f in FORMATS}
            try:
                self._stop_writing_if(self._commit_files(empty))
            except OSError as error:
                raise StorageError(f"cannot write the CSV files in {self.folder}: {error}") from error
            for table in self._tables.values():
                table.clear()
            self._seq += 1
            self._pending.clear()
            with self._read_lock:
                for published in self._published.values():
                    published.rows.clear()
                self._epoch += 1
                self._durable_seq = self._seq

    @contextmanager
    def write(self, wait: bool = True) -> Iterator["CsvWrite"]:
        if not self._write_lock.acquire(blocking=wait):
            raise StoreBusy
        try:
            self._check_writable()
            transaction = CsvWrite(self._tables, self._seq + 1)
            try:
                yield transaction
            except BaseException:
                transaction.undo()
                raise
            if not transaction.written:
                return
            self._seq = seq = transaction.seq
            self._pending.extend(transaction.written)
        finally:
            self._write_lock.release()
        self._commit_through(seq)

    def _commit_through(self, seq: int) -> None:
        """Return once the write numbered `seq` is on disk, committing it with any others waiting."""
        with self._commit_lock:
            if seq <= self._durable_seq:
                return  # another post's commit wrote this one too
            self._check_writable()  # an earlier commit failed: this write was not stored
            with self._write_lock:
                contents = {name: table.render() for name, table in self._tables.items()}
                pending, self._pending = self._pending, []
                through = self._seq
            try:
                unfinished = self._commit_files(contents)
            except BaseException as error:
                self._stop_writing_if(error)
                raise StorageError(f"cannot write the CSV files in {self.folder}: {error}") from error
            with self._read_lock:
                for name, key, row, row_seq in pending:
                    if name is REPLACED:  # gold rows may have gone: readers start over
                        self._published[GOLD.file_name] = Published()
                        self._epoch += 1
                    elif name in self._published:
                        self._published[name].apply(key, row, row_seq)
                self._durable_seq = through
            self._stop_writing_if(unfinished)

    def _stop_writing_if(self, error: BaseException | None) -> None:
        # Memory may now hold changes the files do not: refuse writes (and fail /health) until a
        # restart reloads the files. Reads go on: they only ever see committed rows.
        if error is not None:
            log.error("CSV store %s stops writing after an I/O error: %s", self.folder, error)
            self._broken = error

    def _check_writable(self) -> None:
        self._check_open()
        if self._broken is not None:
            raise StorageError(f"the CSV store stopped writing after an I/O error ({self._broken}); restart it")

    def _commit_files(self, contents: dict[str, str]) -> OSError | None:
        """Commit new versions of the files. Raises OSError when nothing was committed; returns
        the error when the commit point was reached but not every file could be moved into
        place (the new versions wait in .commit/ and are moved at the next start)."""
        new = self.folder / NEW_COMMIT
        shutil.rmtree(new, ignore_errors=True)
        new.mkdir()
        for name, text in contents.items():
            with open(new / name, "w", encoding="utf-8", newline="") as file:
                file.write(text)
                file.flush()
                self._sync(file.fileno())
        self._sync_folder(new)
        os.rename(new, self.folder / COMMIT)  # the commit point
        try:
            self._sync_folder(self.folder)
            self._move_committed_files()
        except OSError as error:
            return error
        return None

    def _move_committed_files(self) -> None:
        committed = self.folder / COMMIT
        for path in committed.iterdir():
            os.replace(path, self.folder / path.name)
        self._sync_folder(self.folder)
        committed.rmdir()

    def _sync(self, descriptor: int) -> None:
        if self._fsync:
            os.fsync(descriptor)

    def _sync_folder(self, folder: Path) -> None:
        if self._fsync:
            descriptor = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)

    # -- reading --------------------------------------------------------------------------

    def bronze_changes(self, since: Cursor | None) -> Changes[BronzeRow]:
        return self._changes(BRONZE.file_name, since)

    def gold_changes(self, since: Cursor | None) -> Changes[GoldRow]:
        return self._changes(GOLD.file_name, since)

    def _changes(self, name: str, since: Cursor | None) -> Changes:
        with self._read_lock:
            self._check_open()
            cursor = (self._epoch, self._durable_seq)
            published = self._published[name]
            if since is None or since[0] != self._epoch:
                return Changes(cursor, [row for row, _ in published.rows.values()], True)
            return Changes(cursor, published.since(since[1]), False)

    def silver_names(self) -> dict[str, str]:
        with self._write_lock:
            return {row.raw_vegetable: row.vegetable for row in self._tables[SILVER.file_name].rows.values()}

    def check(self) -> None:
        self._check_writable()
        if not os.access(self.folder, os.W_OK):
            raise StorageError(f"data folder {self.folder} is not writable")

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"CSV store {self.folder} is closed")

    def close(self) -> None:
        with self._commit_lock, self._write_lock:
            if not self._closed:
                self._closed = True
                self._lock_file.close()


class CsvWrite:
    """One write transaction on the in-memory tables, undone if the block raises."""

    def __init__(self, tables: dict[str, Table], seq: int):
        self._tables = tables
        self.seq = seq
        self.written: list[tuple[str, Hashable, Any, int]] = []
        self._undo: list[tuple[Table, Hashable, Any | None]] = []

    def _put(self, table_format: TableFormat, rows: Sequence[Any]) -> None:
        table = self._tables[table_format.file_name]
        for row, before in zip(rows, table.update(rows), strict=True):
            key = table_format.key(row)
            self._undo.append((table, key, before))
            self.written.append((table_format.file_name, key, row, self.seq))

    def undo(self) -> None:
        for table, key, before in reversed(self._undo):
            if key is REPLACED:
                self._tables[table.format.file_name] = table
            elif before is None:
                table.remove(key)
            else:
                table.update([before])
        self.written.clear()

    def bronze_rows(self) -> list[BronzeRow]:
        return list(self._tables[BRONZE.file_name].rows.values())

    def replace_silver_and_gold(self, silver: Sequence[SilverRow], gold: Sequence[GoldRow]) -> None:
        for table_format in (SILVER, GOLD):
            self._undo.append((self._tables[table_format.file_name], REPLACED, None))
            self._tables[table_format.file_name] = Table(table_format)
        self.written.append((REPLACED, None, None, self.seq))
        self._put(SILVER, silver)
        self._put(GOLD, gold)

    def bronze_kilos(self, keys: Collection[BronzeKey]) -> dict[BronzeKey, float]:
        rows = self._tables[BRONZE.file_name].rows
        return {key: rows[key].kilo_sold for key in keys if key in rows}

    def put_bronze(self, rows: Sequence[BronzeRow]) -> None:
        self._put(BRONZE, rows)

    def put_silver(self, rows: Sequence[SilverRow]) -> None:
        self._put(SILVER, rows)

    def silver_rows(self, vegetable: str, first_date: str, last_date: str) -> list[SilverRow]:
        table = self._tables[SILVER.file_name]
        keys = table.index.get(vegetable, [])
        start = bisect.bisect_left(keys, (first_date,))
        end = bisect.bisect_left(keys, (last_date + "\x00",))  # past every (last_date, any name)
        return [table.rows[key] for key in keys[start:end]]

    def gold_rows(self, vegetable: str) -> list[GoldRow]:
        table = self._tables[GOLD.file_name]
        return [table.rows[key] for key in table.index.get(vegetable, [])]

    def put_gold(self, rows: Sequence[GoldRow]) -> None:
        self._put(GOLD, rows)


def _read_rows(path: Path, table_format: TableFormat) -> Iterator[Any]:
    """The rows of one CSV file; BadFile names the file and line of the first problem."""
    seen: dict[Hashable, int] = {}
    try:
        with open(path, encoding="utf-8", newline="") as file:
            reader = csv.reader(file, strict=True)
            header = next(reader, None)
            if tuple(header or ()) != table_format.header:
                raise BadFile(f"{path}, line 1: header must be {','.join(table_format.header)}, got {header}")
            for values in reader:
                line = reader.line_num
                if len(values) != len(table_format.header):
                    raise BadFile(f"{path}, line {line}: expected {len(table_format.header)} fields, got {len(values)}")
                try:
                    fields = [parse(value) for parse, value in zip(table_format.parsers, values, strict=True)]
                    row = table_format.row_type(*fields)
                except ValueError as error:
                    raise BadFile(f"{path}, line {line}: {error}") from None
                key = table_format.key(row)
                if key in seen:
                    raise BadFile(f"{path}, line {line}: duplicate of line {seen[key]} (same key {key})")
                seen[key] = line
                yield row
    except csv.Error as error:
        raise BadFile(f"{path}, line {reader.line_num}: {error}") from None
    except UnicodeDecodeError as error:
        raise BadFile(f"{path}: not UTF-8 text ({error})") from None
    except OSError as error:
        raise BadFile(f"cannot read {path}: {error}") from None
