"""The learning rate at a step, a pure function of what a run records: its `scheduler` options (summary.json's
``config.scheduler``; a run without them trained at a constant rate) and, for a strategy that anneals each block
(FreezeOut), ``resolved.schedule``'s ``lr_scale`` and ``train_until``. Training computes its rates here
(schedule.SchedulerConfig.rate, strategies.freezeout.FreezeOut.lr_factors), and the analysis draws a run's rates
at every step with the same functions, so the formulas have one home. Standard library only."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence

CONSTANT = {"name": "constant", "warmup": 0.0}  # the schedule of a run that recorded none


def warmup_steps(warmup: float, total: int) -> int:
    """Warmup steps in a run of ``total`` steps: a fraction of the run (< 1, rounded up) or a number of steps."""
    return math.ceil(warmup * total) if warmup < 1 else int(warmup)


def scheduled(scheduler: Mapping, t: int, total: int, lr: float) -> float:
    """The rate at step ``t`` (0-based) of a run of ``total`` steps with base rate ``lr`` under ``scheduler`` (the
    `scheduler` group's options, schedule.SchedulerConfig's fields, as recorded)."""
    warmup = scheduler.get("warmup") or 0
    w = warmup_steps(warmup, total) if warmup else 0
    if t < w:
        return _decay(scheduler, w, w, total, lr) * (t + 1) / w
    name = scheduler.get("name", "constant")
    if name == "constant":
        return lr
    if name == "step":
        milestones = [math.ceil(m * total) for m in scheduler["milestones"]]
        return lr * scheduler["gamma"] ** bisect.bisect_right(milestones, t)
    return _decay(scheduler, w, t, total, lr)


def _decay(s: Mapping, w: int, t: int, total: int, lr: float) -> float:
    """The rate after warmup at step ``t`` (and, at ``t = w``, the peak the warmup rises to)."""
    name = s.get("name", "constant")
    if name == "cosine":  # CosineAnnealingLR's closed form over the steps after warmup
        return s["min_lr"] + (lr - s["min_lr"]) * (1 + math.cos(math.pi * (t - w) / (total - w))) / 2
    if name == "linear":  # LinearLR from 1 to min_lr / lr over the steps after warmup
        return lr + (s["min_lr"] - lr) * min(t - w, total - w) / (total - w)
    if name == "onecycle":  # OneCycleLR: cosine up to lr at pct_start, then down
        start = lr / s["div_factor"]
        end = start / s["final_div_factor"]
        peak = float(s["pct_start"] * total) - 1
        if t <= peak and peak > 0:  # a rise of at most one step: none (torch divides by zero there)
            return _cos(start, lr, t / peak)
        return _cos(lr, end, (t - peak) / (total - 1 - peak))
    return scheduled({**s, "warmup": 0}, t, total, lr)  # constant and step: warmup rises to their rate there


def _cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)


def block_cosines(scale: Sequence[float], until: Sequence[int], t: int) -> list[float]:
    """FreezeOut's factor of each block's rate at clock ``t``: alpha_i(t) / alpha = scale_i 0.5 (1 + cos(pi t / t_i))
    before the block's freezing point t_i (``until``, in the strategy's clock units), zero from it on."""
    return [s * 0.5 * (1 + math.cos(math.pi * t / u)) if t < u else 0.0 for s, u in zip(scale, until)]
