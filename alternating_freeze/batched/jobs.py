"""A prepared job as the batched runner sees it (a ``Task``), built from the job's composed config: run code as
the job (its HydraConfig, its ``env_set``, its own train.log) and the console logging of its jobs.

The batched launcher builds its Tasks here in the launching process (hydra/launcher=batched), and a SLURM group job
rebuilds them here inside the SLURM job (hydra/launcher=batched_slurm, ``cluster.GroupJob``): a Task's ``act`` is a
closure and cannot be pickled, the job's config can.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import logging.config
from pathlib import Path
from typing import Optional

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import configure_log, env_override
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from .runner import Task


def job_task(task_cfg: DictConfig, hydra_cfg: DictConfig, launcher: Optional[DictConfig] = None) -> Task:
    """The Task of one job: ``task_cfg`` without its hydra node, ``hydra_cfg`` the job's Hydra config (its
    ``hydra.runtime.output_dir`` set); ``launcher`` the thread counts' launcher node (default: hydra.launcher)."""
    instance = HydraConfig.instance()
    handlers = file_handlers(hydra_cfg)

    @contextlib.contextmanager
    def act():
        saved, root = instance.cfg, logging.getLogger()
        instance.cfg = hydra_cfg
        for h in handlers:
            root.addHandler(h)
        try:
            with env_override(hydra_cfg.hydra.job.env_set):
                yield
        finally:
            for h in handlers:
                root.removeHandler(h)
            instance.cfg = saved

    def release() -> None:
        for h in handlers:
            h.close()

    out = Path(hydra_cfg.hydra.runtime.output_dir)
    return Task(task_cfg, out, launcher if launcher is not None else hydra_cfg.hydra.launcher, act, release=release)


def task_of(cfg: DictConfig, launcher: Optional[DictConfig] = None) -> Task:
    """The Task of a job from its whole config (hydra node included, as the launcher prepared it)."""
    instance = HydraConfig.instance()
    instance.set_config(cfg)
    hydra_cfg = instance.cfg
    task_cfg = copy.deepcopy(cfg)
    with read_write(task_cfg), open_dict(task_cfg):
        del task_cfg["hydra"]
    return job_task(task_cfg, hydra_cfg, launcher)


def job_logging(cfg: DictConfig) -> Optional[dict]:
    if cfg.hydra.job_logging is None:
        return None
    return OmegaConf.to_container(cfg.hydra.job_logging, resolve=True)


def console_logging(cfg: DictConfig, verbose) -> None:
    """The jobs' logging (hydra.job_logging) without its file handlers, which each job opens for itself."""
    conf = job_logging(cfg)
    if conf is None or conf.get("root") is None:
        return
    files = {name for name, h in conf.get("handlers", {}).items() if "filename" in h}
    conf["handlers"] = {n: h for n, h in conf.get("handlers", {}).items() if n not in files}
    for logger in [conf["root"], *conf.get("loggers", {}).values()]:
        if logger and logger.get("handlers"):
            logger["handlers"] = [h for h in logger["handlers"] if h not in files]
    configure_log(OmegaConf.create(conf), verbose)


def file_handlers(cfg: DictConfig) -> list:
    """The job's own log files (the handlers of hydra.job_logging's root that write to a file), built as
    logging.config would build them, opened on their first record."""
    conf = job_logging(cfg)
    if conf is None or conf.get("root") is None:
        return []
    configurator = logging.config.DictConfigurator(conf)
    formatters = configurator.config.get("formatters", {})
    for name in list(formatters):
        formatters[name] = configurator.configure_formatter(formatters[name])
    handlers = []
    for name in conf["root"].get("handlers", []):
        spec = dict(conf.get("handlers", {}).get(name, {}))
        if "filename" in spec:
            spec["delay"] = True
            handlers.append(configurator.configure_handler(spec))
    return handlers
