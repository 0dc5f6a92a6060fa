"""What every tracker shares: the per-run handle that keeps a tracker's failure away from the run,
and the values every tracker logs (the flattened config, the sweep it belongs to, its configuration).

A tracker is a convenience for watching runs; the run's own files are the results. So nothing a
tracker does may fail or hold up a run: every call goes through ``Logger``, which turns the first
exception into one warning line and a note in summary.json, and makes no further call to that
tracker. One ``Logger`` per run folder and no module state: a process that trains several runs
(the basic launcher, a batched launcher) gives each its own tracker run.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional

from ..contract import SUMMARY_FILE, read_summary, write_json
from ..errors import ConfigError

log = logging.getLogger(__name__)

# Each tracker's own id of the run (MLflow run id, W&B run id), so that a job resumed from its
# checkpoint continues the same tracker run instead of starting a second, partial one.
STATE_FILE = "logger.json"
EXTRA = "uv sync --extra tracking"  # what installs every tracker (pyproject.toml, [project.optional-dependencies])


@dataclass
class LoggerConfig:
    """Schema of ``logger=none`` and the base of the trackers' schemas (conf/logger/)."""

    name: str = "none"
    package: ClassVar[Optional[str]] = None  # the import the tracker needs, from the `tracking` extra

    def __post_init__(self) -> None:
        # find_spec imports nothing: the check costs no start-up time, and it runs in validate(),
        # before any data is loaded, so a missing tracker is one line and not a wasted run
        if self.package and importlib.util.find_spec(self.package) is None:
            raise ConfigError("logger", self.name, f"{self.package} is not installed; {EXTRA}")


@dataclass(frozen=True)
class RunInfo:
    """What a tracker is told about the run it records."""

    run_dir: Path
    config: dict  # the resolved config flattened to dotted keys, the logger group left out
    group: str  # the sweep folder (a single run: the folder holding it): an MLflow experiment, a W&B group
    job_name: str  # the job's folder name (its overrides)
    configuration: str  # the strategy and its non-default options: what the seeds of a sweep share
    start_epoch: int  # epochs finished before this process started (a resumed run)


class Tracker:
    """One tracker run. Subclasses talk to one library; whatever they raise, ``Logger`` catches."""

    def log_epoch(self, row: dict) -> None:
        """One row of metrics.csv, as it is written."""

    def finish(self, summary: dict) -> None:
        """The run's summary (summary.json is written): log it, set the status, end the tracker run."""

    def abort(self) -> None:
        """The run stopped without a summary (an exception, Ctrl-C): end the tracker run as failed."""


class Logger:
    """The handle a run holds: ``log_epoch`` after each epoch, ``finish(summary)`` once summary.json
    is written, ``close()`` in any case (after ``finish`` it does nothing)."""

    def __init__(self, name: str, run_dir: Path, start: Optional[Callable[[], Tracker]] = None):
        self.name, self.run_dir = name, Path(run_dir)
        self.notes: list[str] = []  # one per tracker failure, added to summary.json's `notes`
        self._tracker: Optional[Tracker] = None
        self._open = True
        if start is not None:
            self._tracker = self._guard("start", start)

    def _guard(self, what: str, call: Callable, *args) -> Any:
        try:
            return call(*args)
        except Exception as e:  # noqa: BLE001 - any tracker error: the run goes on without it
            message = " ".join(str(e).split())[:300]
            note = f"logger {self.name} failed: {type(e).__name__}" + (f": {message}" if message else "")
            log.warning("%s (at %s; no more tracking for this run)", note, what)
            self.notes.append(note)
            self._tracker = None  # no further call: a tracker that failed once may hang the next time
            return None

    def log_epoch(self, row: dict) -> None:
        if self._tracker is not None:
            self._guard("log_epoch", self._tracker.log_epoch, row)

    def finish(self, summary: dict) -> None:
        if not self._open:
            return
        self._open = False
        if self._tracker is not None:
            self._guard("finish", self._tracker.finish, summary)
            self._tracker = None
        if self.notes:
            add_notes(self.run_dir, summary, self.notes)

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        if self._tracker is not None:
            self._guard("close", self._tracker.abort)
            self._tracker = None


def add_notes(run_dir: Path, summary: dict, notes: list[str]) -> None:
    """Add ``notes`` to summary.json's list (and to ``summary``), keeping the notes already there."""
    summary["notes"] = [*(summary.get("notes") or []), *notes]
    on_disk = read_summary(run_dir)
    if on_disk is not None:
        on_disk["notes"] = [*(on_disk.get("notes") or []), *notes]
        write_json(Path(run_dir) / SUMMARY_FILE, on_disk)


# ---------------------------------------------------------------- what trackers log


def text(value: Any) -> str:
    """A config value as a tracker's string parameter: strings as they are, the rest as JSON (null, [5, 1])."""
    return value if isinstance(value, str) else json.dumps(value)


def numbers(row: dict, skip: tuple = ("epoch",)) -> dict[str, float]:
    """The finite numeric values of a metrics row or a summary (NaN: a split that does not exist)."""
    return {
        k: float(v)
        for k, v in row.items()
        if k not in skip and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


def group_name(run_dir: Path, sweep_dir: Optional[Path]) -> str:
    """The folder that holds the job folders, relative to the working directory when below it
    (``outputs/multirun/frequency/2026-11-25_10-00-00``), else absolute."""
    folder = Path(sweep_dir if sweep_dir is not None else Path(run_dir).parent).resolve()
    cwd = Path.cwd().resolve()
    return folder.relative_to(cwd).as_posix() if folder.is_relative_to(cwd) and folder != cwd else folder.as_posix()


def recall(run_dir: Path, tracker: str) -> Optional[dict]:
    """What ``remember`` stored for ``tracker`` in this run folder, if anything readable."""
    try:
        state = json.loads((Path(run_dir) / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    entry = state.get(tracker) if isinstance(state, dict) else None
    return entry if isinstance(entry, dict) else None


def remember(run_dir: Path, tracker: str, entry: dict) -> None:
    path = Path(run_dir) / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    write_json(path, {**(state if isinstance(state, dict) else {}), tracker: entry}, durable=False)
