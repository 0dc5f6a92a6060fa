"""Atomic writes: nothing the harness writes is left half-written by a kill, or written through a symbolic link.
Standard library only."""

from __future__ import annotations

import errno
import json
import math
import os
import re
import uuid
from pathlib import Path
from typing import Any


class LinkRefused(OSError):
    """A symbolic link where the harness would write: its message is the one line."""

    def __str__(self) -> str:
        return str(self.strerror)


def refuse_link(path: Path | str) -> None:
    """Refuse ``path`` in one line when it is a symbolic link: nothing in a sweep is written through a link
    (a planted one would have the harness change a file outside the sweep folder)."""
    if Path(path).is_symlink():
        raise LinkRefused(errno.ELOOP, f"{path} is a symbolic link; nothing is written through links: remove it")


def open_nofollow(path: Path | str, flags: int, mode: int = 0o666) -> int:
    """``os.open`` for every file the harness writes or truncates inside a sweep in place (locks, counters):
    a link at ``path`` is refused (``refuse_link``'s line), never followed."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, mode)
    except OSError as e:
        if e.errno == errno.ELOOP:
            refuse_link(path)
        raise


def write_atomic(path: Path | str, data: bytes, durable: bool = True) -> None:
    """Write through a temporary file in the same folder and ``os.replace``: a killed writer never
    leaves a file that looks complete. ``durable``: fsync the file before the rename and the folder
    after it, so that the file survives a crash of the machine too. Permissions follow the umask,
    as for any new file (mkstemp's 0600 would hide results from collaborators)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, LinkRefused) and not e.filename:  # a full disk: say which
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e
        raise
    if durable:
        try:  # the rename itself; some filesystems cannot open or fsync a folder, and the file is in place
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        except OSError:
            pass


TEMPORARY = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.tmp$")  # write_atomic's temporary files


def remove_temporaries(folder: Path | str) -> int:
    """Delete the temporary files that writes killed mid-way left in ``folder`` (a checkpoint's are
    megabytes each); only the holder of the folder's job lock calls this, so none is in use."""
    removed = 0
    for path in Path(folder).iterdir() if Path(folder).is_dir() else ():
        if TEMPORARY.match(path.name) and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def finite(obj: Any) -> Any:
    """NaN and inf are not JSON: they become null (a diverged run's losses)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def write_json(path: Path | str, obj: Any, durable: bool = True) -> None:
    write_atomic(path, (json.dumps(finite(obj), indent=2, default=str) + "\n").encode(), durable)
