"""CSV storage: one file per table in one folder, served from memory.

Every table lives in memory with each row's CSV line already rendered; a write appends the lines
of the rows it changed to their files, or rewrites a small file whole, and commits them together,
crash-safe (csv_files.py; the files are compacted back to true tables, one row per key, sorted,
from time to time and at every start and stop). Readers see a row only once it is on disk, and a
commit that fails (disk full) is undone in memory too: the tables stay as the files hold them.
Posts that arrive while a commit is being written wait in the pipeline's writer, which hands them
over together (pipeline.PostWriter): one commit serves them all.
"""

import fcntl
import logging
import os
import secrets
import threading
from collections.abc import Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from ..rows import BronzeRow, GoldRow, HistoryRow, RejectedRow, Setting, SilverRow, VersionRow, utc_now
from . import migrations
from .base import TABLES, Changes, Cursor, StorageError, StoreBusy
from .csv_files import Change, CsvFiles
from .csv_format import FORMATS, BadFile, CsvFileRows, file_format, read_rows
from .migrations import NOW, SCHEMA_VERSION, Step
from .schema import BRONZE_SALES, DATA_VERSIONS, GOLD_SALES, REJECTED_SALES, ROW_HISTORY, SILVER_SALES, STORE_META

log = logging.getLogger("vegsales")
LOCK_FILE = "vegsales.lock"
REPLACED = "(replaced)"
"""Marks, in a transaction's log, a table replaced whole."""
BRONZE, SILVER, GOLD, REJECTED, META, VERSIONS, HISTORY = (
    table.name
    for table in (BRONZE_SALES, SILVER_SALES, GOLD_SALES, REJECTED_SALES, STORE_META, DATA_VERSIONS, ROW_HISTORY)
)


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
    """The tables as CSV files in `folder` (created if missing), one process at a time."""

    reads_wait_on_io = False
    writes_wait_on_io = True

    def __init__(self, folder: str | Path, fsync: bool = True):
        self.folder = Path(folder)
        self._writer_lock = threading.Lock()  # one write transaction, with its file commit, at a time
        self._tables_lock = threading.Lock()  # guards the working tables, until on disk, against readers of them
        self._read_lock = threading.Lock()  # guards the published tables
        self._tables = {name: CsvFileRows(file_format) for name, file_format in FORMATS.items()}
        names = [table.format.file_name for table in self._tables.values()]
        self._files = CsvFiles(
            self.folder, names, FORMATS[META].file_name, self._settings_text, fsync, logs=[FORMATS[HISTORY].file_name]
        )
        self._published = {BRONZE: Published(), GOLD: Published()}
        # A random epoch per start: cursors and ETags from before a restart never match.
        self._epoch, self._seq = secrets.randbits(52), 0
        self._closed = False
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._lock_file = self._lock_folder()
        except OSError as error:
            raise StorageError(f"cannot use data folder {self.folder}: {error}") from error
        try:
            self._files.recover()
            self._load()
            # The data version goes on from the last one in the history (every change of sales, and
            # every init, records one there).
            self._seq = max(self._tables[VERSIONS].rows, default=0)
            if self._files.appended:  # left by a crash: true tables again
                self._compact()
            for name, published in self._published.items():
                for key, row in self._tables[name].rows.items():
                    published.apply(key, row, 0)
        except BaseException:
            self._lock_file.close()
            raise

    # -- start-up -------------------------------------------------------------------------

    def _lock_folder(self) -> IO[str]:
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

    def _load(self) -> None:
        """Fill the tables from the files; a new folder gets files of headers, an old one is migrated."""
        present = [name for name, table in self._tables.items() if (self.folder / table.format.file_name).exists()]
        if not present:
            self._tables[META].update([Setting("schema_version", str(SCHEMA_VERSION))])
            self._commit_all()
            return
        settings = self._stored_settings() if META in present else {}
        try:
            # Files, but neither settings nor sales: taken for the current version, whose files are missing.
            version = migrations.stored_version(present.__contains__, lambda: settings) or SCHEMA_VERSION
            steps = migrations.steps_from(version)
        except StorageError as error:
            raise StorageError(f"cannot use data folder {self.folder}: {error}") from None
        self._check_files(present, version)
        if steps:
            self._migrate(version, steps)
            return
        appended = self._files.appended
        for table in self._tables.values():
            name = table.format.file_name
            table.clear()
            table.update(read_rows(self.folder / name, table.format, appended=name in appended))

    def _stored_settings(self) -> dict[str, str]:
        return {row.key: row.value for row in read_rows(self.folder / FORMATS[META].file_name, FORMATS[META])}

    def _check_files(self, present: list[str], version: int) -> None:
        """BadFile unless the folder holds the files of its version, and no other."""
        expected = [name for name in FORMATS if name in migrations.tables_at(version)]
        if present != expected:
            of = expected if set(present) <= set(expected) else FORMATS
            missing = ", ".join(FORMATS[name].file_name for name in of if name not in present)
            raise BadFile(
                f"data folder {self.folder} holds {', '.join(FORMATS[name].file_name for name in present)} "
                f"but not {missing}: restore the missing files, or move all of them away to start empty"
            )

    def _migrate(self, version: int, steps: list[tuple[int, Step]]) -> None:
        """Bring the files of an older version up to this one: each table's rows as dicts, by column
        name, changed step by step as the migrations declare, then written in the current format."""
        tables, appended = migrations.tables_at(version), self._files.appended
        rows: dict[str, list[dict[str, Any]]] = {
            name: read_rows(path, file_format(tables[name], as_dicts=True), appended=path.name in appended)
            for name in FORMATS
            if name in tables and (path := self.folder / FORMATS[name].file_name)
        }
        now = utc_now()
        for start, step in steps:
            after = migrations.tables_at(start + 1)
            rows.update((name, []) for name in step.created)
            for name, sources in step.rebuilt.items():
                columns = {column.name: sources.get(column.name, column.name) for column in after[name].row_columns}
                rows[name] = [
                    {column: now if source is NOW else old[source] for column, source in columns.items()}
                    for old in rows[name]
                ]
            settings = {row["key"]: row["value"] for row in rows[META]}
            settings.update({**step.settings, "schema_version": str(start + 1)})
            rows[META] = [{"key": key, "value": value} for key, value in settings.items()]
        for name, table in self._tables.items():
            table.update([table.format.make_row(**row) for row in rows[name]])
        self._commit_all()
        log.warning("CSV folder %s: migrated from schema version %d to %d", self.folder, version, SCHEMA_VERSION)

    def _settings_text(self) -> str:
        """meta.csv as committed, when a commit that does not change it rewrites it (csv_files.py)."""
        return self._tables[META].render()

    def _compact(self) -> None:
        """Rewrite whole each file that holds appended lines."""
        appended = self._files.appended
        if appended:
            self._commit_files(rewritten(t for t in self._tables.values() if t.format.file_name in appended))

    def _commit_all(self) -> None:
        unfinished = self._files.commit(rewritten(self._tables.values()))
        if unfinished:
            raise unfinished

    # -- writing --------------------------------------------------------------------------

    def init(self) -> None:
        with self._writer_lock, self._tables_lock:
            self._check_open()
            emptied = {name: CsvFileRows(file_format) for name, file_format in FORMATS.items()}
            kept = [s for s in self._tables[META].rows.values() if s.key != "rejected_dropped"]
            emptied[META].update(kept)
            self._commit_files(rewritten(emptied.values()))
            self._tables.update(emptied)
            with self._read_lock:
                for published in self._published.values():
                    published.rows.clear()
                self._epoch += 1
                self._seq += 1

    @contextmanager
    def write(self, wait: bool = True) -> Iterator["CsvWrite"]:
        """A transaction on the tables in memory, then a commit of the files it changed; posts
        that arrive meanwhile wait, and the pipeline's writer batches them into the next one."""
        if not self._writer_lock.acquire(blocking=wait):
            raise StoreBusy
        try:
            self._check_open()
            # Held until the files are committed: readers of the working tables (quarantine,
            # settings) never see a change that a failed commit would take back.
            with self._tables_lock:
                transaction = CsvWrite(self._tables, self._seq + 1)
                try:
                    yield transaction
                    if transaction.dirty:
                        self._commit_files(transaction.changes())
                except BaseException:
                    transaction.undo()  # memory as the files hold it: the store goes on serving and writing
                    raise
                if transaction.dirty:
                    self._publish(transaction)
        finally:
            self._writer_lock.release()

    def _commit_files(self, changes: dict[str, Change]) -> None:
        """Commit these changes of the files; StorageError when nothing of them was committed."""
        try:
            unfinished = self._files.commit(changes)
        except OSError as error:
            # Not an ERROR line of its own: the request that met it logs one, with its id (asgi.reply_for).
            log.warning("CSV store %s: a commit failed, nothing of it was stored: %s", self.folder, error)
            raise StorageError(f"cannot write the CSV files in {self.folder}: {error}") from error
        if unfinished is not None:  # committed: the files left in .commit/ are moved before the next commit
            log.error("CSV store %s: committed, but not every file is in place yet: %s", self.folder, unfinished)

    def _publish(self, transaction: "CsvWrite") -> None:
        with self._read_lock:  # on disk: readers may see it now
            for name, key, row, row_seq in transaction.written:
                if name is REPLACED:  # rows may have gone: readers start over
                    if key in self._published:
                        self._published[key] = Published()
                    self._epoch += 1
                elif name in self._published:
                    self._published[name].apply(key, row, row_seq)
            if transaction.changed_sales:
                self._seq = transaction.seq

    # -- reading --------------------------------------------------------------------------

    def bronze_changes(self, since: Cursor | None) -> Changes[BronzeRow]:
        return self._changes(BRONZE, since)

    def gold_changes(self, since: Cursor | None) -> Changes[GoldRow]:
        return self._changes(GOLD, since)

    def _changes(self, name: str, since: Cursor | None) -> Changes[Any]:
        with self._read_lock:
            self._check_open()
            cursor = (self._epoch, self._seq)
            published = self._published[name]
            if since is None or since[0] != self._epoch:
                return Changes(cursor, [row for row, _ in published.rows.values()], True)
            return Changes(cursor, published.since(since[1]), False)

    def rejected_sales(self, limit: int) -> tuple[list[RejectedRow], int]:
        with self._tables_lock:
            self._check_open()
            rows = list(self._tables[REJECTED].rows.values())
        rows.sort(key=lambda row: (row.last_received, row.record_hash), reverse=True)
        return rows[:limit], len(rows)

    def meta(self) -> dict[str, str]:
        with self._tables_lock:
            return {setting.key: setting.value for setting in self._tables[META].rows.values()}

    def data_version(self) -> int:
        with self._read_lock:
            return self._seq

    def versions(self, limit: int) -> list[VersionRow]:
        with self._tables_lock:
            rows = list(self._tables[VERSIONS].rows.values())
        return sorted(rows, key=lambda row: row.data_version, reverse=True)[:limit]

    def version_at(self, moment: str) -> int | None:
        with self._tables_lock:
            rows = list(self._tables[VERSIONS].rows.values())
        return max((row.data_version for row in rows if row.committed_at <= moment), default=None)

    def history(self, upto: int) -> list[HistoryRow]:
        with self._tables_lock:
            rows = [row for row in self._tables[HISTORY].rows.values() if row.data_version <= upto]
        return sorted(rows, key=lambda row: row.data_version)

    def table_sizes(self) -> dict[str, int]:
        with self._tables_lock:
            return {name: len(self._tables[name].rows) for name in TABLES}

    def check(self) -> None:
        self._check_open()
        if not os.access(self.folder, os.W_OK):
            raise StorageError(f"data folder {self.folder} is not writable")

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"CSV store {self.folder} is closed")

    def close(self) -> None:
        with self._writer_lock, self._tables_lock:
            if not self._closed:
                self._closed = True
                try:
                    self._compact()  # true tables at rest, as earlier versions read them
                except StorageError:
                    pass  # logged; the next start compacts them
                finally:
                    self._files.close()
                    self._lock_file.close()


