"""LISA (Pan et al. 2024, layerwise importance sampled AdamW): the blocks in ``always`` train at every
step (by default the first and the last, where a transformer's embeddings and head sit), and every
``every`` units ``count`` of the other blocks, drawn uniformly without replacement, train with them;
the rest are frozen.

Draws are made as random_block's are (``base.draw``: seeded from ``seed`` and the draw's index), so
the sequence is the same on every machine, survives a resume, and leaves the run's torch generators
alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from ..errors import ConfigError, integer, require
from .base import OptimizerState, Strategy, Unit, draw


@dataclass
class Lisa(Strategy):
    name: str = "lisa"
    unit: Unit = Unit.batch  # batch | epoch: what the clock counts
    every: int = 1  # units per draw (LISA's sampling period)
    count: int = 2  # blocks drawn from the others at each draw (LISA's gamma)
    always: List[int] = field(default_factory=lambda: [0, -1])  # blocks that train at every step; -1 is the last
    seed: Optional[int] = None  # seed of the draws; null: the run's seed
    optimizer_state: OptimizerState = OptimizerState.keep  # keep | reset (clear the moments at every switch)
    freeze_bn_stats: bool = True  # frozen BatchNorm layers stop updating their running statistics

    def __post_init__(self) -> None:
        integer("strategy.every", self.every)
        integer("strategy.count", self.count)
        integer("strategy.seed", self.seed, 0, 2**63 - 1, null=True)  # the range of the run's seed
        for b in self.always:
            require(
                isinstance(b, int) and not isinstance(b, bool),
                "strategy.always",
                list(self.always),
                "a list of block indices (negative ones count from the end), e.g. [0, -1], or []",
            )

    def blocks_always(self, n_blocks: int) -> list[int]:
        """The ``always`` blocks as indices from 0 (checked: each names a block, and no block twice)."""
        return sorted(b % n_blocks for b in self.always)

    def check(self, n_blocks: int) -> None:
        always = list(self.always)
        if any(not -n_blocks <= b < n_blocks for b in always):
            raise ConfigError(
                "strategy.always",
                always,
                f"each index must name one of the {n_blocks} blocks ({-n_blocks}..{n_blocks - 1})",
            )
        resolved = self.blocks_always(n_blocks)
        if len(set(resolved)) != len(resolved):
            raise ConfigError("strategy.always", always, f"names a block twice in {n_blocks} blocks (as {resolved})")
        middle = n_blocks - len(resolved)
        if middle == 0:
            raise ConfigError(
                "strategy.always",
                always,
                f"covers all {n_blocks} blocks: leave one to draw from (a shorter list, or more blocks: model.splits)",
            )
        if self.count > middle:
            raise ConfigError(
                "strategy.count",
                self.count,
                f"at most the {middle} blocks outside strategy.always={always} in {n_blocks} blocks",
            )

    def bind(self, run):
        super().bind(run)
        self._always = frozenset(self.blocks_always(run.n_blocks))
        self._others = [b for b in range(run.n_blocks) if b not in self._always]
        self._last = (None, None)
        return self

    def trainable(self, epoch: int, step: int) -> frozenset[int]:
        index = self.clock(epoch, step) // self.every
        if self._last[0] != index:
            seed = self.run.seed if self.seed is None else self.seed
            self._last = (index, self._always | frozenset(draw(seed, index).sample(self._others, self.count)))
        return self._last[1]

    def resolved(self) -> dict:
        return {"always": self.blocks_always(self.run.n_blocks)}


STRATEGY = Lisa
