"""One process at a time per job folder: two launches of one sweep (or a requeued job beside its
stale twin) must never train the same job twice, or one's summary.json could land beside the
other's metrics.csv.

The lock is ``fcntl.flock`` on ``<job>/.lock`` (emulated with POSIX locks on NFS), so the kernel
releases it when its holder dies: a lock of a dead owner is simply taken. While held, the file
names its owner (host, pid, start time) for messages; the owner empties it when done.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Iterator, Optional

from .contract import LOCK_FILE, open_nofollow

ATTEMPTS, PAUSE_S = 5, 0.02  # a probe (``owner``) holds the lock for microseconds: retry briefly past it


@contextlib.contextmanager
def hold(job_dir: Path) -> Iterator[Optional[str]]:
    """Hold the job's lock for the block: yields None when held, else the owner's description."""
    fd = open_nofollow(Path(job_dir) / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    try:
        for attempt in range(ATTEMPTS):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == ATTEMPTS - 1:
                    yield _read(fd) or "another process"
                    return
                time.sleep(PAUSE_S)
        os.ftruncate(fd, 0)
        os.pwrite(
            fd,
            f"host {socket.gethostname()} pid {os.getpid()} since "
            f"{datetime.now(UTC).isoformat(timespec='seconds')}\n".encode(),
            0,
        )
        try:
            yield None
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def owner(job_dir: Path) -> Optional[str]:
    """Who runs the job now (its description), or None: a job whose lock file names an owner is
    probed, since an owner killed outright leaves its name behind but not its lock."""
    try:
        fd = open_nofollow(Path(job_dir) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        who = _read(fd)
        if not who:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return who
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read(fd: int) -> str:
    return os.pread(fd, 512, 0).decode(errors="replace").strip()
