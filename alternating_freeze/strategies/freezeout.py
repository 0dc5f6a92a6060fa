"""FreezeOut as published (Brock et al. 2017, arXiv:1706.04983): progressive freezing on its timetable
(``progressive.Progressive``, whose options it shares) plus its layer-wise learning rates. Block i's rate
is annealed with a cosine to zero at its freezing point t_i, alpha_i(t) = 0.5 alpha_i(0) (1 + cos(pi t / t_i)),
and the block is frozen from there; the last block's t_i is 1, so it anneals over the whole run.
``scale_lr``: alpha_i(0) = alpha / t_i (the same total distance for a block that trains for less), as the
paper's code does by default. alpha is optimizer.lr times the `scheduler` group's rate (constant, as
published)."""

from __future__ import annotations

from dataclasses import dataclass

from ..contract.rates import block_cosines
from ..errors import ConfigError
from .progressive import Progressive, Schedule


@dataclass
class FreezeOut(Progressive):
    name: str = "freezeout"
    t_0: float = 0.8  # the first block's freezing point before the schedule's power (the paper's default)
    schedule: Schedule = Schedule.cubic  # linear | squared | cubic (the paper's default: cubic)
    scale_lr: bool = True  # alpha_i(0) = optimizer.lr / t_i (the paper's default)

    def check(self, n_blocks: int) -> None:
        if n_blocks < 2:
            raise ConfigError("strategy.name", self.name, "per-block learning rates need a network of 2 or more blocks")

    def bind(self, run):
        super().bind(run)
        points = self.freeze_at(run.n_blocks)
        self._scale = [1 / t if self.scale_lr else 1.0 for t in points]
        return self

    def lr_factors(self, epoch: int, step: int) -> list[float]:
        """alpha_i(t) / alpha per block: the cosine to zero at the block's freezing step, zero after it."""
        return block_cosines(self._scale, self._until, self.clock(epoch, step))

    def resolved(self) -> dict:
        return {**super().resolved(), "lr_scale": list(self._scale)}


STRATEGY = FreezeOut
