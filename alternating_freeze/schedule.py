"""Learning-rate schedules (the `scheduler` config group) and the rate of every parameter at a step.

The rate at step t is a pure function of (t, total steps): a resumed run continues exactly and a batched
member gets the rates of its separate run, with no scheduler state to checkpoint. ``total`` is the run's
length in optimizer steps after ``trainer.budget`` has resolved its epochs. A strategy may scale the rate
per block (``Strategy.lr_factors``, FreezeOut's layer-wise annealing): a parameter's rate is then
optimizer.lr x schedule x its block's factor.

The formulas live in ``contract.rates`` (the analysis draws a run's rates with them); they are
``torch.optim.lr_scheduler``'s closed forms (tests/test_schedule.py checks them): ``step`` is MultiStepLR,
``cosine`` CosineAnnealingLR, ``linear`` LinearLR to ``min_lr``, ``onecycle`` OneCycleLR (cosine phases, no
momentum cycling). ``warmup`` W steps rise linearly, (t + 1) / W of the rate, and ``cosine``/``linear`` then
decay over the remaining steps (nanoGPT's convention); ``step``'s milestones are fractions of the whole run
(He et al.: /10 at 50% and 75%).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

from .contract.rates import scheduled, warmup_steps
from .errors import number, one_of, require

SCHEDULERS = ("constant", "step", "cosine", "linear", "onecycle")


@dataclass
class SchedulerConfig:
    """Schema of the `scheduler` config group."""

    name: str = "constant"  # constant | step | cosine | linear | onecycle
    warmup: float = 0.0  # linear warmup: a fraction of the run (< 1) or a number of steps (an integer >= 1); 0: none
    milestones: List[float] = field(default_factory=lambda: [0.5, 0.75])  # step: fractions of the run, increasing
    gamma: float = 0.1  # step: the rate's factor at each milestone
    min_lr: float = 0.0  # cosine, linear: the rate at the end of the run
    pct_start: float = 0.3  # onecycle: the fraction of the run spent rising to optimizer.lr
    div_factor: float = 25.0  # onecycle: starts at optimizer.lr / div_factor
    final_div_factor: float = 1e4  # onecycle: ends at the start rate / final_div_factor

    def __post_init__(self) -> None:
        one_of("scheduler.name", self.name, SCHEDULERS)
        number("scheduler.warmup", self.warmup, 0, math.inf, allowed="a fraction in [0, 1) or a whole number of steps")
        require(
            self.warmup < 1 or float(self.warmup).is_integer(),
            "scheduler.warmup",
            self.warmup,
            "a fraction in [0, 1) or a whole number of steps",
        )
        require(
            self.name != "onecycle" or self.warmup == 0,
            "scheduler.warmup",
            self.warmup,
            "0 under onecycle (its rise is pct_start)",
        )
        ms = list(self.milestones)
        require(
            bool(ms) and all(0 < m <= 1 for m in ms) and all(a < b for a, b in zip(ms, ms[1:])),
            "scheduler.milestones",
            ms,
            "increasing fractions of the run, each in (0, 1]",
        )
        number("scheduler.gamma", self.gamma, 0, 1, low_open=True)
        number("scheduler.min_lr", self.min_lr, 0, math.inf, allowed="a finite number >= 0")
        number("scheduler.pct_start", self.pct_start, 0, 1, low_open=True, high_open=True)
        number("scheduler.div_factor", self.div_factor, 0, math.inf, low_open=True)
        number("scheduler.final_div_factor", self.final_div_factor, 0, math.inf, low_open=True)

    def check(self, lr: float) -> None:
        """Options that depend on the optimizer's rate."""
        require(
            self.name not in ("cosine", "linear") or self.min_lr <= lr,
            "scheduler.min_lr",
            self.min_lr,
            f"at most optimizer.lr ({lr:g})",
        )

    def warmup_steps(self, total: int) -> int:
        """Warmup steps in a run of ``total`` steps; a ConfigError when they leave no step to decay."""
        w = warmup_steps(self.warmup, total)
        require(w < total, "scheduler.warmup", self.warmup, f"fewer steps than the run's {total}")
        return w

    def rate(self, t: int, total: int, lr: float) -> float:
        """The rate at step ``t`` (0-based) of a run of ``total`` steps with base rate ``lr`` (contract.scheduled,
        the formula's one home, which the analysis draws a run's rates with)."""
        return scheduled(vars(self), t, total, lr)


class Rates:
    """The rates one run trains with at each step: ``at(epoch, step)`` gives the optimizer's argument (one rate,
    or one per parameter when the strategy scales blocks), ``record`` metrics.csv's ``lr`` and ``block_lrs``."""

    def __init__(self, cfg: SchedulerConfig, lr: float, total: int, strategy=None, param_blocks: Sequence[int] = ()):
        cfg.check(lr)
        if cfg.warmup:
            cfg.warmup_steps(total)  # an over-long warmup: refused before any work
        self.cfg, self.lr, self.total = cfg, lr, total
        self.strategy, self.param_blocks = strategy, list(param_blocks)
        self.constant = cfg.name == "constant" and not cfg.warmup

    def base(self, step: int) -> float:
        return self.lr if self.constant else self.cfg.rate(step, self.total, self.lr)

    def factors(self, epoch: int, step: int) -> Optional[Sequence[float]]:
        return None if self.strategy is None else self.strategy.lr_factors(epoch, step)

    def at(self, epoch: int, step: int) -> float | list[float]:
        base, factors = self.base(step), self.factors(epoch, step)
        if factors is None:
            return base
        return [base * factors[b] for b in self.param_blocks]

    def record(self, epoch: int, step: int) -> dict:
        """metrics.csv's columns for the rate at ``step``: ``lr`` (optimizer.lr x schedule) and ``block_lrs``
        (each block's rate, ``:``-joined, where the strategy scales blocks; empty otherwise)."""
        base, factors = self.base(step), self.factors(epoch, step)
        return {"lr": base, "block_lrs": "" if factors is None else ":".join(f"{base * f:.6g}" for f in factors)}


def fixed(lr: float) -> Rates:
    """The rates of a run without a schedule (a loop called without ``rates``)."""
    return Rates(SchedulerConfig(), lr, 1)
