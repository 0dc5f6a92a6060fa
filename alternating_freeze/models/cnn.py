"""The VGG-style family: ``depth`` 3x3 conv layers in stages, 2x2 max-pooling between stages,
channels doubling per stage from ``width``, then global average pooling and a linear head.

Units (what ``model.split``/``model.splits`` index): conv layer i is unit i (0..depth-1, its
BatchNorm, ReLU and, at the end of a stage, the pooling included); the head is unit ``depth``.
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from ..errors import ConfigError
from .blocks import BlockNet, conv_unit, group, head, image_shape, kaiming


def stage_sizes(depth: int, stages: int) -> list[int]:
    """Conv layers per stage, as even as possible, later stages taking the remainder (as in VGG)."""
    return [depth // stages + (i >= stages - depth % stages) for i in range(stages)]


def check_fits(cfg, hw: tuple[int, int]) -> None:
    """Each pooling halves the image: ``stages - 1`` of them need at least 2**(stages-1) pixels a side."""
    stages, side = cfg.n_stages, min(hw)
    most = side.bit_length()  # stages whose poolings fit: 2**(most-1) <= side
    if 2 ** (stages - 1) <= side:
        return
    need = (
        f"{stages - 1} 2x2 poolings need images of at least {2 ** (stages - 1)}x{2 ** (stages - 1)}; "
        f"these are {hw[0]}x{hw[1]}"
    )
    if cfg.stages is not None:
        raise ConfigError("model.stages", cfg.stages, f"{need}: at most {most} stages")
    raise ConfigError(
        "model.depth",
        cfg.depth,
        f"{stages} stages of two conv layers (model.stages=null): {need}; "
        f"at most depth {2 * most}, or set model.stages <= {most}",
    )


def build(cfg, input_shape: Sequence[int], num_classes: int) -> BlockNet:
    c, h, w = image_shape(input_shape, cfg.name)
    check_fits(cfg, (h, w))
    units: list[nn.Module] = []
    channels = c
    for s, n in enumerate(stage_sizes(cfg.depth, cfg.n_stages)):
        for i in range(n):
            last_of_stage = i == n - 1 and s < cfg.n_stages - 1
            units.append(conv_unit(channels, cfg.width * 2**s, cfg.batchnorm, pool=last_of_stage))
            channels = cfg.width * 2**s
    units.append(head(channels, num_classes, cfg.dropout))
    kaiming(units)
    return BlockNet(group(units, cfg.block_starts), (c, h, w))
