"""Networks split into K blocks, so that a strategy can train some blocks while the others are frozen."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional

import torch
from torch import nn

from .errors import ConfigError

MODELS = ("mlp",)


@dataclass
class ModelConfig:
    """Schema of the `model` config group."""

    name: str = "mlp"
    depth: int = 3  # number of Linear layers
    width: int = 128  # hidden width
    batchnorm: bool = False
    dropout: float = 0.0
    split: Optional[int] = None  # two blocks: index of the first layer of the second; null: depth // 2
    splits: Optional[List[int]] = None  # K blocks: the layer indices where blocks 1..K-1 begin, e.g. [1, 2, 3]

    def __post_init__(self) -> None:
        if self.name not in MODELS:
            raise ConfigError("model.name", self.name, f"allowed: {', '.join(MODELS)}")
        if self.depth < 2:
            raise ConfigError("model.depth", self.depth, "must be >= 2 (two blocks need two layers)")
        if self.width < 1:
            raise ConfigError("model.width", self.width, "must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("model.dropout", self.dropout, "must be in [0, 1)")
        if self.split is not None and not 1 <= self.split <= self.depth - 1:
            raise ConfigError("model.split", self.split, f"must be between 1 and depth-1={self.depth - 1}, or null")
        if self.splits is not None:
            s = list(self.splits)
            if self.split is not None:
                raise ConfigError("model.splits", s, "set either model.split (two blocks) or model.splits, not both")
            if not s or s != sorted(set(s)) or not 1 <= s[0] <= s[-1] <= self.depth - 1:
                raise ConfigError("model.splits", s, f"a non-empty increasing list of layer indices in "
                                  f"1..depth-1={self.depth - 1} (where blocks 1, 2, ... begin)")

    @property
    def block_starts(self) -> List[int]:
        """Layer indices where blocks 1..K-1 begin (block 0 begins at layer 0)."""
        if self.splits is not None:
            return list(self.splits)
        return [self.depth // 2 if self.split is None else self.split]

    @property
    def n_blocks(self) -> int:
        return len(self.block_starts) + 1


def _is_batchnorm(m: nn.Module) -> bool:
    return isinstance(m, nn.modules.batchnorm._BatchNorm)


class BlockNet(nn.Module):
    """A network as a sequence of blocks that are frozen independently.

    The frozen blocks before the earliest trainable one run under ``no_grad``: autograd records
    nothing there, so no backward work (and no activation memory) is spent on them. A frozen block
    after a trainable one still passes gradients through, but computes no weight gradients.

    With ``freeze_bn_stats``, frozen BatchNorm layers stop updating their running statistics
    (``track_running_stats`` off while frozen) but still normalise with batch statistics in
    training, exactly as when they train: freezing changes what learns, not the function a
    training step computes. (Eval mode would normalise with running statistics instead, which for
    a block frozen from the start are still the initial 0 and 1.)
    """

    def __init__(self, blocks: Iterable[nn.Sequential]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.trainable: frozenset[int] = frozenset(range(len(self.blocks)))

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        start = min(self.trainable, default=self.n_blocks) if torch.is_grad_enabled() else 0
        if start:
            with torch.no_grad():
                for block in self.blocks[:start]:
                    x = block(x)
        for block in self.blocks[start:]:
            x = block(x)
        return x

    def set_trainable(self, trainable: Iterable[int], freeze_bn_stats: bool = True) -> None:
        self.trainable = frozenset(trainable)
        for i, block in enumerate(self.blocks):
            frozen = i not in self.trainable
            for p in block.parameters():
                p.requires_grad_(not frozen)
                if frozen:
                    p.grad = None
            for m in block.modules():
                if _is_batchnorm(m):
                    m.track_running_stats = not (frozen and freeze_bn_stats)

    def linear_layers(self) -> list[tuple[int, nn.Linear]]:
        """(block index, layer) of every Linear layer, in forward order."""
        return [(i, m) for i, block in enumerate(self.blocks) for m in block.modules() if isinstance(m, nn.Linear)]

    def train_flops_per_sample(self, trainable: Iterable[int]) -> int:
        """Matmul FLOPs of one training sample (forward + backward) with only ``trainable`` blocks updated.

        Counts what autograd actually runs: every layer's forward; a weight gradient for each
        layer of a trainable block; an input gradient for every layer after the earliest
        trainable one (the earliest one's input needs no gradient, and nothing before it runs
        backward). Matches torch's FlopCounterMode (tests/test_freezing.py).
        """
        trainable = frozenset(trainable)
        layers = self.linear_layers()
        fwd = sum(2 * m.in_features * m.out_features for _, m in layers)
        trains = [block in trainable for block, _ in layers]
        if not any(trains):
            return fwd
        earliest = trains.index(True)
        bwd = 0
        for i, (_, m) in enumerate(layers[earliest:], start=earliest):
            mm = 2 * m.in_features * m.out_features
            bwd += mm * trains[i] + mm * (i > earliest)
        return fwd + bwd


def build_model(cfg: ModelConfig, input_dim: int, num_classes: int) -> BlockNet:
    """An MLP of ``depth`` Linear layers (each hidden one Linear -> [BatchNorm] -> ReLU -> [Dropout])
    grouped into blocks at ``cfg.block_starts``. Layers are built in order, so the initial weights of
    a seed do not depend on where the network is split."""
    dims = [input_dim] + [cfg.width] * (cfg.depth - 1) + [num_classes]
    layers: list[nn.Module] = []
    for i in range(cfg.depth):
        parts: list[nn.Module] = [nn.Linear(dims[i], dims[i + 1])]
        if i < cfg.depth - 1:
            if cfg.batchnorm:
                parts.append(nn.BatchNorm1d(dims[i + 1]))
            parts.append(nn.ReLU())
            if cfg.dropout > 0:
                parts.append(nn.Dropout(cfg.dropout))
        layers.append(nn.Sequential(*parts))
    bounds = [0, *cfg.block_starts, cfg.depth]
    return BlockNet(nn.Sequential(*layers[a:b]) for a, b in zip(bounds, bounds[1:]))
