"""The run's config schema, registered in Hydra's ConfigStore so that a wrong type or an unknown
key fails when the config is composed, and ``validate`` catches bad values before any training.

Each group's schema lives in the module that reads it (``conf/<group>/`` mirrors the code).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from .data import DatasetConfig
from .errors import ConfigError
from .loop import TrainerConfig
from .models import ModelConfig
from .optim import OptimizerConfig
from .strategies import STRATEGIES


@dataclass
class RunConfig:
    seed: int = 0
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    strategy: Any = MISSING  # one of STRATEGIES; its YAML names its schema in its defaults list
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def register() -> None:
    cs = ConfigStore.instance()
    cs.store(name="run_schema", node=RunConfig)
    for name, schema in STRATEGIES.items():
        cs.store(group="schema/strategy", name=name, node=schema)


register()

# Keys that change how a run executes but not what it computes: excluded from the config hash
# (and from sweep folder names, see conf/train.yaml).
EXECUTION_KEYS = ("trainer.device", "trainer.num_threads", "trainer.progress", "trainer.checkpoint",
                  "trainer.eval_batch_size", "dataset.root", "dataset.download")


def validate(cfg: DictConfig) -> RunConfig:
    """Typed, checked config; raises ConfigError naming the first bad key."""
    name = OmegaConf.select(cfg, "strategy.name")
    if name not in STRATEGIES:
        raise ConfigError("strategy.name", name, f"allowed: {', '.join(STRATEGIES)}")
    run = OmegaConf.to_object(cfg)
    if not isinstance(run.strategy, STRATEGIES[name]):  # a strategy YAML without its schema
        run.strategy = STRATEGIES[name](**run.strategy)
    return run


def config_hash(cfg: DictConfig) -> str:
    """Identity of what a run computes: two runs with equal hashes produce the same results."""
    tree = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    for key in EXECUTION_KEYS:
        group, leaf = key.split(".")
        tree.get(group, {}).pop(leaf, None)
    return hashlib.sha256(json.dumps(tree, sort_keys=True).encode()).hexdigest()[:16]
