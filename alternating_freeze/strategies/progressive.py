"""Progressive freezing (FreezeOut, Brock et al. 2017; Composer's LayerFreezing): blocks stop
training front to back at set points of the run, and a frozen block never trains again.

Block i freezes at the fraction f(t_0 + (1 - t_0) i / (K - 1)) of the run, f being the identity,
the square or the cube (``schedule`` linear, squared, cubic, as in FreezeOut's code, where t_0 is
given before f is applied: cubic with t_0 = 0.8 freezes the first block at 0.512). The last block
trains to the end. Only the freezing is reproduced: FreezeOut also anneals each layer's learning
rate to zero by its freezing point, which would make the optimizer differ between strategies;
here every strategy shares the optimizer and its learning rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from ..errors import number
from .base import OptimizerState, Strategy, Unit


class Schedule(str, Enum):
    linear = "linear"
    squared = "squared"
    cubic = "cubic"


POWER = {Schedule.linear: 1, Schedule.squared: 2, Schedule.cubic: 3}


@dataclass
class Progressive(Strategy):
    name: str = "progressive"
    t_0: float = 0.5  # the first block's freezing point, before the schedule's power is applied, in (0, 1]
    schedule: Schedule = Schedule.linear  # linear | squared | cubic
    unit: Unit = Unit.batch  # batch: a block freezes at the step it reaches its point; epoch: at an epoch start
    optimizer_state: OptimizerState = OptimizerState.keep  # keep | reset (clear the moments when a block freezes)
    freeze_bn_stats: bool = True  # frozen BatchNorm layers stop updating their running statistics

    def __post_init__(self) -> None:
        number("strategy.t_0", self.t_0, 0, 1, low_open=True, allowed="a fraction of the run in (0, 1]")

    def freeze_at(self, n_blocks: int) -> list[float]:
        """Fraction of the run at which each block stops training (1 for the last: never)."""
        p = POWER[self.schedule]
        return [(self.t_0 + (1 - self.t_0) * i / (n_blocks - 1)) ** p for i in range(n_blocks)]

    def bind(self, run):
        super().bind(run)
        total = run.epochs * (run.steps_per_epoch if self.unit == Unit.batch else 1)
        # block i trains while the clock is below its point: ceil, so a point of 10.2 steps trains step 10
        self._until = [total if f >= 1 else math.ceil(f * total) for f in self.freeze_at(run.n_blocks)]
        return self

    def trainable(self, epoch: int, step: int) -> frozenset[int]:
        t = self.clock(epoch, step)
        return frozenset(i for i, until in enumerate(self._until) if t < until)  # the last block: always

    def resolved(self) -> dict:
        return {"freeze_at": self.freeze_at(self.run.n_blocks), "train_until": list(self._until)}


STRATEGY = Progressive
