"""Randomized block-coordinate training: every ``every`` units, one block drawn uniformly at
random trains while the others are frozen (draws are independent, so a block can repeat).

Each draw comes from a generator of its own, seeded from ``seed`` and the draw's index: the
sequence is the same on every machine, survives a resume, and never touches the run's torch
generators, so initial weights and batch order stay those of the same seed's other strategies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import integer
from .base import OptimizerState, Strategy, Unit, draw


@dataclass
class RandomBlock(Strategy):
    name: str = "random_block"
    unit: Unit = Unit.batch  # batch | epoch: what the clock counts
    every: int = 1  # units per draw
    seed: Optional[int] = None  # seed of the draws; null: the run's seed
    optimizer_state: OptimizerState = OptimizerState.keep  # keep | reset (clear the moments at every switch)
    freeze_bn_stats: bool = True  # frozen BatchNorm layers stop updating their running statistics

    def __post_init__(self) -> None:
        integer("strategy.every", self.every)
        integer("strategy.seed", self.seed, 0, 2**63 - 1, null=True)  # the range of the run's seed

    def bind(self, run):
        super().bind(run)
        self._last = (None, None)
        return self

    def trainable(self, epoch: int, step: int) -> frozenset[int]:
        index = self.clock(epoch, step) // self.every
        if self._last[0] != index:
            seed = self.run.seed if self.seed is None else self.seed
            self._last = (index, frozenset({draw(seed, index).randrange(self.run.n_blocks)}))
        return self._last[1]


STRATEGY = RandomBlock
