"""The run's config schema, registered in Hydra's ConfigStore so that a wrong type or an unknown
key fails when the config is composed, and ``validate`` catches bad values before any training.

Each group's schema lives in the module that reads it (``conf/<group>/`` mirrors the code) and
checks its own values in ``__post_init__``; ``RunConfig`` checks what involves two groups.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf, open_dict

from .contract import EXECUTION_GROUPS, EXECUTION_KEYS
from .data import DatasetConfig
from .errors import ConfigError
from .loggers import LOGGERS
from .loop import TrainerConfig
from .models import ModelConfig
from .optim import OptimizerConfig
from .strategies import STRATEGIES, Strategy


@dataclass
class RunConfig:
    seed: int = 0
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    strategy: Any = MISSING  # one of STRATEGIES; its YAML names its schema in its defaults list
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: Any = None  # one of loggers.LOGGERS (conf/logger/); None: no tracker. Not in the config hash

    def __post_init__(self) -> None:
        if isinstance(self.strategy, Strategy):  # options that depend on the network, e.g. one step count per block
            self.strategy.check(self.model.n_blocks)


def register() -> None:
    cs = ConfigStore.instance()
    cs.store(name="run_schema", node=RunConfig)
    for name, schema in STRATEGIES.items():
        cs.store(group="schema/strategy", name=name, node=schema)
    for name, schema in LOGGERS.items():
        cs.store(group="schema/logger", name=name, node=schema)


register()


def validate(cfg: DictConfig) -> RunConfig:
    """Typed, checked config; raises ConfigError naming the first bad key."""
    name = OmegaConf.select(cfg, "strategy.name")
    if name not in STRATEGIES:
        raise ConfigError("strategy.name", name, f"allowed: {', '.join(STRATEGIES)}")
    if OmegaConf.get_type(cfg.strategy) is not STRATEGIES[name]:  # a strategy YAML without its schema
        cfg = cfg.copy()
        with open_dict(cfg):
            cfg.strategy = OmegaConf.merge(OmegaConf.structured(STRATEGIES[name]), cfg.strategy)
    return OmegaConf.to_object(cfg)


def config_hash(cfg: DictConfig) -> str:
    """Identity of what a run computes: two runs with equal hashes produce the same results."""
    tree = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    for key in EXECUTION_KEYS:
        group, leaf = key.split(".")
        tree.get(group, {}).pop(leaf, None)
    for group in EXECUTION_GROUPS:
        tree.pop(group, None)
    return hashlib.sha256(json.dumps(tree, sort_keys=True).encode()).hexdigest()[:16]
