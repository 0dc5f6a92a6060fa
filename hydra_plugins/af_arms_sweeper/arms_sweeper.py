"""A basic sweeper over the *arms* of an experiment, so that a sweep spends no compute on duplicates,
launches seed-major, and can tune every arm with the same budget before its final runs.

Hydra's basic sweeper takes one cartesian product. An experiment such as "switching every 1..32
batches or 1..4 epochs, plus standard training" is a union of products: crossing everything would
repeat standard training once per frequency and ask for combinations that do not exist. Here each
arm is a list of overrides (itself a small sweep), every arm is crossed with ``params`` and the
command line, and identical jobs are launched once.

    hydra:
      sweeper:
        arms:
          standard: [strategy=standard]
          batch: [strategy=alternating, strategy.unit=batch, "strategy.every=1,2,4"]
        params:
          seed: range(5)
        tune:                     # optional: the tuning protocol (tuning.py)
          grid: {optimizer.lr: "1e-4,3e-4,1e-3,3e-3,1e-2,3e-2"}
          seeds: range(1000,1003)
          # or quasi-random studies over a space (space.py, docs/sweeps.md):
          # method: quasirandom, space: {optimizer.lr: "log_uniform(1e-4, 1e-1)"}, trials: 16, studies: 3

Jobs launch seed-major (every configuration of a seed, then the next seed), so that a period of
load on a shared machine falls on every configuration alike rather than on one.

Before launching, Hydra composes every job's config to fail early on a bad override, and the
launcher composes it again (70 ms a job on 2 cores). A composition that only sets leaf values can
only fail on an override's own key and value, given the config-group options the job selects, so
here a job is composed in advance only when it brings a (group options, override) pair that no job
composed before it had. Where overrides can interact (``+key``, ``++key``, ``~key``, a dict or list
value, or one key inside another overridden key) every job is composed, as Hydra does.
(No ``from __future__ import annotations`` here: Hydra scans plugins without registering the
module in sys.modules, and dataclasses then cannot resolve string annotations.)
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import OmegaConf

from alternating_freeze import space as spaces
from alternating_freeze import tuning
from alternating_freeze.contract import MULTIRUN_FILE, write_atomic
from alternating_freeze.hydra_compat import BasicSweeper


@dataclass
class ArmsSweeperConf:
    _target_: str = "hydra_plugins.af_arms_sweeper.arms_sweeper.ArmsSweeper"
    max_batch_size: Optional[int] = None
    params: Optional[Dict[str, str]] = None
    arms: Optional[Dict[str, List[str]]] = None
    tune: Optional[tuning.TuneConf] = None


log = logging.getLogger(__name__)
ConfigStore.instance().store(group="hydra/sweeper", name="arms", node=ArmsSweeperConf, provider="alternating_freeze")


def _values(override: Override) -> List[str]:
    return (
        list(override.sweep_string_iterator())
        if override.is_sweep_override()
        else [override.get_value_element_as_str()]
    )


def seed_major(jobs: List[List[str]]) -> List[List[str]]:
    """Jobs reordered (stably) by their seed, seeds in order of first appearance."""

    def seed(job: Sequence[str]) -> Optional[str]:
        return next((o for o in job if o.startswith("seed=")), None)

    first: Dict[Optional[str], int] = {}
    for job in jobs:
        first.setdefault(seed(job), len(first))
    return sorted(jobs, key=lambda job: first[seed(job)])


class ArmsSweeper(BasicSweeper):
    def __init__(
        self,
        max_batch_size: Optional[int] = None,
        params: Optional[Dict[str, str]] = None,
        arms: Optional[Dict[str, List[str]]] = None,
        tune: Optional[Any] = None,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.arms = dict(arms or {})
        self.tune = tuning.TuneConf(**OmegaConf.to_container(tune)) if tune is not None else None
        self._launched = 0  # jobs launched so far, for the launcher's job numbers

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        if str(OmegaConf.select(self.config, "hydra.launcher._target_", default="")).endswith("BatchedLauncher"):
            return  # it composes every job of the batch before it trains any: the same early failure, once
        loader = self.hydra_context.config_loader
        parser = OverridesParser.create(config_loader=loader)
        composed, todo = set(), []
        for job in batch:
            parsed = parser.parse_overrides(list(job))
            groups = [loader.repository.group_exists(o.key_or_group) for o in parsed]
            leaves = [o for o, group in zip(parsed, groups) if not group]
            keys = [o.key_or_group for o in leaves]
            if any(
                o.is_add() or o.is_force_add() or o.is_delete() or isinstance(o.value(), (dict, list)) for o in leaves
            ) or any(a.startswith(b + ".") for a in keys for b in keys):
                todo.append(job)  # overrides that can interact: compose this job as it is
                continue
            options = tuple(sorted(line for line, group in zip(job, groups) if group))
            pairs = {(options, line) for line in job}
            if not pairs <= composed:
                composed |= pairs
                todo.append(job)
        super().validate_batch_is_legal(todo)

    def _parser(self) -> OverridesParser:
        return OverridesParser.create(config_loader=self.hydra_context.config_loader)

    def _expand(self, overrides: List[Override]) -> List[List[str]]:
        """Jobs of every arm crossed with ``overrides`` (which win over an arm's own value of a key),
        without duplicates, seed-major."""
        if not self.arms:
            return seed_major(BasicSweeper.split_arguments(overrides, None)[0])
        parser, jobs, seen = self._parser(), [], set()
        for arm in self.arms.values():
            for job in BasicSweeper.split_arguments(parser.parse_overrides(list(arm)) + overrides, None)[0]:
                key = tuple(sorted(job))
                if key not in seen:
                    seen.add(key)
                    jobs.append(job)
        return seed_major(jobs)

    def split_arguments(self, overrides: List[Override], max_batch_size: Optional[int]) -> List[List[List[str]]]:
        jobs = self._expand(overrides)
        return list(self.split_overrides_to_chunks(jobs, max_batch_size)) if jobs else [[]]

    # ------------------------------------------------------------ the tuning protocol

    def sweep(self, arguments: List[str]) -> Any:
        import sys

        from alternating_freeze.errors import ConfigError

        try:
            self._check_schedules(self._parser().parse_overrides(self._parse_config() + list(arguments)))
            if self.tune is None:
                jobs = self._expand(self._parser().parse_overrides(self._parse_config() + list(arguments)))
                self._count(len(jobs))
                planted = Path(self.config.hydra.sweep.dir) / MULTIRUN_FILE
                if planted.is_symlink():  # Hydra's sweeper saves multirun.yaml through it: replaced, not followed
                    planted.unlink()
                return super().sweep(arguments)
            return self._tuned(arguments)
        except ConfigError as e:  # the one line and exit status of any bad input (cli.py, preflight.py)
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(2) from None

    def _check_schedules(self, overrides: List[Override]) -> None:
        """Before any job runs, every arm trains every block for every seed of the sweep (arm_checks)."""
        from alternating_freeze.arm_checks import check_schedules

        seeds = [o for o in overrides if o.get_key_element() == "seed"]
        rest = [o for o in overrides if o.get_key_element() != "seed"]
        seed_values = _values(seeds[-1]) if seeds else [str(self.config.get("seed", 0))]
        if self.tune is not None:
            seed_values += _values(self._parser().parse_overrides([f"seed={self.tune.seeds}"])[0])
        check_schedules(self.hydra_context.config_loader, self.config, self._configurations(rest), seed_values)

    def _tuned(self, arguments: List[str]) -> Any:
        from alternating_freeze.arm_checks import check_tuned_keys, check_tuned_values, task_objectives
        from alternating_freeze.errors import ConfigError

        parser = self._parser()
        overrides = parser.parse_overrides(self._parse_config() + list(arguments))
        seeds = [o for o in overrides if o.get_key_element() == "seed"]
        rest = [o for o in overrides if o.get_key_element() != "seed"]
        final_seeds = _values(seeds[-1]) if seeds else [str(self.config.get("seed", 0))]
        tuning_seeds = _values(parser.parse_overrides([f"seed={self.tune.seeds}"])[0])
        grid = {
            k: [x for x in _values(parser.parse_overrides([f"{k}={v}"])[0]) if x != ""]
            for k, v in (self.tune.grid or {}).items()
        }
        for line in OmegaConf.select(self.config, "hydra.overrides.hydra", default=None) or []:
            key, _, value = str(line).lstrip("+").partition("=")
            if key in ("hydra.sweeper.tune.grid", "hydra.sweeper.tune.space") and value.replace(" ", "") == "{}":
                raise ConfigError(
                    key, value, "at least one key: an empty mapping merges into the preset's, changing nothing"
                )
        tuning.check(self.tune, grid, tuning_seeds, final_seeds)
        quasi = self.tune.method == "quasirandom"
        space = spaces.parse_space(self.tune.space) if quasi else {}
        configs = self._configurations(rest)
        loader = self.hydra_context.config_loader
        check_tuned_keys(loader, self.config, configs, space or grid, space, dict(self.tune.space or {}))
        where = "hydra.sweeper.tune.space" if quasi else "hydra.sweeper.tune.grid"
        values = {k: d.ends() for k, d in space.items()} if quasi else grid
        check_tuned_values(loader, self.config, next(iter(configs.values())), values, where)
        if self.tune.metric == tuning.AUTO:  # the tasks' objective, recorded in tuning.json as the key it reads
            self.tune.metric = tuning.resolve_metric(self.tune.metric, task_objectives(loader, self.config, configs))

        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(sweep_dir / MULTIRUN_FILE, OmegaConf.to_yaml(self.config).encode())  # a link there: replaced
        points = tuning.plan(self.tune, grid)
        n_points = sum(map(len, points))
        self._count(len(configs) * (n_points * len(tuning_seeds) + len(points) * len(final_seeds)))
        trials = tuning.trials(configs, points, tuning_seeds)
        returns = [self._launch([t.overrides for ts in trials.values() for t in ts], sweep_dir, trials)]
        arms = {
            name: {
                "overrides": configs[name],
                **tuning.choose(trials[name], sweep_dir, self.tune.metric, grid, points, space),
            }
            for name in configs
        }
        for name, arm in arms.items():
            arm["final_jobs"] = []
            for note in arm["warnings"]:
                log.warning("tuning, arm %s: %s", name, note)
        tuning.write(
            sweep_dir, self.tune, grid, tuning_seeds, final_seeds, arms, points
        )  # the choice, before the finals
        finals = tuning.finals(configs, arms, final_seeds)
        returns.append(self._launch([f.overrides for fs in finals.values() for f in fs], sweep_dir, finals))
        for (name, study), fs in finals.items():
            arms[name]["studies"][study]["final_jobs"] = [f.job for f in fs]
        for arm in arms.values():
            arm["final_jobs"] = arm["studies"][arm["median_study"]]["final_jobs"]
        tuning.write(sweep_dir, self.tune, grid, tuning_seeds, final_seeds, arms, points)
        return returns

    def _count(self, total: int) -> None:
        """Start the sweep's job counter, from which every job logs "job k/N, ETA ..." (progress.py)."""
        from alternating_freeze import progress

        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        progress.launch(sweep_dir, total)

    def _configurations(self, rest: List[Override]) -> Dict[str, List[str]]:
        """The configurations to tune, each by name: an arm, or an arm with the values of what varies in it."""
        configs: Dict[str, List[str]] = {}
        seen = set()
        for arm, lines in (self.arms or {"all": []}).items():
            jobs = BasicSweeper.split_arguments(self._parser().parse_overrides(list(lines)) + rest, None)[0]
            varying = [i for i in range(len(jobs[0])) if len({job[i] for job in jobs}) > 1] if jobs else []
            for job in jobs:
                if tuple(sorted(job)) in seen:
                    continue
                seen.add(tuple(sorted(job)))
                name = arm if not varying else f"{arm} " + ",".join(job[i] for i in varying)
                configs[name] = list(job)
        return configs

    def _launch(self, jobs: List[List[str]], sweep_dir: Path, planned: Dict[str, list]) -> list:
        """Launch ``jobs`` seed-major, in chunks of max_batch_size, and record each planned job's folder."""
        jobs = seed_major([list(j) for j in {tuple(j): None for j in jobs}])  # a job shared by two arms runs once
        results = []
        for chunk in self.split_overrides_to_chunks(jobs, self.max_batch_size):
            self.validate_batch_is_legal(chunk)
            results.extend(self.launcher.launch(chunk, initial_job_idx=self._launched))
            self._launched += len(chunk)
        folders = {}
        for r in results:
            out = OmegaConf.select(r.hydra_cfg, "hydra.runtime.output_dir") if r.hydra_cfg is not None else None
            if out is not None:
                folders[tuple(sorted(r.overrides))] = Path(out).resolve().relative_to(sweep_dir.resolve()).as_posix()
        for items in planned.values():
            for item in items:
                item.job = folders.get(tuple(sorted(item.overrides)))
        return results
