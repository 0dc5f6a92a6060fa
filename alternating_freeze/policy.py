"""The run policy, one for every launcher: a job is *claimed* before it trains and its end is *recorded*.

Claiming holds the job folder's lock (``joblock``: never two processes on one job), leaves a job that another
live process holds alone ("running elsewhere"), removes the temporary files of writes a kill interrupted, skips a
job whose folder holds its results, refuses one whose folder holds another config's (nothing there is
overwritten), and fails one whose .hydra/* files Hydra could not write (a full disk; ``hydra_compat``). Recording turns any exception into a failed status on disk (error.txt, a failed summary.json, one
line on the terminal), so that one bad job never costs a sweep its other results, and counts the job's end in the
sweep's job counter (``progress``). The single-run task (``task.run_job``) and the batched runner both use this.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from omegaconf import DictConfig

from . import hydra_compat, joblock, progress
from .config import changed_keys, config_hash, redact
from .contract import (
    CHECKPOINT_FILE,
    ERROR_FILE,
    SUMMARY_FILE,
    TERMINAL,
    agrees,
    metrics_rows,
    read_summary,
    refuse_link,
    remove_temporaries,
    write_atomic,
)
from .errors import ConfigError, ForeignFolder
from .finish import now, write_summary
from .job import folder_key
from .sweep import RUNNING_ELSEWHERE

log = logging.getLogger("alternating_freeze.train")  # one logger name for a job's lines, as train.log shows them
SKIPPED, FAILED = "skipped", "failed"


@dataclass
class Claim:
    """One job as the policy sees it: ``status`` stays None while the job may train, and is what it ended as."""

    out: Path
    cfg: DictConfig  # without its hydra node: what the task function receives
    sweep_dir: Optional[Path]  # None for a single run (no job counter)
    t_start: float
    started_at: str
    status: Optional[str] = None
    error: Optional[Exception] = None  # what made it fail, if it did
    counted: bool = False

    def end(self) -> None:
        """Count the job's end in the sweep's job counter, once (job k/N, ETA)."""
        if self.sweep_dir is not None and not self.counted:
            progress.ended(
                self.sweep_dir,
                time.perf_counter() - self.t_start,
                ran=self.status not in (SKIPPED, RUNNING_ELSEWHERE),
                elsewhere=relative(self.out, self.sweep_dir) if self.status == RUNNING_ELSEWHERE else None,
            )
        self.counted = True


@contextlib.contextmanager
def claim(
    out: Path, cfg: DictConfig, sweep_dir: Optional[Path], parallel: int = 1, announce: bool = True
) -> Iterator[Claim]:
    """Hold the job's lock for the block; the claim's ``status`` is set if the job must not train. ``announce``:
    log "job k/N, ETA" as it starts (a batched group claims all its jobs before any trains, and says nothing)."""
    job = Claim(Path(out), cfg, sweep_dir, time.perf_counter(), now())
    with contextlib.ExitStack() as held:
        try:  # a job folder or .lock that is a link is refused: nothing is written through it, not even the lock
            refuse_link(job.out)
            other = held.enter_context(joblock.hold(job.out))
        except OSError as e:
            log.error("error: %s", e)
            job.status, job.error, other = FAILED, e, ""
        if other is not None:  # nothing in the folder is touched
            if other:
                log.error("error: %s: running elsewhere (%s)", job.out, other)
                job.status = RUNNING_ELSEWHERE
        else:
            if announce and sweep_dir is not None and (where := progress.started(sweep_dir, parallel)):
                log.info("%s: %s", where, job.out.name)
            if remove_temporaries(job.out):
                log.info("removed temporary files of interrupted writes in %s", job.out)
            attempt(job, lambda: SKIPPED if done(job.out, cfg) else unwritten(job.out))
        try:
            yield job
        finally:
            job.end()


def attempt(job: Claim, train: Callable[[], Optional[str]], reraise: bool = False) -> Optional[str]:
    """``job.status = train()``, any exception recorded as the job's failure (``fail``)."""
    try:
        job.status = train()
    except Exception as e:  # noqa: BLE001 - recorded, so that one bad job never costs a sweep its other results
        fail(job, e, reraise)
    return job.status


