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


def resolve_threads(requested: int | None, launcher: DictConfig | None) -> tuple[int, str, bool]:
    """Torch threads for this job, why, and whether the wish was cut to the cores available. Parallel
    jobs share the cores: each gets cores / jobs unless told otherwise; no job gets more threads than
    the cores it may run on (its affinity), since a spinning thread without a core of its own slows
    every other one down."""
    cores, launcher = available_cores(), launcher or {}
    if requested:
        wanted, why = requested, "trainer.num_threads"
    elif launcher.get("cpus_per_task"):  # submitit: the scheduler gave this job its own cores
        wanted, why = int(launcher["cpus_per_task"]), "hydra.launcher.cpus_per_task"
    elif launcher.get("n_jobs"):  # joblib
        jobs = cores if launcher["n_jobs"] < 0 else launcher["n_jobs"]
        wanted, why = max(1, cores // jobs), f"{cores} cores / {jobs} parallel jobs (hydra.launcher.n_jobs)"
    else:
        wanted, why = torch.get_num_threads(), "torch's default"
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
