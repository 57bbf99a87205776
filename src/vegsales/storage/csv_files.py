"""The CSV folder on disk: a commit appends the changed rows' lines to the files it changed, or
rewrites a file whole; a commit record, appended to meta.csv, is what makes appended lines count.

A table's file holds its rows in key order as last written whole (folder_commit.py), then, once it
is APPEND_FROM bytes or more, the lines of the rows each commit changed, appended: the last line of
a key is its row. A smaller file is appended to only in a commit that appends to a larger one (a
whole rewrite would cost the commit its folder commit), else rewritten whole: in a small store,
every file stays a true table. A file is rewritten whole instead (compacted) when its appended
lines would outgrow what was written whole (or APPEND_FROM, if more), when an append would cross a
page boundary (below; not for a log, history.csv, which only grows: its lines are long, and a line
a kill cuts short lies past its committed length, which start-up cuts), and when a commit deletes
rows or replaces the table. Every file holding
appended lines is compacted at start-up and when the store closes, so a folder at rest holds true
tables, as earlier versions wrote them.

A commit that appends:

1. the first time it appends to a file since that file was written whole, a commit record naming
   the file with its length now is appended to meta.csv and synced;
2. each file's lines are appended at its committed length and synced;
3. a commit record is appended to meta.csv (after the settings the commit changed) and synced:
   the commit point. When the commit also rewrites a file whole, or meta.csv's page is full, the
   folder commit is the commit point instead, with meta.csv written whole, the record last.

A commit record (`commit,bronze.csv:166105:8f1e22a0 gold.csv:22550:0c4d9b31`) names every file that
holds appended lines, with the length up to which it is committed and a checksum of the 64 bytes
before that length. At start-up whatever follows the last record, in meta.csv and in each file it
names, belongs to a commit that did not finish: it is cut. A file that does not end as its record
says (changed by hand after a crash, or by an older vegsales) stops start-up, so that nothing is
ever cut from a file the record does not describe.

Readers see whole lines at every moment, a kill -9 included: an append is one write that stays
within one page of its file, and Linux writes such a write whole or not at all when the process
is killed (it checks for a kill between pages, never within one). Lines past the last record may
be seen before start-up cuts them.
"""

import errno
import logging
import mmap
import os
import zlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from .csv_format import COMMIT_RECORD, BadFile
from .folder_commit import FolderCommit

log = logging.getLogger("vegsales")

PAGE = mmap.PAGESIZE
APPEND_FROM = 16 * 1024
"""A smaller file is rewritten whole by a commit that appends to no larger one: cheap at that size,
and it stays a true table."""
CHECKED = 64
"""The bytes before a file's committed length that its record's checksum covers."""
RECORD_PREFIX = f"{COMMIT_RECORD},".encode()


@dataclass(frozen=True, slots=True)
class Change:
    """A commit's change of one file."""

    whole: Callable[[], str]
    """The file's text, when it is rewritten whole."""
    lines: str | None
    """The changed rows' lines, to append; None when the file must be rewritten whole."""


@dataclass(frozen=True, slots=True)
class FileState:
    """A file as committed."""

    length: int
    base: int
    """The bytes written whole: appended lines follow."""
    end: bytes
    """The last CHECKED bytes."""

    @staticmethod
    def whole(data: bytes) -> "FileState":
        return FileState(len(data), len(data), data[-CHECKED:])

    def appended(self, block: bytes) -> "FileState":
        # Only the block's last bytes joined on: a bulk post's history line is 100 kB.
        return FileState(self.length + len(block), self.base, (self.end + block[-CHECKED:])[-CHECKED:])

    def entry(self) -> str:
        """The file's part of a commit record: its length and the checksum of its last bytes."""
        return f"{self.length}:{zlib.crc32(self.end):08x}"


