"""Every block trains at every step: the baseline."""

from __future__ import annotations

from dataclasses import dataclass

from .base import OptimizerState, Strategy


@dataclass
class Standard(Strategy):
    name: str = "standard"

    optimizer_state = OptimizerState.keep
    freeze_bn_stats = False

    def trainable(self, epoch: int, step: int) -> frozenset[int]:
        return frozenset(range(self.run.n_blocks))


STRATEGY = Standard
