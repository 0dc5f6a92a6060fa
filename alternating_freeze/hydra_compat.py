"""Every use of Hydra's internal API, in one place (both plugins import it from here): a Hydra upgrade that moves
one of these breaks this module's import, not a sweep half-way. Checked against hydra-core 1.3."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import hydra.core.utils as _hydra_utils
from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.utils import _flush_loggers as flush_loggers
from omegaconf import OmegaConf

from .contract import write_atomic

__all__ = ["apply_overrides", "flush_loggers", "get_overrides_dirname", "save_config", "unwritten"]  # + BasicSweeper

_UNWRITTEN: dict[str, OSError] = {}  # .hydra folder -> the first write into it that failed in this process


def save_config(cfg, filename: str, output_dir: Path) -> None:
    """Hydra's ``_save_config``, written atomically (a full disk never leaves a 0-byte .hydra file) and without
    raising: a failed write is kept for the job's claim (``unwritten``), which records it as that job's failure,
    rather than ending the whole sweep in a Hydra traceback before any job of it is recorded."""
    output_dir = Path(output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(output_dir / filename, OmegaConf.to_yaml(cfg).encode(), durable=False)
    except OSError as e:
        _UNWRITTEN.setdefault(os.path.abspath(output_dir), e)


def unwritten(job_dir: Path) -> Optional[OSError]:
    """The error of a .hydra/* write into ``job_dir`` that failed in this process (forgotten once asked)."""
    job_dir = os.path.abspath(job_dir)
    under = [k for k in _UNWRITTEN if k == job_dir or k.startswith(job_dir + os.sep)]
    errors = [_UNWRITTEN.pop(k) for k in under]
    return errors[0] if errors else None


_hydra_utils._save_config = save_config  # what Hydra's run_job calls (every launcher's job runs it)


def __getattr__(name: str):
    """``BasicSweeper``, read when asked for: Hydra's plugin scan re-executes its module in place (a new class
    under the same name), and a subclass must derive from the class its ``__init__`` will ``super()`` against."""
    if name == "BasicSweeper":
        from hydra._internal.core_plugins import basic_sweeper

        return basic_sweeper.BasicSweeper
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def apply_overrides(overrides: list, cfg) -> None:
    """Set the value overrides (``seed=3``, ``+key=1``, ``~key``) on a composed config, as Hydra does last when it
    composes one: a job derived from a composed base gets exactly Hydra's tree (batched launcher, compose.py)."""
    ConfigLoaderImpl._apply_overrides_to_config(overrides, cfg)
