"""End-of-sweep accounting: one table of what every job of the sweep folder ended as, and the exit code."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from . import contract, joblock, progress
from .config import changed_keys, config_hash

log = logging.getLogger(__name__)
_exit_code = 0
RUNNING_ELSEWHERE = "running elsewhere"  # another live process holds the job's lock (joblock)
DONE_ELSEWHERE = "done elsewhere"  # this launch found it running elsewhere; that process has finished it since
ORDER = ("completed", "skipped", "diverged", "failed", "refused", RUNNING_ELSEWHERE, DONE_ELSEWHERE, "incomplete")
PROBLEMS = ("diverged", "failed", "refused", RUNNING_ELSEWHERE, DONE_ELSEWHERE, "incomplete")  # listed by name
FAILURES = ("failed", "refused", RUNNING_ELSEWHERE, "incomplete")  # make the sweep exit non-zero


def exit_code() -> int:
    """Non-zero when the last sweep of this process had a failed or unfinished job."""
    return _exit_code


def forget_exit_code() -> None:
    """Start a launch with no failure on record: a process that launches several (the in-process tests) must
    not exit 1 for an earlier launch's failed job."""
    global _exit_code
    _exit_code = 0


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Every job folder, the sweep folder itself included: a job whose overrides are all execution
    keys (``-m trainer.device=cpu,cuda``) has an empty override_dirname and runs there."""
    return sorted(p.parent for p in Path(sweep_dir).rglob(".hydra"))


def _launched(job: Path) -> DictConfig | None:
    """The config this launch composed for the job (Hydra rewrites .hydra/config.yaml every launch)."""
    try:
        return OmegaConf.load(job / contract.CONFIG_FILE)
    except Exception:  # noqa: BLE001 - unreadable: cannot tell, and say so
        return None


def job_status(job: Path, launched_at: float) -> tuple[str, str]:
    """(status, error) of one job. A terminal summary older than this launch means the job was not run
    again: skipped if it is this launch's config, refused (its results kept) if another's."""
    who = joblock.owner(job)
    if who:
        return RUNNING_ELSEWHERE, f"{who}; launch the sweep again once it has finished"
    summary = contract.read_summary(job)
    if summary is None:
        return "incomplete", "no summary.json (killed, or another config's checkpoint)"
    if summary.get("status") in contract.TERMINAL and not contract.agrees(job, summary):
        return "incomplete", "summary.json disagrees with metrics.csv; the next launch runs the job again"
    status, error = summary.get("status", "incomplete"), summary.get("error") or ""
    if status in contract.TERMINAL and (job / contract.SUMMARY_FILE).stat().st_mtime < launched_at:
        launched_cfg = _launched(job)
        if launched_cfg is None or summary.get("config_hash") != config_hash(launched_cfg):
            changed = changed_keys(summary.get("config"), launched_cfg) if launched_cfg is not None else "unreadable"
            return (
                "refused",
                f"holds results of a different config ({changed}); use a new sweep dir or the original overrides",
            )
        return ("skipped" if status == "completed" else status), error
    return status, error


def launched(job: Path, launched_at: float) -> bool:
    """Whether this launch ran (or skipped) the job: Hydra writes a job's .hydra/ whenever it starts it.
    Folders of an earlier launch with other overrides are not this sweep's business."""
    try:
        return (job / ".hydra" / "config.yaml").stat().st_mtime >= launched_at
    except OSError:
        return True  # cannot tell: count it


def report(sweep_dir: Path, launched_at: float) -> tuple[dict[str, int], list[tuple[str, str, str]], int]:
    """Counts per status and the problem jobs of this launch, and how many folders earlier launches left."""
    counts = {s: 0 for s in ORDER}
    problems, earlier = [], 0
    left = progress.left_elsewhere(sweep_dir)
    for job in job_dirs(sweep_dir):
        if not launched(job, launched_at):
            earlier += 1
            continue
        status, error = job_status(job, launched_at)
        if status in contract.TERMINAL and job.relative_to(sweep_dir).as_posix() in left:
            status, error = DONE_ELSEWHERE, f"{status} by another launch, not computed by this one"
        counts[status] = counts.get(status, 0) + 1
        if status in PROBLEMS:
            problems.append((status, job.name, error))
    return counts, problems, earlier


def launch_clock(sweep_dir: Path) -> float:
    """This launch's start on the clock that stamps the jobs' files (a cluster's shared filesystem may run another
    clock than this host): the mtime of a file created in the sweep folder and removed at once. Not multirun.yaml's:
    a second launch of the same sweep rewrites it, and the first launch then took its own jobs for earlier ones."""
    here = next(p for p in (sweep_dir.absolute(), *sweep_dir.absolute().parents) if p.is_dir())  # "/" at worst
    try:  # the sweep folder, or before its first launch the nearest folder above it (nothing is created)
        with tempfile.NamedTemporaryFile(dir=here, prefix=".af-clock-") as f:
            return os.fstat(f.fileno()).st_mtime
    except OSError:  # a folder this user cannot write: this host's clock
        return time.time()


class SweepReport(Callback):
    """Prints the sweep's status table and makes ``af-train -m`` exit non-zero if a job failed."""

    def __init__(self) -> None:
        self.launched_at = time.time()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.launched_at = launch_clock(Path(config.hydra.sweep.dir))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        global _exit_code
        sweep_dir = Path(config.hydra.sweep.dir)
        counts, problems, earlier = report(sweep_dir, self.launched_at - 1.0)
        lines = [
            f"sweep {sweep_dir}: "
            + ", ".join(f"{n} {s}" for s, n in counts.items() if n or s == "completed")
            + (f" ({earlier} folder(s) of earlier launches with other overrides not counted)" if earlier else "")
        ]
        lines += [f"  {status:<10} {name}  {error}" for status, name, error in problems]
        print("\n".join(lines), flush=True)
        _exit_code = 1 if any(counts.get(s) for s in FAILURES) else 0
