"""What the benchmarks share: earlier versions of the service to measure beside this one, and the
CPU time a process has used."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process so far (/proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def checkout(commit: str, folder: Path) -> Path:
    """The tree of `commit`, written to `folder`/<commit> (git archive: no worktree to clean up)."""
    target = folder / commit
    target.mkdir()
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target
