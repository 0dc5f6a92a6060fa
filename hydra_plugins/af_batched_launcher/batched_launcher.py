"""``hydra/launcher=batched``: the jobs of each launch trained in groups in this process, each job still
its own run on disk (README, "Batched runs").

    uv run af-train -m experiment=frequency hydra/launcher=batched
    uv run af-train -m experiment=frequency hydra/launcher=batched hydra.launcher.device=cuda

Per job this does what Hydra's basic launcher and ``run_job`` do (compose the config, set the job's
number and output folder, write ``.hydra/config.yaml``, ``hydra.yaml`` and ``overrides.yaml``, call
the callbacks' ``on_job_start`` and ``on_job_end``, return a ``JobReturn`` with ``hydra_cfg``),
except that the jobs are prepared first and then trained together by
``alternating_freeze.batched.runner``; each job's log records go to its own ``train.log`` (and
the console) while code runs on its behalf. A job that changes directory (``hydra.job.chdir``) runs
as under the basic launcher, and so does every job of a task function other than af-train's.
(No ``from __future__ import annotations``: Hydra scans plugin modules without registering them.)
"""

import copy
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import (
    JobReturn,
    JobRuntime,
    JobStatus,
    configure_log,
    filter_overrides,
    run_job,
    setup_globals,
)
from hydra.errors import CompactHydraException
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from alternating_freeze.compose import shared
from alternating_freeze.hydra_compat import flush_loggers, save_config

log = logging.getLogger(__name__)


@dataclass
class BatchedLauncherConf:
    _target_: str = "hydra_plugins.af_batched_launcher.batched_launcher.BatchedLauncher"
    # The most runs trained together in one group (an integer >= 1; 1: every run separately, as the basic
    # launcher). Runs that agree in data, network shape (the split aside), optimizer kind, batch size,
    # device and thread count share a group; more of them than this train as several groups, one after
    # the other. A group that runs out of device memory is split in halves and retried.
    max_members: int = 256
    # Where every job trains: null keeps each job's trainer.device; auto, cpu, cuda, cuda:N or mps sets
    # trainer.device in every job's config (an execution key: it changes neither results nor folders).
    device: Optional[str] = None
    # Derive a job's config from a composed one with the same config-group options when its other
    # overrides only set leaf values (alternating_freeze/compose.py; checked against a full composition once per
    # options).
    fast_compose: bool = True
    # hydra/launcher=batched_slurm sets this to the slurm launcher's options (conf/hydra/launcher/slurm.yaml): each
    # group is then one SLURM array task (slurm_groups.py; docs/slurm.md, "Batched groups on SLURM").
    slurm: Optional[Any] = None
    _recursive_: bool = False  # the slurm node is options, not a launcher to instantiate


ConfigStore.instance().store(
    group="hydra/launcher", name="batched", node=BatchedLauncherConf, provider="alternating_freeze"
)


def _error(key: str, value, allowed: str) -> CompactHydraException:
    return CompactHydraException(f"error: {key}={value!r}: {allowed}")


