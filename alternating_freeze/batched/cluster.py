"""Batched groups as SLURM jobs (hydra/launcher=batched_slurm): how a launch's jobs are cut into groups, and the
callable that trains one group inside its SLURM array task.

The launching process composes and prepares every job (folders, .hydra files, callbacks), skips what is done, and
cuts the rest into the groups the local batched runner would train (``groups_of``: same key, at most max_members,
in launch order); submitit pickles one ``GroupJob`` call per group with the group's job configs (hydra node
included). Inside the SLURM job the Tasks are rebuilt from those configs (``jobs.task_of``) and trained by the same
``Runner``: the same claims, checkpoints, resume, failure records and member results as a local batched launch.
A requeued job (pre-emption, ``scontrol requeue``, a timeout within ``max_num_timeout``) starts the call again: the
Runner skips the finished members and resumes the others from their checkpoints. A timeout past
``max_num_timeout`` makes submitit raise in the job: every unfinished member is recorded as failed with that reason.
"""

from __future__ import annotations

import copy
import logging
import time

from omegaconf import DictConfig, open_dict, read_write

from .. import policy
from ..finish import now
from .runner import Runner, Task, by_key

log = logging.getLogger(__name__)


def groups_of(tasks: list[Task], max_members: int) -> list[list[Task]]:
    """The groups ``Runner.run`` would train, in its order: runs of one key in chunks of max_members; every run
    that trains separately alone."""
    groups = []
    for key, members in by_key(tasks).items():
        if key[0] == "group":
            groups += [members[i : i + max_members] for i in range(0, len(members), max_members)]
        else:
            groups += [[t] for t in members]
    return groups


def in_slurm(cfg: DictConfig) -> DictConfig:
    """The job's config as it runs in its SLURM job: hydra.launcher is the slurm node (its cpus_per_task sets the
    thread count, its array_parallelism the ETA), as for a job of hydra/launcher=slurm."""
    cfg = copy.deepcopy(cfg)
    with read_write(cfg.hydra), open_dict(cfg.hydra):
        cfg.hydra.launcher = cfg.hydra.launcher.slurm
    return cfg


class GroupJob:
    """``GroupJob(max_members)(configs)``: train one group's jobs in this process; their statuses, in order.
    Picklable (submitit sends it to the SLURM job); ``checkpoint`` lets submitit requeue it on a timeout."""

    def __init__(self, max_members: int, verbose=False) -> None:
        self.max_members, self.verbose = max_members, verbose

    def __call__(self, configs: list[DictConfig]) -> list:
        from hydra.core.utils import setup_globals

        from .jobs import console_logging, task_of

        setup_globals()
        configs = [in_slurm(c) for c in configs]
        console_logging(configs[0], self.verbose)
        tasks = [task_of(c) for c in configs]
        try:
            Runner(self.max_members).run(tasks)
        except Exception as e:  # noqa: BLE001 - e.g. submitit's "timed-out too many times" outside a member's run
            for t in tasks:
                if t.status is None:
                    with t.act():
                        policy.fail(t.job or policy.Claim(t.out, t.cfg, None, time.perf_counter(), now()), e)
        finally:
            for t in tasks:
                t.release()
        return [t.status for t in tasks]

    def checkpoint(self, *args, **kwargs):
        """On a timeout: run the same call again once requeued (every member resumes from its checkpoint)."""
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)
