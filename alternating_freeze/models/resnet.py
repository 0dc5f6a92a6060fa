"""The CIFAR ResNet of He et al. 2016 (section 4.2): 6n+2 layers. A 3x3 conv stem, three stages of
n basic blocks at ``width``, 2x``width`` and 4x``width`` channels (16/32/64 in the paper; the
first block of stages 2 and 3 halves the image with stride 2), global average pooling, a linear
head. Shortcuts are option A: the identity, and where the shape changes, the input subsampled by
2 with zero channels appended (no parameters), as the paper's CIFAR networks.

Units (what ``model.split``/``model.splits`` index): the stem is unit 0, residual block j is unit
1 + j (stage s begins at unit 1 + s*n), the head is unit 3n + 1.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import BlockNet, conv_unit, group, head, image_shape, kaiming


class BasicBlock(nn.Module):
    """relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))."""

    def __init__(self, c_in: int, c_out: int, stride: int, batchnorm: bool):
        super().__init__()
        norm = nn.BatchNorm2d if batchnorm else lambda c: nn.Identity()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not batchnorm)
        self.bn1 = norm(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=not batchnorm)
        self.bn2 = norm(c_out)
        self.stride, self.extra = stride, c_out - c_in

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """Option A: subsample by the stride and append zero channels."""
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x), inplace=True)


def blocks_per_stage(depth: int) -> int:
    return (depth - 2) // 6


def build(cfg, input_shape: Sequence[int], num_classes: int) -> BlockNet:
    c, h, w = image_shape(input_shape, cfg.name)
    n = blocks_per_stage(cfg.depth)
    units: list[nn.Module] = [conv_unit(c, cfg.width, cfg.batchnorm)]
    channels = cfg.width
    for s in range(3):
        for j in range(n):
            out = cfg.width * 2**s
            units.append(BasicBlock(channels, out, 2 if s and not j else 1, cfg.batchnorm))
            channels = out
    units.append(head(channels, num_classes, cfg.dropout))
    kaiming(units)
    return BlockNet(group(units, cfg.block_starts), (c, h, w))