def fail(job: Claim, e: Exception, reraise: bool = False) -> str:
    """Record ``e`` as the job's failure and say it in one line (with the traceback, or re-raised with
    ``reraise``, when HYDRA_FULL_ERROR=1 asks for Hydra's own)."""
    job.status, job.error = FAILED, e
    recorded = True
    try:
        message = record_failure(job, e)
    except OSError as unrecorded:
        recorded = False  # a full disk: the line on the terminal still says what failed
        message = f"{redact(one_line(e), job.cfg)} (not recorded in {job.out}: {unrecorded.strerror or unrecorded})"
    full = os.environ.get("HYDRA_FULL_ERROR") == "1"
    if full and reraise:
        raise e
    if isinstance(e, ConfigError) and job.sweep_dir is None and not full:
        # a single run's configuration mistake: the one plain line af-train gives any bad input (cli.py),
        # and the same line in train.log
        print(f"error: {message}", file=sys.stderr)
        with consoles_silenced():
            log.error("error: %s", message)
        return FAILED
    log.error(
        "error: %s%s",
        message,
        "" if isinstance(e, ConfigError) or not recorded else f" (traceback: {job.out / ERROR_FILE})",
        exc_info=e if full else None,
    )
    return FAILED


@contextlib.contextmanager
def consoles_silenced() -> Iterator[None]:
    """Log records of the block go to files (train.log) only, not to the terminal."""
    consoles = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    for h in consoles:
        h.addFilter(_reject)
    try:
        yield
    finally:
        for h in consoles:
            h.removeFilter(_reject)


def _reject(record: logging.LogRecord) -> bool:
    return False


def done(out: Path, cfg: DictConfig) -> bool:
    """Whether the job's folder already holds its results (a resumed sweep skips it). Another
    config's results are refused; a summary that disagrees with metrics.csv is set aside."""
    previous = read_summary(out)
    if not previous or previous.get("status") not in TERMINAL:
        return False
    if previous.get("config_hash") != config_hash(cfg):
        raise ForeignFolder(
            *folder_key(out),
            f"holds results of a different config "
            f"({changed_keys(previous.get('config'), cfg)}); use a new folder or the original overrides",
        )
    if not agrees(out, previous):
        log.warning(
            "%s: summary.json says %s epochs, metrics.csv has %s: running the job again",
            out,
            previous.get("epochs_completed"),
            metrics_rows(out),
        )
        (out / SUMMARY_FILE).unlink()
        return False
    log.info("skipping %s: already %s", out, previous["status"])
    (out / CHECKPOINT_FILE).unlink(missing_ok=True)  # a kill between summary.json and its removal left it
    return True


def unwritten(out: Path) -> None:
    """A job whose .hydra/* files Hydra could not write (a full disk) fails: its folder would not say what it ran."""
    error = hydra_compat.unwritten(out)
    if error is not None:
        raise error


def one_line(e: Exception) -> str:
    """An error as one line: ConfigError's own; OmegaConf's first line with the key it names."""
    if isinstance(e, ConfigError):
        return str(e)
    first = (str(e).strip().splitlines() or [""])[0]
    key = getattr(e, "full_key", None)
    return f"{key}: {type(e).__name__}: {first}" if key else f"{type(e).__name__}: {first}"


def record_failure(job: Claim, e: Exception) -> str:
    """Record a job's exception in its folder (error.txt, a failed summary.json) and return it as one line.
    Finished results (another config's, or this one's when its config cannot be read) stay as they are."""
    message = redact(one_line(e), job.cfg)  # an interpolated value (a secret) is said as its ${...}
    if not isinstance(e, ForeignFolder) and (read_summary(job.out) or {}).get("status") not in TERMINAL:
        write_atomic(job.out / ERROR_FILE, redact("".join(traceback.format_exception(e)), job.cfg).encode())
        write_summary(
            job.out,
            job.cfg,
            {
                "status": FAILED,
                "error": message,
                "seed": recorded_seed(job.cfg),
                "total_s": time.perf_counter() - job.t_start,
            },
            job.started_at,
        )
    return message


def recorded_seed(cfg: DictConfig) -> Optional[int]:
    """The job's seed for its failure record; None when it is not a valid one (``seed=${oc.env:HOME}``)."""
    try:
        seed = cfg.get("seed")
    except Exception:  # noqa: BLE001 - resolving it is what failed: the failure must still be recorded
        return None
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def relative(out: Path, sweep_dir: Path) -> str:
    """A job folder as the end-of-sweep table names it: relative to the sweep folder."""
    out, sweep_dir = Path(out).absolute(), Path(sweep_dir).absolute()
    return out.relative_to(sweep_dir).as_posix() if out.is_relative_to(sweep_dir) else str(out)
