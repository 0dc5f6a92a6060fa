"""Experiment trackers (the `logger` config group): TensorBoard, MLflow, W&B, or none (the default).

Each module here holds one option's schema (``conf/logger/<name>.yaml`` names it) and its
``TRACKER``; the tracker library itself is imported only when a run opens that tracker, so the
default run imports nothing of theirs. They are optional dependencies: ``uv sync --extra tracking``.

    logger = open_logger(run.logger, run_dir, config, sweep_dir, job_name, start_epoch=state.epoch)
    logger.log_epoch(row)        # after each epoch, the row metrics.csv got
    logger.finish(summary)       # once summary.json is written
    logger.close()               # always (a run that never finished: its tracker run ends as failed)
"""

from __future__ import annotations

import importlib
from dataclasses import fields
from pathlib import Path
from typing import Any, Optional

from ..contract import configuration_label, flatten
from .base import Logger, LoggerConfig, RunInfo, Tracker, group_name
from .mlflow import MLflowConfig
from .tensorboard import TensorBoardConfig
from .wandb import WandbConfig

LOGGERS = {schema.name: schema for schema in (LoggerConfig, TensorBoardConfig, MLflowConfig, WandbConfig)}


def option_keys() -> list[str]:
    """Every ``logger.<key>`` a user can set: they stay out of sweep folder names (conf/train.yaml)."""
    return sorted({f"logger.{f.name}" for schema in LOGGERS.values() for f in fields(schema) if f.name != "name"})


def open_logger(
    cfg_logger: Any, run_dir: Path, config: dict, sweep_dir: Optional[Path], job_name: str, start_epoch: int = 0
) -> Logger:
    """The tracker of one run: ``cfg_logger`` is a schema of LOGGERS (or None: no tracker), ``config``
    the run's resolved config, ``sweep_dir`` its sweep folder (None for a single run), ``job_name``
    its folder's name, ``start_epoch`` the epochs it had finished before (a resumed run).
    Never raises: a tracker that cannot start is a warning and a note, and the run goes on."""
    name = getattr(cfg_logger, "name", "none")
    if cfg_logger is None or name == "none":
        return Logger("none", run_dir)
    run_dir = Path(run_dir)

    def start() -> Tracker:
        info = RunInfo(
            run_dir=run_dir,
            config=flatten({k: v for k, v in config.items() if k != "logger"}),
            group=group_name(run_dir, sweep_dir),
            job_name=job_name,
            configuration=configuration_label(config)[0],
            start_epoch=start_epoch,
        )
        return importlib.import_module(f".{name}", __name__).TRACKER(cfg_logger, info)

    return Logger(name, run_dir, start)


def hydra_job(run_dir: Path) -> tuple[Optional[Path], str]:
    """(sweep folder, job name) of the Hydra job writing ``run_dir``; a single run has no sweep folder."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    run_dir = Path(run_dir).resolve()
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        sweep = Path(HydraConfig.get().sweep.dir).resolve()
        inside = run_dir.is_relative_to(sweep) and run_dir != sweep
        return sweep, run_dir.relative_to(sweep).as_posix() if inside else run_dir.name
    return None, run_dir.name


__all__ = ["LOGGERS", "Logger", "LoggerConfig", "RunInfo", "Tracker", "hydra_job", "open_logger", "option_keys"]
