"""Earlier versions of the service, to measure beside this one."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def checkout(commit: str, folder: Path) -> Path:
    """The tree of `commit`, written to `folder`/<commit> (git archive: no worktree to clean up)."""
    target = folder / commit
    target.mkdir()
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target
