"""Training strategies. Each answers one question: which halves of the network train at this step.

A strategy is a dataclass that doubles as the schema of its `conf/strategy/<name>.yaml`; adding
one means a class here (registered in ``STRATEGIES``) and a YAML file there whose defaults list
starts with ``/schema/strategy@_here_: <name>`` (config.py stores each class under that name).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import List, Optional

from .errors import ConfigError

ALL = frozenset({"first", "second"})
FIRST = frozenset({"first"})
SECOND = frozenset({"second"})


class Unit(str, Enum):
    batch = "batch"
    epoch = "epoch"


class Half(str, Enum):
    first = "first"
    second = "second"


class OptimizerState(str, Enum):
    keep = "keep"  # one optimizer for the whole run: moments carry across switches
    reset = "reset"  # rebuild the optimizer at every switch (what the original experiment did)


@dataclass
class Standard:
    """All layers train at every step: the baseline."""

    name: str = "standard"

    optimizer_state = OptimizerState.keep
    freeze_bn_stats = False

    def trainable(self, epoch: int, step: int) -> frozenset[str]:
        return ALL

    def steps_per_half(self) -> Optional[List[int]]:
        return None


@dataclass
class Alternating:
    """Train one half while the other is frozen, then swap (GAN-style; ``steps`` as in n_critic).

    The switching clock counts ``unit``s (optimizer steps or epochs): the first half trains for
    ``steps[0]`` units, then the second for ``steps[1]``, and so on, starting with ``start``.
    """

    name: str = "alternating"
    unit: Unit = Unit.batch
    every: int = 1  # switch after this many units
    start: Half = Half.first
    steps: Optional[List[int]] = None  # [n_first, n_second]; null: both equal to `every`
    optimizer_state: OptimizerState = OptimizerState.keep
    freeze_bn_stats: bool = True  # frozen BatchNorm layers stop updating running statistics

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ConfigError("strategy.every", self.every, "must be an integer >= 1")
        if self.steps is not None and (len(self.steps) != 2 or min(self.steps) < 1):
            raise ConfigError("strategy.steps", list(self.steps), "must be null or [n_first, n_second], both >= 1")
        n_first, n_second = self.steps_per_half()
        self._cycle = n_first + n_second
        self._lead, self._lead_len, self._other = (
            (FIRST, n_first, SECOND) if self.start == Half.first else (SECOND, n_second, FIRST)
        )

    def steps_per_half(self) -> List[int]:
        return list(self.steps) if self.steps is not None else [self.every, self.every]

    def trainable(self, epoch: int, step: int) -> frozenset[str]:
        clock = step if self.unit == Unit.batch else epoch
        return self._lead if clock % self._cycle < self._lead_len else self._other


STRATEGIES = {"standard": Standard, "alternating": Alternating}
