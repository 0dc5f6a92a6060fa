"""`logger=wandb`: one W&B run per job, offline by default (files under ``<run>/wandb/``, uploaded
later with ``wandb sync``), so that a sweep needs neither network nor an account while it runs.

``group`` is the sweep folder and ``job_type`` the configuration (the strategy and its options), so
that W&B's "group by" shows a sweep, and within it the seeds of each configuration, together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..contract import COMPLETED
from ..errors import ConfigError
from .base import LoggerConfig, RunInfo, Tracker, numbers, recall, remember

MODES = ("offline", "online", "disabled")


@dataclass
class WandbConfig(LoggerConfig):
    name: str = "wandb"
    project: str = "alternating-freeze"
    entity: Optional[str] = None  # null: the account's default entity (online)
    mode: str = "offline"  # offline | online | disabled
    package = "wandb"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError("logger.mode", self.mode, f"allowed: {', '.join(MODES)}")
        super().__post_init__()


def init_args(cfg: WandbConfig, info: RunInfo, resume_id: Optional[str]) -> dict:
    """``wandb.init``'s arguments for this run (apart, so that they can be checked without wandb)."""
    return {
        "project": cfg.project,
        "entity": cfg.entity,
        "mode": cfg.mode,
        "dir": str(info.run_dir),
        "group": info.group,
        "job_type": info.configuration,
        "name": info.job_name,
        "config": info.config,
        "id": resume_id,
        "resume": "allow" if resume_id else None,
        "reinit": "create_new",  # a process training several runs holds one W&B run for each
    }


class WandbTracker(Tracker):
    def __init__(self, cfg: WandbConfig, info: RunInfo):
        import wandb

        previous = recall(info.run_dir, "wandb") if info.start_epoch else None
        # no console capture (Hydra's log handlers write train.log) and no system-metrics sampler:
        # a tracker must not compete with the run it watches for the CPU
        settings = wandb.Settings(console="off", x_disable_stats=True, silent=True)
        self.run = wandb.init(**init_args(cfg, info, previous and previous.get("id")), settings=settings)
        remember(info.run_dir, "wandb", {"id": self.run.id})

    def log_epoch(self, row: dict) -> None:
        self.run.log(numbers(row), step=row["epoch"])

    def finish(self, summary: dict) -> None:
        status = summary.get("status")
        self.run.summary.update({**numbers(summary, skip=("seed",)), "status": status, "error": summary.get("error")})
        self.run.finish(exit_code=0 if status == COMPLETED else 1)

    def abort(self) -> None:
        self.run.finish(exit_code=1)


TRACKER = WandbTracker
