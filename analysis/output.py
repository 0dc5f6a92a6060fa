"""Writing the analysis' files: atomically, never through a symlink, and failing in one line. A results
folder may be shared and writable by others: a link planted where an output goes is replaced, not followed."""
from __future__ import annotations

from pathlib import Path

from alternating_freeze.contract import write_atomic


class OutputError(OSError):
    """An output could not be written; the message names it and why (e.g. a full disk)."""


def write_bytes(path: Path, data: bytes) -> Path:
    """Through a temporary file and ``os.replace``: a link at ``path`` is replaced, its target never written."""
    try:
        write_atomic(path, data, durable=False)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
    return path


def folder(path: Path) -> Path:
    """``path`` as a real folder: a symlink planted there is removed first."""
    try:
        if path.is_symlink():
            path.unlink()
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {path}: {e.strerror or e}") from None
    return path
