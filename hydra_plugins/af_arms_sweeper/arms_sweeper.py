"""A basic sweeper over the *arms* of an experiment, so that a sweep spends no compute on duplicates.

Hydra's basic sweeper takes one cartesian product. An experiment such as "switching every 1..32
batches or 1..4 epochs, plus standard training" is a union of products: crossing everything would
repeat standard training once per frequency (switching means nothing to it) and ask for
combinations that do not exist. Here each arm is a list of overrides (itself a small sweep), every
arm is crossed with ``params`` and the command line, and identical jobs are launched once.

    hydra:
      sweeper:
        arms:
          standard: [strategy=standard]
          batch: [strategy=alternating, strategy.unit=batch, "strategy.every=1,2,4"]
        params:
          seed: range(5)

Without ``arms`` it is Hydra's basic sweeper, but for one thing: before launching, Hydra composes
every job's config to fail early on a bad override, and the launcher composes it again (70 ms a
job on 2 cores: 3.5 s of a 50-job preset). A composition that only sets leaf values can only fail
on an override's own key and value, given the config-group options the job selects, so here a job
is composed in advance only when it brings a (group options, override) pair that no job composed
before it had. Where overrides can interact (``+key``, ``++key``, ``~key``, a dict or list value,
or one key inside another overridden key) every job is composed, as Hydra does.
(No ``from __future__ import annotations`` here: Hydra scans plugins without registering the
module in sys.modules, and dataclasses then cannot resolve string annotations.)
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override


@dataclass
class ArmsSweeperConf:
    _target_: str = "hydra_plugins.af_arms_sweeper.arms_sweeper.ArmsSweeper"
    max_batch_size: Optional[int] = None
    params: Optional[Dict[str, str]] = None
    arms: Optional[Dict[str, List[str]]] = None


ConfigStore.instance().store(group="hydra/sweeper", name="arms", node=ArmsSweeperConf, provider="alternating_freeze")


class ArmsSweeper(BasicSweeper):
    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None,
                 arms: Optional[Dict[str, List[str]]] = None) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.arms = dict(arms or {})

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        loader = self.hydra_context.config_loader
        parser = OverridesParser.create(config_loader=loader)
        composed, todo = set(), []
        for job in batch:
            parsed = parser.parse_overrides(list(job))
            groups = [loader.repository.group_exists(o.key_or_group) for o in parsed]
            leaves = [o for o, group in zip(parsed, groups) if not group]
            keys = [o.key_or_group for o in leaves]
            if (any(o.is_add() or o.is_force_add() or o.is_delete() or isinstance(o.value(), (dict, list))
                    for o in leaves)
                    or any(a.startswith(b + ".") for a in keys for b in keys)):
                todo.append(job)  # overrides that can interact: compose this job as it is
                continue
            options = tuple(sorted(line for line, group in zip(job, groups) if group))
            pairs = {(options, line) for line in job}
            if not pairs <= composed:
                composed |= pairs
                todo.append(job)
        super().validate_batch_is_legal(todo)

    def split_arguments(self, overrides: List[Override], max_batch_size: Optional[int]) -> List[List[List[str]]]:
        """Jobs of every arm; the command line and ``params`` win over an arm's own value of a key."""
        if not self.arms:
            return BasicSweeper.split_arguments(overrides, max_batch_size)
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        jobs, seen = [], set()
        for arm in self.arms.values():
            for job in BasicSweeper.split_arguments(parser.parse_overrides(list(arm)) + overrides, None)[0]:
                key = tuple(sorted(job))
                if key not in seen:
                    seen.add(key)
                    jobs.append(job)
        return list(self.split_overrides_to_chunks(jobs, max_batch_size)) if jobs else [[]]
