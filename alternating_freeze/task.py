"""The task Hydra runs for every job: the failure policy around ``train.execute``.

One job at a time per folder (its lock), finished jobs skipped, another config's results refused,
and any exception turned into a recorded status (error.txt, a failed summary.json, one line on
the terminal), so that one bad job never costs a sweep its other results. ``run_job`` is what the
launchers call (joblib and submitit pickle it by its module path).
"""
from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from . import joblock, progress, sweep
from .config import changed_keys, config_hash
from .contract import ERROR_FILE, SUMMARY_FILE, TERMINAL, agrees, metrics_rows, read_summary, remove_temporaries, \
    write_atomic
from .errors import ConfigError, ForeignFolder
from .machine import available_cores
from .train import _folder, _now, _write_summary, execute

log = logging.getLogger("alternating_freeze.train")  # one logger name for a job's lines, as train.log shows them
RUNNING_ELSEWHERE = sweep.RUNNING_ELSEWHERE


def one_line(e: Exception) -> str:
    """An error as one line: ConfigError's own; OmegaConf's first line with the key it names."""
    if isinstance(e, ConfigError):
        return str(e)
    first = (str(e).strip().splitlines() or [""])[0]
    key = getattr(e, "full_key", None)
    return f"{key}: {type(e).__name__}: {first}" if key else f"{type(e).__name__}: {first}"


def _done(out: Path, cfg: DictConfig) -> bool:
    """Whether the job's folder already holds its results (a resumed sweep skips it). Another
    config's results are refused; a summary that disagrees with metrics.csv is set aside."""
    previous = read_summary(out)
    if not previous or previous.get("status") not in TERMINAL:
        return False
    if previous.get("config_hash") != config_hash(cfg):
        raise ForeignFolder(*_folder(out), f"holds results of a different config ({changed_keys(previous.get('config'), cfg)}); "
                            "use a new folder or the original overrides")
    if not agrees(out, previous):
        log.warning("%s: summary.json says %s epochs, metrics.csv has %s: running the job again",
                    out, previous.get("epochs_completed"), metrics_rows(out))
        (out / SUMMARY_FILE).unlink()
        return False
    log.info("skipping %s: already %s", out, previous["status"])
    return True


def record_failure(out: Path, cfg: DictConfig, e: Exception, t_start: float, started_at: str) -> str:
    """Record a job's exception in its folder (error.txt, a failed summary.json) and return it as one line.
    Finished results (another config's, or this one's when its config cannot be read) stay as they are."""
    message = one_line(e)
    if not isinstance(e, ForeignFolder) and (read_summary(out) or {}).get("status") not in TERMINAL:
        write_atomic(out / ERROR_FILE, "".join(traceback.format_exception(e)).encode())
        _write_summary(out, cfg, {"status": "failed", "error": message, "seed": cfg.get("seed"),
                                  "total_s": time.perf_counter() - t_start}, started_at)
    return message


def run_job(cfg: DictConfig) -> str:
    """One job: skip it if already done, run it, and turn any failure into a recorded status."""
    t_start, started_at = time.perf_counter(), _now()
    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir)
    sweep_dir = Path(hc.sweep.dir) if hc.mode == RunMode.MULTIRUN else None
    with joblock.hold(out) as other:
        if other is not None:  # nothing in the folder is touched
            log.error("error: %s: running elsewhere (%s)", out, other)
            if sweep_dir is None:
                sys.exit(1)
            progress.ended(sweep_dir, 0.0, ran=False)  # this launch is done with it: job k/N still reaches N
            return RUNNING_ELSEWHERE
        if sweep_dir is not None and (where := progress.started(sweep_dir, _parallel(hc.launcher))):
            log.info("%s: %s", where, hc.job.override_dirname or out.name)
        if remove_temporaries(out):
            log.info("removed temporary files of interrupted writes in %s", out)
        status = "failed"
        try:
            status = "skipped" if _done(out, cfg) else execute(cfg, out, hc, t_start, started_at)
            return status
        except Exception as e:  # recorded, so that one bad job never costs a sweep its other results
            message = record_failure(out, cfg, e, t_start, started_at)
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            log.error("error: %s%s", message, "" if isinstance(e, ConfigError) else f" (traceback: {out / ERROR_FILE})")
            if sweep_dir is None:
                sys.exit(2 if isinstance(e, ConfigError) else 1)
            return status
        finally:
            if sweep_dir is not None:
                progress.ended(sweep_dir, time.perf_counter() - t_start, ran=status != "skipped")


def _parallel(launcher: DictConfig | None) -> int:
    """How many jobs of the sweep run at once (for its ETA)."""
    launcher = launcher or {}
    jobs = launcher.get("n_jobs") or launcher.get("array_parallelism") or 1
    return available_cores() if jobs < 0 else int(jobs)