class BatchedLauncher(Launcher):
    def __init__(
        self,
        max_members: int = 256,
        device: Optional[str] = None,
        fast_compose: bool = True,
        slurm: Optional[DictConfig] = None,
    ) -> None:
        self.max_members, self.device, self.fast_compose, self.slurm = max_members, device, fast_compose, slurm
        self.config: Optional[DictConfig] = None
        self.hydra_context = None
        self.task_function = None

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        """Bad options are one line each, before any job is composed."""
        if isinstance(self.max_members, bool) or not isinstance(self.max_members, int) or self.max_members < 1:
            raise _error(
                "hydra.launcher.max_members",
                self.max_members,
                "an integer >= 1 (the most runs trained together in one group)",
            )
        if self.device is not None:
            from alternating_freeze.errors import ConfigError
            from alternating_freeze.machine import resolve_device

            try:
                resolve_device(self.device)  # the device's one check (trainer.device), under the launcher's key
            except ConfigError as e:
                raise _error("hydra.launcher.device", self.device, f"null (each job's own), or {e.allowed}") from None
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def _ours(self) -> bool:
        from alternating_freeze import task

        return self.task_function is task.run_job

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        where = "locally" if self.slurm is None else "as SLURM array tasks, one a group"
        log.info(f"Launching {len(job_overrides)} jobs {where}, batched (max_members={self.max_members})")
        composer = shared(self.hydra_context.config_loader, self.config, self.fast_compose)  # the sweeper's checks'
        full_before = composer.full
        ours, hydra_before = self._ours(), HydraConfig.instance().cfg
        jobs, alone = [], []
        clock = {"compose": 0.0, "prepare": 0.0, "train": 0.0, "end": 0.0}
        t0 = time.perf_counter()
        for i, overrides in enumerate(job_overrides):
            idx = initial_job_idx + i
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            t = time.perf_counter()
            cfg = composer(list(overrides))
            clock["compose"] += time.perf_counter() - t
            with open_dict(cfg):
                cfg.hydra.job.id = idx
                cfg.hydra.job.num = idx
            if ours and self.device is not None:
                cfg.trainer.device = self.device
            if ours and not cfg.hydra.job.chdir:
                jobs.append(self._prepare(cfg))
            else:
                jobs.append(None)
                alone.append((i, cfg))
        clock["prepare"] = time.perf_counter() - t0 - clock["compose"]
        returns: List[Optional[JobReturn]] = [None] * len(jobs)
        prepared = [j for j in jobs if j is not None]
        lost = None
        t = time.perf_counter()
        try:
            if prepared:
                from alternating_freeze.batched.jobs import console_logging

                console_logging(prepared[0][0], self.config.hydra.verbose)
                lost = self._train([(cfg, task) for cfg, task, _ in prepared])
        finally:
            for _, task, _ in prepared:
                task.release()
            HydraConfig.instance().cfg = hydra_before  # as run_job leaves it
        clock["train"] = time.perf_counter() - t
        t = time.perf_counter()
        for i, job in enumerate(jobs):
            if job is not None:
                returns[i] = self._end(*job)
        clock["end"] = time.perf_counter() - t
        log.info(
            "batched launch of %d jobs: composing %.2fs (%d in full), folders and callbacks %.2fs, training "
            "and results %.2fs, job ends %.2fs",
            len(jobs),
            clock["compose"],
            composer.full - full_before,
            clock["prepare"],
            clock["train"],
            clock["end"],
        )
        for i, cfg in alone:
            returns[i] = run_job(
                hydra_context=self.hydra_context,
                task_function=self.task_function,
                config=cfg,
                job_dir_key="hydra.sweep.dir",
                job_subdir_key="hydra.sweep.subdir",
            )
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        if lost:  # every other job has its JobReturn and its on_job_end; the sweep stops here
            raise CompactHydraException(lost)
        return returns

    def _train(self, prepared: list) -> Optional[str]:
        """Train the prepared (config, task) pairs, setting each task's status: here, or each group as a SLURM
        array task. A message when jobs were lost (SLURM ended them without a result)."""
        if self.slurm is None:
            from alternating_freeze.batched.runner import Runner

            Runner(self.max_members).run([task for _, task in prepared])
            return None
        from .slurm_groups import submit

        assert self.config is not None
        options = OmegaConf.to_container(self.config.hydra.launcher.slurm, resolve=True)
        verbose = self.config.hydra.verbose
        verbose = OmegaConf.to_container(verbose) if OmegaConf.is_config(verbose) else verbose
        return submit(prepared, self.max_members, options, Path(str(self.config.hydra.sweep.dir)), verbose)

    # ------------------------------------------------------------------ one job, as Hydra's run_job

    def _prepare(self, cfg: DictConfig):
        """Everything Hydra's run_job does before calling the task function; returns (config, task, JobReturn)."""
        from alternating_freeze.batched.jobs import job_task

        instance = HydraConfig.instance()
        instance.set_config(cfg)  # the folder may name ${hydra:...} values
        out = os.path.join(
            str(OmegaConf.select(cfg, "hydra.sweep.dir")), str(OmegaConf.select(cfg, "hydra.sweep.subdir"))
        )
        hydra_cfg = instance.cfg  # run_job sets the config again once output_dir is set; the same copy, set in both
        for node in (cfg, hydra_cfg):
            with read_write(node.hydra.runtime), open_dict(node.hydra.runtime):
                node.hydra.runtime.output_dir = os.path.abspath(out)
        task_cfg = copy.deepcopy(cfg)
        with read_write(task_cfg), open_dict(task_cfg):
            del task_cfg["hydra"]
        ret = JobReturn(
            overrides=OmegaConf.to_container(cfg.hydra.overrides.task),
            cfg=task_cfg,
            hydra_cfg=hydra_cfg,
            working_dir=os.getcwd(),
        )
        Path(out).mkdir(parents=True, exist_ok=True)
        if cfg.hydra.output_subdir is not None:
            record = Path(cfg.hydra.runtime.output_dir) / str(cfg.hydra.output_subdir)
            save_config(task_cfg, "config.yaml", record)
            save_config(hydra_cfg, "hydra.yaml", record)
            save_config(cfg.hydra.overrides.task, "overrides.yaml", record)
        task = job_task(task_cfg, hydra_cfg)
        with task.act():
            self.hydra_context.callbacks.on_job_start(config=cfg, task_function=self.task_function)
        return cfg, task, ret

    def _end(self, cfg: DictConfig, task, ret: JobReturn) -> JobReturn:
        ret.status = JobStatus.COMPLETED
        ret.return_value = task.status
        ret.task_name = JobRuntime.instance().get("name")
        flush_loggers()
        with task.act():
            self.hydra_context.callbacks.on_job_end(config=cfg, job_return=ret)
        return ret
