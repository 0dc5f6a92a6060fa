"""Cyclic block-coordinate training: one block trains while the others are frozen, then the next.

With two blocks this is GAN-style alternation (``steps`` as in n_critic); with K blocks it is the
cyclic block-coordinate descent of BAdam. The clock counts ``unit``s; block b trains for
``steps[b]`` units at each visit, and ``order`` says in which order the blocks are visited.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from enum import Enum
from typing import List, Optional

from ..errors import ConfigError, integer
from .base import OptimizerState, Strategy, Unit, draw


class Order(str, Enum):
    cyclic = "cyclic"  # 0, 1, ..., K-1, 0, 1, ...
    reverse = "reverse"  # K-1, ..., 1, 0, K-1, ...
    pingpong = "pingpong"  # 0, 1, ..., K-1, K-2, ..., 1, 0, 1, ...
    random = "random"  # every cycle a fresh random permutation of the blocks (seeded)


START_NAMES = {"first": 0, "second": 1}  # "last" is K-1; an index names any block


@dataclass
class Alternating(Strategy):
    name: str = "alternating"
    unit: Unit = Unit.batch  # batch | epoch: what the switching clock counts
    every: int = 1  # units each block trains at a visit (when `steps` is null)
    steps: Optional[List[int]] = None  # units per visit of each block, in block order (n_critic style); null: `every`
    order: Order = Order.cyclic  # cyclic | reverse | pingpong | random
    start: Optional[str] = (
        None  # the block that trains first: first, second, last or its index; null: the order's first
    )
    seed: Optional[int] = None  # order=random: seed of its own generator; null: the run's seed
    optimizer_state: OptimizerState = OptimizerState.keep  # keep | reset (clear the moments at every switch)
    freeze_bn_stats: bool = True  # frozen BatchNorm layers stop updating their running statistics

    def __post_init__(self) -> None:
        integer("strategy.every", self.every)
        integer("strategy.seed", self.seed, 0, 2**63 - 1, null=True)  # the range of the run's seed
        if self.steps is not None:
            if not len(self.steps):
                raise ConfigError("strategy.steps", list(self.steps), "one integer >= 1 per block, or null")
            for s in self.steps:
                integer("strategy.steps", s)
            if self.every != 1:
                raise ConfigError(
                    "strategy.every",
                    self.every,
                    "is not used when strategy.steps is set: leave it at 1, or set strategy.steps=null",
                )
        if self.start is not None and self.order == Order.random:
            raise ConfigError(
                "strategy.start",
                self.start,
                "only with a fixed order (cyclic, reverse, pingpong); order=random draws every cycle's first block",
            )
        if self.start is not None and self.start not in (*START_NAMES, "last") and not str(self.start).isdigit():
            raise ConfigError("strategy.start", self.start, "first, second, last, a block index, or null")

    def check(self, n_blocks: int) -> None:
        if self.steps is not None and len(self.steps) != n_blocks:
            raise ConfigError("strategy.steps", list(self.steps), f"needs one entry per block: {n_blocks} blocks")
        if self.start is not None and not 0 <= self._start_block(n_blocks) < n_blocks:
            raise ConfigError(
                "strategy.start", self.start, f"must name one of the {n_blocks} blocks (0..{n_blocks - 1})"
            )

    def _start_block(self, n_blocks: int) -> int:
        if self.start == "last":
            return n_blocks - 1
        return START_NAMES[self.start] if self.start in START_NAMES else int(self.start)

    def units(self, n_blocks: int) -> List[int]:
        return list(self.steps) if self.steps is not None else [self.every] * n_blocks

    def visits(self, n_blocks: int) -> List[int]:
        """One cycle of a fixed order, as the sequence of blocks visited."""
        forward = list(range(n_blocks))
        seq = {Order.cyclic: forward, Order.reverse: forward[::-1], Order.pingpong: forward + forward[-2:0:-1]}[
            self.order
        ]
        if self.start is not None:
            first = seq.index(self._start_block(n_blocks))
            seq = seq[first:] + seq[:first]
        return seq

    def bind(self, run):
        super().bind(run)
        self._units = self.units(run.n_blocks)
        self._cycle_len = sum(self._units) if self.order == Order.random else None
        if self.order != Order.random:
            seq = self.visits(run.n_blocks)
            self._seq = seq
            self._ends = list(itertools.accumulate(self._units[b] for b in seq))
            self._cycle_len = self._ends[-1]
        self._cached = (None, None)
        return self

    def _cycle(self, index: int) -> tuple[list, list]:
        """Blocks and cumulative visit ends of cycle ``index`` (random orders draw each cycle's permutation)."""
        if self.order != Order.random:
            return self._seq, self._ends
        if self._cached[0] != index:
            seq = draw(self.run.seed if self.seed is None else self.seed, index).sample(
                range(self.run.n_blocks), self.run.n_blocks
            )
            self._cached = (index, (seq, list(itertools.accumulate(self._units[b] for b in seq))))
        return self._cached[1]

    def trainable(self, epoch: int, step: int) -> frozenset[int]:
        cycle, at = divmod(self.clock(epoch, step), self._cycle_len)
        seq, ends = self._cycle(cycle)
        return frozenset((seq[bisect.bisect_right(ends, at)],))

    def resolved(self) -> dict:
        return {
            "steps": self.units(self.run.n_blocks),
            "visits": None if self.order == Order.random else self.visits(self.run.n_blocks),
        }


STRATEGY = Alternating
