"""Networks split into K blocks, so that a strategy can train some blocks while the others are frozen.

Families (``model.name``): ``mlp``, ``cnn`` (VGG-style), ``resnet`` (the CIFAR ResNet) and ``gpt`` (a
decoder-only transformer over text). Each
builds its units (layers, residual blocks) in order and groups them into blocks at
``ModelConfig.block_starts``; ``BlockNet`` does the freezing for all of them.
"""

from __future__ import annotations

from typing import Sequence, Union

from . import cnn, gpt, mlp, resnet
from .blocks import BlockNet, measure_train_flops
from .schema import MODELS, ModelConfig

FAMILIES = {"mlp": mlp.build, "cnn": cnn.build, "resnet": resnet.build, "gpt": gpt.build}


def build_model(cfg: ModelConfig, input_shape: Union[int, Sequence[int]], num_classes: int) -> BlockNet:
    """The network of ``cfg`` for samples of ``input_shape``: (C, H, W) images, or a feature count
    (an MLP flattens images itself). A network that cannot fit the images is a ConfigError."""
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    return FAMILIES[cfg.name](cfg, shape, num_classes)


__all__ = ["BlockNet", "FAMILIES", "MODELS", "ModelConfig", "build_model", "measure_train_flops"]
