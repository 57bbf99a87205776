"""Crash-safe replacement of several files of one folder at once.

1. the new files are written and fsynced in `.commit-new/`;
2. renaming `.commit-new/` to `.commit/` is the commit point (then the folder is fsynced);
3. each file is moved over its old version with os.replace, the folder fsynced, `.commit/` removed.

At start-up `recover()` rolls a leftover `.commit/` forward (step 3 again) and throws a
`.commit-new/` away, so the files always hold one consistent version, and a reader at any
moment sees a whole file. A commit that fails before its commit point (disk full) changes no
file and leaves no `.commit-new/`; one whose files cannot all be moved (step 3) is finished
before the next commit begins.
"""

import os
import shutil
from pathlib import Path

NEW_COMMIT, COMMIT = ".commit-new", ".commit"


class FolderCommit:
    """Commits new versions of files in `folder`; fsync=False only for tests that need speed."""

    def __init__(self, folder: Path, fsync: bool = True):
        self.folder = folder
        self._fsync = fsync
        self._unfinished = False
        """The last commit reached its commit point but some of its files still wait in .commit/."""

    def recover(self) -> None:
        """Finish a commit that reached its commit point; drop one that did not."""
        shutil.rmtree(self.folder / NEW_COMMIT, ignore_errors=True)
        if (self.folder / COMMIT).is_dir():
            self._move_committed_files()

    def finish(self) -> None:
        """Move into place the files of a commit that reached its commit point but not its end;
        OSError if they still cannot be moved."""
        if self._unfinished:
            self._move_committed_files()
            self._unfinished = False

    def commit(self, contents: dict[str, bytes]) -> OSError | None:
        """Replace the named files by these bytes. Raises OSError when nothing was committed (the
        files already in place are untouched, the new ones removed); returns the error when the
        commit point was reached but not every file could be moved into place (the new versions
        wait in .commit/, and are moved before the next commit, or by recover())."""
        self.finish()  # the last commit's files first: this one may not rewrite all of them
        new, committed = self.folder / NEW_COMMIT, self.folder / COMMIT
        try:
            shutil.rmtree(new, ignore_errors=True)
            new.mkdir()
            for name, data in contents.items():
                with open(new / name, "wb") as file:
                    file.write(data)
                    file.flush()
                    self._sync(file.fileno())
            self._sync_folder(new)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)  # a full disk gets its space back
            raise
        try:
            os.rename(new, committed)  # the commit point
        except OSError as error:
            if not committed.is_dir():  # not renamed: nothing committed
                shutil.rmtree(new, ignore_errors=True)
                raise
            self._unfinished = True  # renamed, though an error was reported: committed
            return error
        try:
            self._sync_folder(self.folder)
            self._move_committed_files()
        except OSError as error:
            self._unfinished = True
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