class CsvFiles:
    """The files of `names` (meta.csv among them, as `meta`) in `folder`, committed together."""

    def __init__(
        self,
        folder: Path,
        names: Collection[str],
        meta: str,
        settings: Callable[[], str],
        fsync: bool,
        logs: Collection[str] = (),
    ):
        self.folder = folder
        self._names = tuple(names)
        self._logs = frozenset(logs)
        """Files only ever appended to (history.csv), whose appends may cross a page boundary: a line
        a kill cuts short lies past the committed length, which start-up cuts; a reader of the file
        while it is written may see it unfinished."""
        self._meta = meta
        self._settings = settings
        """meta.csv's text without commit record, when the commit does not change it."""
        self._folder_commit = FolderCommit(folder, fsync)
        self._fsync = fsync
        self._files: dict[str, FileState] = {}
        self._recorded: dict[str, str] = {}
        """What the last commit record in meta.csv says (on disk): each file holding appended lines, its entry."""
        self._descriptors: dict[str, int] = {}
        self._rewrite: set[str] = set()
        """Files that may hold bytes past their committed length (a failed append not cut back)."""

    @property
    def appended(self) -> set[str]:
        """The files that may hold appended lines (their keys may repeat: the last line wins)."""
        return set(self._recorded)

    # -- start-up -------------------------------------------------------------------------

    def recover(self) -> None:
        """Finish or drop an interrupted folder commit, and cut an unfinished commit's appended lines."""
        self._folder_commit.recover()
        meta = self.folder / self._meta
        if meta.exists():
            data = meta.read_bytes()
            record, end = last_record(data)
            if end < len(data):
                self._cut(meta, end)
            for name, entry in record.items():
                self._check_and_cut(name, entry)
            self._recorded = record
        for name in self._names:
            path = self.folder / name
            if path.exists():
                with open(path, "rb") as file:
                    length = file.seek(0, os.SEEK_END)
                    file.seek(max(0, length - CHECKED))
                    self._files[name] = FileState(length, 0 if name in self._recorded else length, file.read())

    def _check_and_cut(self, name: str, entry: str) -> None:
        path = self.folder / name
        length, _, checksum = entry.partition(":")
        committed = int(length)
        try:
            with open(path, "rb") as file:
                size = file.seek(0, os.SEEK_END)
                file.seek(max(0, committed - CHECKED))
                end = file.read(min(committed, CHECKED))
        except OSError as error:
            raise BadFile(f"cannot read {path}: {error}") from None
        if size < committed or f"{zlib.crc32(end):08x}" != checksum:
            raise BadFile(
                f"{path} does not end as its last commit left it ({committed} bytes, meta.csv's last "
                f"'{COMMIT_RECORD}' line): was it changed after vegsales stopped? Remove the '{COMMIT_RECORD}' "
                "lines from meta.csv to take the files as they are"
            )
        if size > committed:
            self._cut(path, committed)

    def _cut(self, path: Path, length: int) -> None:
        """Truncate a file to its committed length: the rest belongs to a commit that did not finish."""
        log.warning("CSV folder %s: %s: cut %d bytes of a commit that did not finish", self.folder, path.name,
                    path.stat().st_size - length)  # fmt: skip
        with open(path, "r+b") as file:
            file.truncate(length)
            self._sync(file.fileno())

    # -- commits --------------------------------------------------------------------------

    # Above ruff's C901 limit of 10, on purpose: the commit's steps stay in one function, in the order
    # they reach the disk, so that what a crash between any two of them leaves can be read top to bottom.
    def commit(self, changes: Mapping[str, Change]) -> OSError | None:
        """Write these changes as one commit. Raises OSError when nothing was committed (every file
        as it was); returns the error when the commit point was reached but some rewritten files
        wait to be moved into place (folder_commit.py)."""
        self._folder_commit.finish()  # appending to a file whose new version still waits would lose it
        meta, meta_change = self._meta, changes.get(self._meta)
        appends: dict[str, bytes] = {}
        whole: dict[str, bytes] = {}
        small: list[tuple[str, bytes]] = []  # appended only if a larger file is
        for name, change in changes.items():
            if name == meta:
                continue
            if change.lines is not None and name not in self._rewrite:
                block = change.lines.encode()
                state = self._files.get(name)
                if (
                    state is not None
                    and state.base > 0  # 0: not known yet (start-up compacts the file)
                    and state.length - state.base + len(block) <= max(state.base, APPEND_FROM)  # not outgrowing it
                    and (name in self._logs or state.length % PAGE + len(block) <= PAGE)  # one page: no kill cuts it
                ):
                    if state.base < APPEND_FROM:
                        small.append((name, block))
                    elif block:
                        appends[name] = block
                    continue
            whole[name] = change.whole().encode()
        for name, block in small:
            if not appends:  # a whole rewrite anyway: a small file is rewritten too, a true table
                whole[name] = changes[name].whole().encode()
            elif block:
                appends[name] = block
        first = [name for name in appends if name not in self._recorded]
        first_record = self._recorded | {name: self._files[name].entry() for name in first} if first else {}
        rewrite_meta = bool(first) and not self._fits(meta, len(record_line(first_record)))
        if rewrite_meta:  # meta.csv's page is full: those files rewritten whole this time, meta.csv with them
            whole.update((name, changes[name].whole().encode()) for name in first)
            for name in first:
                del appends[name]
            first = []
        after = dict(self._files)
        after.update((name, FileState.whole(data)) for name, data in whole.items())
        after.update((name, after[name].appended(block)) for name, block in appends.items())
        record = {name: state.entry() for name, state in after.items() if state.length > state.base and name != meta}
        meta_block = None
        if appends and not whole and (meta_change is None or meta_change.lines is not None):
            block = (meta_change.lines.encode() if meta_change and meta_change.lines else b"") + record_line(record)
            start = self._files[meta].length + (len(record_line(first_record)) if first else 0)
            if start % PAGE + len(block) <= PAGE:
                meta_block = block
        if meta_block is None and (rewrite_meta or meta_change is not None or record != self._recorded):
            text = (meta_change.whole() if meta_change else self._settings()).encode()
            whole[meta] = text + (record_line(record) if record else b"")
        cut: dict[str, int] = {}  # each file appended to, and its committed length
        try:
            if first:  # a record of their lengths before their first append: a crash can then cut it
                self._append_synced(meta, record_line(first_record), cut)
                del cut[meta]  # true whatever follows
                self._recorded = first_record
            for name, block in appends.items():
                self._append(name, block, cut)
            for name in appends:
                self._sync(self._descriptor(name))
            if meta_block is not None:
                self._append_synced(meta, meta_block, cut)  # the commit point
                unfinished = None
            else:
                unfinished = self._folder_commit.commit(whole) if whole else None  # the commit point
        except BaseException:
            self._cut_back(cut)
            raise
        if meta in whole:
            after[meta] = FileState.whole(whole[meta])
        elif meta in self._files:
            after[meta] = self._files[meta]  # with what was appended to it
        self._files, self._recorded = after, record
        for name in whole:
            self._close(name)  # replaced: a new file
            self._rewrite.discard(name)
        return unfinished

    def _fits(self, name: str, size: int) -> bool:
        """Whether `size` bytes appended to the file stay within its last page (a kill cannot cut them)."""
        return self._files[name].length % PAGE + size <= PAGE

    def _append(self, name: str, block: bytes, cut: dict[str, int]) -> None:
        length = self._files[name].length
        cut[name] = length
        written = os.pwrite(self._descriptor(name), block, length)  # one write, within one page
        if written != len(block):
            raise OSError(errno.EIO, f"{name}: wrote {written} of {len(block)} bytes")

    def _append_synced(self, name: str, block: bytes, cut: dict[str, int]) -> None:
        self._append(name, block, cut)
        self._sync(self._descriptor(name))
        self._files[name] = self._files[name].appended(block)

    def _cut_back(self, cut: Mapping[str, int]) -> None:
        """After a failed commit, each file appended to back at its committed length."""
        for name, length in cut.items():
            try:
                os.ftruncate(self._descriptor(name), length)
                self._sync(self._descriptor(name))
            except OSError as error:
                log.error("CSV folder %s: cannot cut %s back after a failed commit: %s", self.folder, name, error)
                self._rewrite.add(name)  # the next commit rewrites it whole: a new file, without those bytes
                self._close(name)

    def _descriptor(self, name: str) -> int:
        descriptor = self._descriptors.get(name)
        if descriptor is None:
            descriptor = self._descriptors[name] = os.open(self.folder / name, os.O_WRONLY | os.O_CLOEXEC)
        return descriptor

    def _close(self, name: str) -> None:
        descriptor = self._descriptors.pop(name, None)
        if descriptor is not None:
            os.close(descriptor)

    def close(self) -> None:
        for name in list(self._descriptors):
            self._close(name)

    def _sync(self, descriptor: int) -> None:
        if self._fsync:
            os.fdatasync(descriptor)


def record_line(record: Mapping[str, str]) -> bytes:
    """A commit record, as meta.csv holds it."""
    return RECORD_PREFIX + " ".join(f"{name}:{entry}" for name, entry in sorted(record.items())).encode() + b"\n"


def last_record(data: bytes) -> tuple[dict[str, str], int]:
    """The last whole commit record in meta.csv's bytes (each file it names, and its entry) and where
    it ends; ({}, its length) when it holds none."""
    end = len(data)
    while (start := data.rfind(b"\n" + RECORD_PREFIX, 0, end)) >= 0:
        stop = data.find(b"\n", start + 1, end)
        if stop >= 0:
            try:
                fields = data[start + 1 + len(RECORD_PREFIX) : stop].decode("ascii").split(" ")
                record = dict(field.split(":", 1) for field in fields if field)
                if all(entry.count(":") == 1 and entry.split(":")[0].isdecimal() for entry in record.values()):
                    return record, stop + 1
            except (UnicodeDecodeError, ValueError):
                pass
        end = start + 1  # not a whole record: a commit that did not finish
    return {}, end
