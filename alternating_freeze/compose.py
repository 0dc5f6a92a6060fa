"""Each job's config, composed once, and most of them without a full composition.

Hydra composes every job of a sweep from scratch (reading the config files, building the defaults
list, merging the schemas: 50-200 ms a job on 2 cores, as long as a batched job's training). An
override either chooses a config-group option (``strategy=alternating``: it shapes the defaults
list) or sets a value (``seed=3``, ``optimizer.lr=0.01``, ``+extra=1``, ``~key``), which Hydra
applies last, to the composed tree, with ``hydra_compat.apply_overrides``. So one job
per set of group options is composed in full (the *base*: the group options alone), and every other
job is a copy of its base with its value overrides applied by that same function, and its
``hydra.overrides.task`` and ``hydra.job.override_dirname`` set as Hydra sets them. The first job
derived from each base is also composed in full and compared (the whole tree, hydra node
included): on any difference that base is given up and its jobs are composed in full. A job with a
``hydra.`` override is always composed in full.

A sweep's composer is shared (``shared``): the arms sweeper's pre-launch checks (arm_checks.py) and the batched
launcher compose through one, so that each set of group options is composed in full once a sweep, not once for
the checks and again for the launch.
"""

from __future__ import annotations

import copy
import logging
import weakref
from typing import Dict, List, Optional, Tuple

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from .hydra_compat import apply_overrides, get_overrides_dirname

log = logging.getLogger(__name__)


class Composer:
    def __init__(self, loader, master: DictConfig, fast: bool = True) -> None:
        self.loader, self.master, self.fast = loader, master, fast
        self.parser = OverridesParser.create(config_loader=loader)
        self.bases: Dict[Tuple[str, ...], Optional[DictConfig]] = {}
        self.verified: set = set()
        self.full = 0  # full compositions so far (the benchmark reports them)

    def _compose(self, overrides: List[str]) -> DictConfig:
        self.full += 1
        return self.loader.load_sweep_config(self.master, list(overrides))

    def _plan(self, overrides: List[str]):
        """(group option lines, leaf overrides, all parsed) when the job can be derived from a base, else None."""
        parsed = self.parser.parse_overrides(list(overrides))
        groups, leaves = [], []
        for line, o in zip(overrides, parsed):
            if self.loader.repository.group_exists(o.key_or_group):
                groups.append(line)
            elif o.is_hydra_override() or o.is_sweep_override():
                return None
            else:
                leaves.append(o)
        return tuple(groups), leaves, parsed

    def __call__(self, overrides: List[str]) -> DictConfig:
        plan = self._plan(overrides) if self.fast else None
        if plan is None:
            return self._compose(overrides)
        groups, leaves, parsed = plan
        if groups not in self.bases:
            try:
                self.bases[groups] = self._compose(list(groups))
            except Exception:  # noqa: BLE001 - the job's own composition says what is wrong
                self.bases[groups] = None
        base = self.bases[groups]
        if base is None:
            return self._compose(overrides)
        cfg = copy.deepcopy(base)
        OmegaConf.copy_cache(from_config=self.master, to_config=cfg)  # e.g. the sweep folder's ${now:...}
        if not leaves:  # the base's own overrides
            return cfg
        apply_overrides(leaves, cfg)
        job = cfg.hydra.job.config.override_dirname
        task = [o for o in parsed if not o.is_hydra_override()]
        cfg.hydra.overrides.task = [o.input_line for o in task]
        cfg.hydra.job.override_dirname = get_overrides_dirname(
            overrides=task, kv_sep=job.kv_sep, item_sep=job.item_sep, exclude_keys=job.exclude_keys
        )
        if groups not in self.verified:
            full = self._compose(overrides)
            if OmegaConf.to_yaml(full) != OmegaConf.to_yaml(cfg):
                log.warning(
                    "composing the jobs of %s in full: a derived config differed from Hydra's",
                    " ".join(groups) or "the primary config",
                )
                self.bases[groups] = None
                return full
            self.verified.add(groups)
        return cfg


_SHARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # config loader -> its sweep's Composer


def shared(loader, master: DictConfig, fast: bool = True) -> Composer:
    """The Composer of this config loader and master config (a sweep's: its sweeper and launcher get the same
    two), made at the first call; another master config or ``fast`` makes a new one."""
    mine = _SHARED.get(loader)
    if mine is None or mine.master is not master or mine.fast != fast:
        mine = _SHARED[loader] = Composer(loader, master, fast)
    return mine
