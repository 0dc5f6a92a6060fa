"""The machine a run executes on: its device, the cores it may use and how loaded it is.

None of this changes what a run computes (these keys are execution keys, contract.EXECUTION_KEYS),
but all of it changes how long it takes, so every choice made here is recorded in summary.json.
"""

from __future__ import annotations

import os
import re

import torch
from omegaconf import DictConfig

from .contract import STARVED_SHARE
from .errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")  # and cuda:N


def valid_device(name: str) -> bool:
    return isinstance(name, str) and re.fullmatch(r"(auto|cpu|mps|cuda(:\d+)?)", name) is not None


def resolve_device(name: str) -> torch.device:
    """The device ``name`` (trainer.device) means on this machine; ConfigError when it has none such."""
    if not valid_device(name):
        raise ConfigError("trainer.device", name, f"allowed: {', '.join(DEVICES)} (or cuda:N)")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    kind = name.split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError("trainer.device", name, "CUDA is not available on this machine; use auto or cpu")
    if (
        kind == "cuda"
        and torch.device(name).index is not None
        and torch.device(name).index >= torch.cuda.device_count()
    ):
        raise ConfigError(
            "trainer.device",
            name,
            f"this machine has {torch.cuda.device_count()} CUDA device(s): "
            f"cuda:0..cuda:{torch.cuda.device_count() - 1}",
        )
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("trainer.device", name, "MPS is not available on this machine; use auto or cpu")
    return torch.device(name)


def available_cores() -> int:
    """The cores this process may run on (its affinity: a cgroup or taskset can give fewer than the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


AUTO = "auto"  # trainer.num_threads's default
# The training step (in FLOPs, BlockNet.train_flops_per_sample x batch) from which more threads gain on a shared
# machine: measured by benchmarks/threads.py --busy, benchmarks/results/threads-cpu-2core-2026-12-05.json (2-core
# Xeon VM beside a spinning process and other work: no MLP step up to width 2048, 3.3 GFLOP, gained, so one past
# it; quiet, the 2026-12-04 EPYC run gained from 17.8 MFLOP). tests/test_benchmarks.py keeps them equal.
PARALLEL_STEP_FLOPS = 3_304_062_977


def jobs_at_once(launcher: DictConfig | None) -> int:
    """How many jobs of a sweep run at once, from its launcher: joblib's n_jobs (-1: one per core), a SLURM
    array's parallelism; 1 for the basic and the batched launcher (one process, one job or group at a time)."""
    launcher = launcher or {}
    jobs = launcher.get("n_jobs") or launcher.get("array_parallelism") or 1
    return available_cores() if jobs < 0 else int(jobs)


def resolve_threads(
    requested: int | str | None, launcher: DictConfig | None, step_flops: int | None = None
) -> tuple[int, str, bool]:
    """Torch threads for this job, why, and whether the wish was cut to the cores available. ``auto`` (or
    null): one thread for a step too small to gain from more (``PARALLEL_STEP_FLOPS``), else the cores this
    process may use divided among the jobs running at once (at most OMP_NUM_THREADS, when set). No job gets
    more threads than the cores it may run on (its affinity), since a spinning thread without a core of its own
    slows every other one down."""
    cores, launcher = available_cores(), launcher or {}
    if requested not in (None, AUTO):
        wanted, why = int(requested), "trainer.num_threads"
    else:
        if launcher.get("cpus_per_task"):  # submitit: the scheduler gave this job its own cores
            wanted, why = int(launcher["cpus_per_task"]), "auto: hydra.launcher.cpus_per_task"
        else:
            jobs = jobs_at_once(launcher)
            wanted, why = max(1, cores // jobs), f"auto: {cores} cores / {jobs} job(s) at once"
        omp = os.environ.get("OMP_NUM_THREADS", "")
        if omp.isdigit() and 0 < int(omp) < wanted:
            wanted, why = int(omp), f"auto: OMP_NUM_THREADS={omp}"
        if wanted > 1 and step_flops is not None and step_flops < PARALLEL_STEP_FLOPS:
            wanted, why = (
                1,
                f"auto: a step of {step_flops / 1e6:.1f} MFLOP, below the {PARALLEL_STEP_FLOPS / 1e6:.1f} MFLOP "
                f"from which more threads gain (benchmarks/threads.py)",
            )
    if wanted > cores:
        return (
            cores,
            f"{why} asked for {wanted} threads, more than the {cores} cores this process may use: ran with {cores}",
            True,
        )
    return wanted, why, False


def starved(cpu_s: float | None, wall_s: float | None, threads: int) -> str:
    """What a run's log line says when its threads waited for cores, else ""."""
    if not cpu_s or not wall_s or wall_s <= 0 or threads < 1:
        return ""
    share = cpu_s / (wall_s * threads)
    if share >= STARVED_SHARE:
        return ""
    return (
        f"; starved of CPU: {share:.0%} of wall time x {threads} thread(s) computing "
        f"(other work shares these cores; fewer threads, e.g. trainer.num_threads=1, may be faster)"
    )


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return None
