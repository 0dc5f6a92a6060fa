"""Networks split into two halves, so a strategy can train one half while the other is frozen."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from .errors import ConfigError

HALVES = ("first", "second")


@dataclass
class ModelConfig:
    """Schema of the `model` config group."""

    name: str = "mlp"
    depth: int = 3  # number of Linear layers
    width: int = 128  # hidden width
    batchnorm: bool = False
    dropout: float = 0.0
    split: Optional[int] = None  # index of the first layer of the second half; null: depth // 2

    def __post_init__(self) -> None:
        if self.name != "mlp":
            raise ConfigError("model.name", self.name, "allowed: mlp")
        if self.depth < 2:
            raise ConfigError("model.depth", self.depth, "must be >= 2 (two halves need two layers)")
        if self.width < 1:
            raise ConfigError("model.width", self.width, "must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("model.dropout", self.dropout, "must be in [0, 1)")
        if self.split is not None and not 1 <= self.split <= self.depth - 1:
            raise ConfigError("model.split", self.split, f"must be between 1 and depth-1={self.depth - 1}, or null")

    @property
    def split_index(self) -> int:
        return self.depth // 2 if self.split is None else self.split


class SplitNet(nn.Module):
    """A network as two sequential halves that can be frozen independently.

    A frozen first half runs under ``no_grad``: autograd records nothing there, so no backward
    work (and no activation memory) is spent on it. A frozen second half still passes gradients
    through to the first half, but computes no weight gradients of its own.

    With ``freeze_bn_stats``, frozen BatchNorm layers stop updating their running statistics
    (``track_running_stats`` off while frozen) but still normalise with batch statistics in
    training, exactly as when they train: freezing changes what learns, not the function a
    training step computes. (Eval mode would normalise with running statistics instead, which for
    a half frozen from the start are still the initial 0 and 1.)
    """

    def __init__(self, first: nn.Sequential, second: nn.Sequential):
        super().__init__()
        self.first, self.second = first, second
        self.trainable: frozenset[str] = frozenset(HALVES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if "first" in self.trainable or not torch.is_grad_enabled():
            return self.second(self.first(x))
        with torch.no_grad():
            h = self.first(x)
        return self.second(h)

    def halves(self) -> dict[str, nn.Sequential]:
        return {"first": self.first, "second": self.second}

    def set_trainable(self, trainable: frozenset[str], freeze_bn_stats: bool = True) -> None:
        self.trainable = frozenset(trainable)
        for name, half in self.halves().items():
            frozen = name not in self.trainable
            for p in half.parameters():
                p.requires_grad_(not frozen)
                if frozen:
                    p.grad = None
            for m in half.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.track_running_stats = not (frozen and freeze_bn_stats)

    def linear_layers(self) -> list[tuple[str, nn.Linear]]:
        return [(name, m) for name, half in self.halves().items() for m in half.modules() if isinstance(m, nn.Linear)]

    def train_flops_per_sample(self, trainable: frozenset[str]) -> int:
        """Matmul FLOPs of one training sample (forward + backward) with only ``trainable`` halves updated.

        Counts what autograd actually runs: every layer's forward; a weight gradient for each
        trainable layer; an input gradient for every layer after the earliest trainable one
        (the earliest one's input needs no gradient). Matches torch's FlopCounterMode.
        """
        layers = self.linear_layers()
        fwd = sum(2 * m.in_features * m.out_features for _, m in layers)
        trains = [half in trainable for half, _ in layers]
        if not any(trains):
            return fwd
        earliest = trains.index(True)
        bwd = 0
        for i, (_, m) in enumerate(layers[earliest:], start=earliest):
            mm = 2 * m.in_features * m.out_features
            bwd += mm * trains[i] + mm * (i > earliest)
        return fwd + bwd


def build_model(cfg: ModelConfig, input_dim: int, num_classes: int) -> SplitNet:
    """An MLP of ``depth`` Linear layers; each hidden layer is Linear -> [BatchNorm] -> ReLU -> [Dropout]."""
    dims = [input_dim] + [cfg.width] * (cfg.depth - 1) + [num_classes]
    blocks: list[nn.Module] = []
    for i in range(cfg.depth):
        layers: list[nn.Module] = [nn.Linear(dims[i], dims[i + 1])]
        if i < cfg.depth - 1:
            if cfg.batchnorm:
                layers.append(nn.BatchNorm1d(dims[i + 1]))
            layers.append(nn.ReLU())
            if cfg.dropout > 0:
                layers.append(nn.Dropout(cfg.dropout))
        blocks.append(nn.Sequential(*layers))
    s = cfg.split_index
    return SplitNet(nn.Sequential(*blocks[:s]), nn.Sequential(*blocks[s:]))
