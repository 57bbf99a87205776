"""Crash-safe replacement of several files of one folder at once.

1. the new files are written and fsynced in `.commit-new/`;
2. renaming `.commit-new/` to `.commit/` is the commit point (then the folder is fsynced);
3. each file is moved over its old version with os.replace, the folder fsynced, `.commit/` removed.

At start-up `recover()` rolls a leftover `.commit/` forward (step 3 again) and throws a
`.commit-new/` away, so the files always hold one consistent version, and a reader at any
moment sees a whole file.
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

    def recover(self) -> None:
        """Finish a commit that reached its commit point; drop one that did not."""
        shutil.rmtree(self.folder / NEW_COMMIT, ignore_errors=True)
        if (self.folder / COMMIT).is_dir():
            self._move_committed_files()

    def commit(self, contents: dict[str, str]) -> OSError | None:
        """Replace the named files by these texts. Raises OSError when nothing was committed;
        returns the error when the commit point was reached but not every file could be moved
        into place (the new versions wait in .commit/ and are moved by the next recover())."""
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
