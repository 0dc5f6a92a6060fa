"""How far a sweep is: "job 12/50, ETA 1m40s" at every job's start, from a small counter file in the
sweep folder that the sweeper writes at launch and every job updates when it ends (under a lock,
so that parallel jobs, in other processes or on other nodes of a shared filesystem, count right).

Not part of the results: a job that cannot read or write it just logs less.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Iterator, Optional

from .contract import open_nofollow

PROGRESS_FILE = ".progress.json"


@contextlib.contextmanager
def _locked(sweep_dir: Path) -> Iterator[dict]:
    """The counters, read and written back under an exclusive lock."""
    fd = open_nofollow(Path(sweep_dir) / PROGRESS_FILE, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.pread(fd, 1 << 16, 0)
        state = json.loads(raw) if raw.strip() else {}
        yield state
        data = json.dumps(state).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    finally:
        os.close(fd)


def launch(sweep_dir: Path, total: int) -> None:
    """A launch begins: ``total`` jobs planned (written by the sweeper)."""
    with contextlib.suppress(OSError, ValueError), _locked(sweep_dir) as state:
        state.clear()
        state.update(total=total, started=time.time(), begun=0, ended=0, ran=0, ran_s=0.0)


def started(sweep_dir: Path, parallel: int = 1) -> Optional[str]:
    """ "job 12/50, 3 skipped, ETA 1m40s" for the job starting now, or None outside a counted launch.
    The ETA is the mean wall time of the jobs that ran, times those left, over the parallel jobs."""
    try:
        with _locked(sweep_dir) as state:
            if "total" not in state:
                return None
            state["begun"] = state.get("begun", 0) + 1  # parallel jobs each get their own number
            total, ended, ran, ran_s = state["total"], state["ended"], state["ran"], state["ran_s"]
            begun = state["begun"]
    except (OSError, ValueError):
        return None
    text = f"job {min(max(begun, ended + 1), total)}/{total}"
    if ended > ran:
        text += f", {ended - ran} skipped"
    if ran:
        left = max(total - ended, 0) * ran_s / ran / max(parallel, 1)
        text += f", ETA {duration(left)}"
    return text


def ended(sweep_dir: Path, seconds: float, ran: bool, elsewhere: Optional[str] = None) -> None:
    """A job ends: it ran for ``seconds`` (``ran``) or was skipped, or (``elsewhere``: its folder, relative to the
    sweep folder) was left to another live process, which the end-of-sweep table then says."""
    with contextlib.suppress(OSError, ValueError), _locked(sweep_dir) as state:
        if "total" in state:
            state["ended"] += 1
            if ran:
                state["ran"] += 1
                state["ran_s"] += seconds
            if elsewhere is not None:
                state["elsewhere"] = sorted({*state.get("elsewhere", []), elsewhere})


def left_elsewhere(sweep_dir: Path) -> set[str]:
    """The job folders (relative to the sweep folder) that this launch left to another process."""
    try:
        with _locked(sweep_dir) as state:
            return set(state.get("elsewhere", []))
    except (OSError, ValueError):
        return set()


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


BAR_LABEL_SHARE = 0.3  # of the terminal's width: the rest is the bar and its numbers (val_acc, test_acc, ...)


def bar_label(label: str, columns: Optional[int] = None) -> str:
    """A progress bar's label, cut from the left to a share of the terminal so that the bar keeps its room."""
    import shutil

    room = max(12, int((columns or shutil.get_terminal_size().columns) * BAR_LABEL_SHARE))
    return label if len(label) <= room else "…" + label[-(room - 1) :]