def rewritten(tables: Iterable[CsvFileRows]) -> dict[str, Change]:
    """Each table's file rewritten whole, by file name."""
    return {table.format.file_name: Change(table.render, None) for table in tables}


class CsvWrite:
    """One write transaction on the in-memory tables, undone if the block raises."""

    def __init__(self, tables: dict[str, CsvFileRows], seq: int):
        self._tables = tables
        self.seq = seq
        self.changed_sales = False
        self.written: list[tuple[str, Hashable, Any, int]] = []
        self.dirty: set[str] = set()
        self._lines: dict[str, dict[Hashable, str]] = {}
        """Each changed row's line, by table and key: what a commit appends to the table's file."""
        self._rewritten: set[str] = set()
        """Tables with rows deleted or replaced whole: their files are rewritten whole."""
        self._undo: list[tuple[CsvFileRows, Hashable, Any | None]] = []

    def changes(self) -> dict[str, Change]:
        """What the commit writes: each changed table's file, whole or the lines to append."""
        changes = {}
        for name in self.dirty:
            table = self._tables[name]
            lines = None if name in self._rewritten else "".join(self._lines.get(name, {}).values())
            changes[table.format.file_name] = Change(table.render, lines)
        return changes

    def _put(self, name: str, rows: Sequence[Any]) -> None:
        table = self._tables[name]
        self.dirty.add(name)
        texts = [table.line(row) for row in rows]
        lines = self._lines.setdefault(name, {})
        for row, text, before in zip(rows, texts, table.update(rows, texts).replaced, strict=True):
            key = table.format.key(row)
            lines[key] = text
            self._undo.append((table, key, before))
            self.written.append((name, key, row, self.seq))

    def _delete(self, name: str, keys: Collection[Hashable]) -> None:
        table = self._tables[name]
        self.dirty.add(name)
        self._rewritten.add(name)
        for key in keys:
            if key in table.rows:
                self._undo.append((table, key, table.remove(key)))

    def undo(self) -> None:
        for table, key, before in reversed(self._undo):
            if key is REPLACED:
                self._tables[table.format.table.name] = table
            elif key not in table.rows:
                table.update([before])  # a deleted row
            elif before is None:
                table.remove(key)
            else:
                table.update([before])
        self.written.clear()
        self.dirty.clear()
        self._lines.clear()
        self._rewritten.clear()

    def bronze_between(self, vegetables: Collection[str], first_week: str, last_week: str) -> list[BronzeRow]:
        table = self._tables[BRONZE]
        return [row for name in vegetables for row in table.between(name, first_week, last_week)]

    def put_bronze(self, rows: Sequence[BronzeRow]) -> None:
        self.changed_sales = True
        self._put(BRONZE, rows)

    def put_silver(self, rows: Sequence[SilverRow]) -> None:
        self._put(SILVER, rows)

    def silver_rows(self, vegetable: str, first_week: str, last_week: str) -> list[SilverRow]:
        return self._tables[SILVER].between(vegetable, first_week, last_week)

    def gold_rows(self, vegetable: str) -> Mapping[str, GoldRow]:
        return self._tables[GOLD].group_rows(vegetable)

    def put_gold(self, rows: Sequence[GoldRow]) -> None:
        self.changed_sales = True
        self._put(GOLD, rows)

    def put_version(self, row: VersionRow) -> None:
        self._put(VERSIONS, [row])

    def put_history(self, rows: Sequence[HistoryRow]) -> None:
        self._put(HISTORY, rows)

    def drop_history(self, upto: int) -> None:
        self._delete(HISTORY, [key for key, row in self._tables[HISTORY].rows.items() if row.data_version <= upto])
        self._delete(VERSIONS, [key for key, row in self._tables[VERSIONS].rows.items() if row.data_version < upto])

    def data_version(self) -> int:
        return self.seq if self.changed_sales else self.seq - 1

    def bronze_rows(self) -> list[BronzeRow]:
        return list(self._tables[BRONZE].rows.values())

    def silver_names(self) -> dict[str, str]:
        return {row.raw_vegetable: row.vegetable for row in self._tables[SILVER].rows.values()}

    def replace_tables(
        self, bronze: Sequence[BronzeRow] | None, silver: Sequence[SilverRow], gold: Sequence[GoldRow]
    ) -> None:
        self.changed_sales = True
        replaced: list[tuple[str, Sequence[Any]]] = [(SILVER, silver), (GOLD, gold)]
        if bronze is not None:
            replaced.append((BRONZE, bronze))
        for name, rows in replaced:
            self._undo.append((self._tables[name], REPLACED, None))
            self._tables[name] = CsvFileRows(FORMATS[name])
            self._rewritten.add(name)
            self.written.append((REPLACED, name, None, self.seq))
            self._put(name, rows)

    def rejected_rows(self, hashes: Collection[str]) -> dict[str, RejectedRow]:
        rows = self._tables[REJECTED].rows
        return {key: rows[key] for key in hashes if key in rows}

    def all_rejected(self) -> list[RejectedRow]:
        return list(self._tables[REJECTED].rows.values())

    def put_rejected(self, rows: Sequence[RejectedRow]) -> None:
        self._put(REJECTED, rows)

    def delete_rejected(self, hashes: Collection[str]) -> None:
        self._delete(REJECTED, hashes)

    def trim_rejected(self, keep: int) -> int:
        rows = self._tables[REJECTED].rows
        if len(rows) <= keep:
            return 0
        oldest = sorted(rows.values(), key=lambda row: (row.last_received, row.record_hash))[: len(rows) - keep]
        self._delete(REJECTED, [row.record_hash for row in oldest])
        return len(oldest)

    def meta(self) -> dict[str, str]:
        return {setting.key: setting.value for setting in self._tables[META].rows.values()}

    def set_meta(self, key: str, value: str) -> None:
        self._put(META, [Setting(key, value)])
