"""What every strategy shares: the clock units, the optimizer-state policy and the run it is bound to."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum
from typing import Optional, Sequence


class Unit(str, Enum):
    batch = "batch"  # the clock counts optimizer steps
    epoch = "epoch"  # the clock counts epochs


class OptimizerState(str, Enum):
    keep = "keep"  # one optimizer for the whole run: moments carry across switches
    reset = "reset"  # clear the optimizer's state whenever the trainable blocks change (the original experiment)


@dataclass(frozen=True)
class Run:
    """What a strategy may know about the run it schedules."""

    n_blocks: int
    steps_per_epoch: int
    epochs: int
    seed: int  # the run's seed; a strategy's own random draws default to it


class Strategy:
    """Base of the strategy dataclasses. Subclasses define ``trainable`` and may override ``check``
    (options that depend on the number of blocks) and ``resolved`` (values left to the code)."""

    name: str
    unit: Unit = Unit.batch
    optimizer_state: OptimizerState = OptimizerState.keep
    freeze_bn_stats: bool = True
    run: Optional[Run] = None

    def check(self, n_blocks: int) -> None:
        """Raise ConfigError for options that do not fit a network of ``n_blocks`` blocks."""

    def bind(self, run: Run) -> Strategy:
        """Bind to a run (its options were checked against its network once, in ``config.RunConfig``)."""
        self.run = run
        return self

    def clock(self, epoch: int, step: int) -> int:
        return step if self.unit == Unit.batch else epoch

    def trainable(self, epoch: int, step: int) -> frozenset[int]:
        """The blocks that train at optimizer step ``step`` (0-based, counted over the run) of ``epoch``."""
        raise NotImplementedError

    def lr_factors(self, epoch: int, step: int) -> Optional[Sequence[float]]:
        """A factor of the learning rate per block at this step (FreezeOut's layer-wise annealing), or None:
        every block trains at the schedule's rate."""
        return None

    def resolved(self) -> dict:
        """Values the config leaves to the code (recorded in summary.json)."""
        return {}


def draw(seed: int, index: int) -> random.Random:
    """A generator of its own for draw ``index``: the same numbers for the same seed and index on
    every machine, whatever was drawn before, so that a resumed run continues the same sequence
    and the run's torch generators (initial weights, batch order) are never touched."""
    return random.Random(f"{seed}:{index}")
