"""Optimizers. Built once per run (or once per switch under ``strategy.optimizer_state=reset``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, List

import torch

from .errors import ConfigError

OPTIMIZERS = ("adam", "adamw", "sgd")


@dataclass
class OptimizerConfig:
    """Schema of the `optimizer` config group."""

    name: str = "adam"
    lr: float = 1e-3
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0  # sgd only
    nesterov: bool = False  # sgd only

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ConfigError("optimizer.name", self.name, f"allowed: {', '.join(OPTIMIZERS)}")
        if not self.lr > 0:
            raise ConfigError("optimizer.lr", self.lr, "must be > 0")
        if self.weight_decay < 0:
            raise ConfigError("optimizer.weight_decay", self.weight_decay, "must be >= 0")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError("optimizer.betas", list(self.betas), "must be [beta1, beta2], each in [0, 1)")
        if self.momentum < 0:
            raise ConfigError("optimizer.momentum", self.momentum, "must be >= 0")


def build_optimizer(cfg: OptimizerConfig, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """Parameters with ``grad is None`` (the frozen half) are skipped by all three: no decay, no momentum."""
    params = list(params)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay)
    cls = torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam
    return cls(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay)
