"""The MLP family: ``depth`` Linear layers, one unit each; its FLOPs have a closed form."""

from __future__ import annotations

import math
from typing import Iterable, Sequence

from torch import nn

from .blocks import BlockNet, group


class MLP(BlockNet):
    def train_flops_per_sample(self, trainable: Iterable[int]) -> int:
        """Matmul FLOPs of one training sample (forward + backward) with only ``trainable`` blocks updated.

        Counts what autograd actually runs: every layer's forward; a weight gradient for each
        layer of a trainable block; an input gradient for every layer after the earliest
        trainable one (the earliest one's input needs no gradient, and nothing before it runs
        backward). Equal to torch's FlopCounterMode (``measure_train_flops``; tests/test_cnn.py).
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


def build(cfg, input_shape: Sequence[int], num_classes: int) -> MLP:
    """Each hidden layer is Linear -> [BatchNorm] -> ReLU -> [Dropout]; the last is the classifier.
    Images are flattened (C, H, W order) on the way in."""
    input_dim = math.prod(input_shape)
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
    return MLP(group(layers, cfg.block_starts), (input_dim,))
