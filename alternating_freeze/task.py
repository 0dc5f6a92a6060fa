"""The task Hydra runs for every job (``af-train``): the run policy (``policy``) around ``train.execute``.
``run_job`` is what the launchers call; joblib and submitit pickle it by its module path."""

from __future__ import annotations

import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from . import policy
from .errors import ConfigError
from .machine import jobs_at_once
from .sweep import RUNNING_ELSEWHERE
from .train import execute


def run_job(cfg: DictConfig) -> str:
    """One job: skip it if already done, run it, and turn any failure into a recorded status."""
    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir)
    sweep_dir = Path(hc.sweep.dir) if hc.mode == RunMode.MULTIRUN else None
    with policy.claim(out, cfg, sweep_dir, jobs_at_once(hc.launcher)) as job:
        if job.status is None:
            policy.attempt(job, lambda: execute(cfg, out, hc, job.t_start, job.started_at), reraise=True)
    if sweep_dir is None and job.status in (RUNNING_ELSEWHERE, policy.FAILED):  # a single run says it in its exit
        sys.exit(2 if isinstance(job.error, ConfigError) else 1)
    return job.status
