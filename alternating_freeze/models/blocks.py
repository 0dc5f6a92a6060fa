"""A network as a sequence of blocks that are frozen independently, and what one training step costs."""

from __future__ import annotations

import copy
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _is_batchnorm(m: nn.Module) -> bool:
    return isinstance(m, nn.modules.batchnorm._BatchNorm)  # BatchNorm1d and BatchNorm2d alike


def group(units: Sequence[nn.Module], starts: Sequence[int]) -> list[nn.Sequential]:
    """Units (layers, residual blocks) built in order, grouped into blocks that begin at ``starts``:
    the initial weights of a seed do not depend on where the network is split."""
    bounds = [0, *starts, len(units)]
    return [nn.Sequential(*units[a:b]) for a, b in zip(bounds, bounds[1:])]


class Counted(nn.Module):
    """A module that counts its own training FLOPs for ``traced_train_flops``: matrix products that are not a
    Linear or Conv2d layer's (a transformer's attention, a head tied to an embedding; models/gpt.py)."""

    def train_flops(self, inputs: tuple, out: torch.Tensor) -> int:
        """FLOPs of this call's matrix products, forward plus the backward that autograd will run for them."""
        raise NotImplementedError


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

    Inputs arrive as the data holds them, flattened (N, D) or as images (N, C, H, W):
    ``input_shape`` is what the first block takes per sample, (D,) for an MLP, (C, H, W) for a
    convolutional network; the other form is a view of it, so nothing is copied.
    """

    def __init__(self, blocks: Iterable[nn.Sequential], input_shape: Sequence[int]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.input_shape = tuple(input_shape)
        self.trainable: frozenset[int] = frozenset(range(len(self.blocks)))
        self.tokens = False  # inputs are token indices (int64), not features: models/gpt.py
        self._flops: dict[frozenset, int] = {}  # train_flops_per_sample, traced once per trainable set

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != len(self.input_shape) + 1:  # a view: flattened images <-> (N, C, H, W)
            x = x.view(len(x), *self.input_shape)
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
        """FLOPs of one training sample (forward + backward) with only ``trainable`` blocks updated,
        traced once per set (``traced_train_flops``) and cached."""
        trainable = frozenset(trainable)
        if trainable not in self._flops:
            self._flops[trainable] = traced_train_flops(self, trainable)
        return self._flops[trainable]

    def example(self, n: int, device, dtype=torch.float32) -> torch.Tensor:
        """``n`` zero samples of the network's input: features of ``dtype``, or token indices."""
        return torch.zeros(n, *self.input_shape, device=device, dtype=torch.long if self.tokens else dtype)


def _layer_flops(m: nn.Module, out: torch.Tensor) -> int:
    """Forward FLOPs of a Linear or Conv2d layer: 2 multiply-adds per weight of an output's receptive field."""
    return 2 * out.numel() * m.weight[0].numel()


def traced_train_flops(model: BlockNet, trainable: Iterable[int]) -> int:
    """FLOPs of the matrix products and convolutions of one training sample, as torch's
    FlopCounterMode counts them (``measure_train_flops``; equal for every family and trainable
    set, tests/test_cnn.py), read from one forward pass of a single sample.

    Each Linear or Conv2d layer costs its forward, plus the same again for the gradient of its
    weight if the weight requires one, plus the same again for the gradient of its input if the
    input requires one: what autograd's backward of that layer computes, read from the very
    tensors the layer sees (the frozen prefix runs under no_grad, so its layers and the first
    layer after it need neither); a ``Counted`` module (attention, a tied head) counts itself. The pass runs in eval mode with ``trainable``'s requires_grad
    flags set for its duration only: no running statistic, gradient or random state is touched.
    (FlopCounterMode itself, or a pass on the meta device, would import torch._dynamo or sympy on
    first use: a second or more inside the first timed epoch of every process.)
    """
    trainable = frozenset(trainable)
    params = [(p, p.requires_grad) for p in model.parameters()]
    was_training, was_trainable = model.training, model.trainable
    total = 0

    def count(m: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, Counted):
            total += m.train_flops(inputs, out)
            return
        grads = torch.is_grad_enabled() and (inputs[0].requires_grad + m.weight.requires_grad)
        total += _layer_flops(m, out) * (1 + grads)

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d, Counted))]
    try:
        model.eval()
        model.trainable = trainable
        for i, block in enumerate(model.blocks):
            for p in block.parameters():
                p.requires_grad_(i in trainable)
        p0 = next(model.parameters())
        with torch.enable_grad():
            model(model.example(1, p0.device, p0.dtype))
    finally:
        for h in hooks:
            h.remove()
        for p, flag in params:
            p.requires_grad_(flag)
        model.trainable = was_trainable
        model.train(was_training)
    return total


def measure_train_flops(model: BlockNet, trainable: Iterable[int], batch: int = 2) -> int:
    """What torch's FlopCounterMode counts for one sample of a training step (forward, loss,
    backward) with only ``trainable`` blocks updated: the reference the FLOP models are checked
    against. On a meta copy, at a batch of 2 (BatchNorm needs two values per channel) divided by 2.
    """
    from torch.utils.flop_counter import FlopCounterMode  # its first use imports torch._dynamo (~1 s)

    shadow = copy.deepcopy(model).to("meta")
    shadow.set_trainable(trainable)
    shadow.train()
    x = model.example(batch, "meta")
    with FlopCounterMode(display=False) as counter:
        logits = shadow(x)  # (N, classes) or, for a sequence, (N, classes, positions)
        target = torch.zeros(batch, *logits.shape[2:], dtype=torch.long, device="meta")
        F.cross_entropy(logits, target).backward()
    return counter.get_total_flops() // batch


def conv_unit(c_in: int, c_out: int, batchnorm: bool, pool: bool = False, stride: int = 1) -> nn.Sequential:
    """3x3 convolution (no bias before a BatchNorm), [BatchNorm], ReLU, [2x2 max-pooling]."""
    parts: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not batchnorm)]
    if batchnorm:
        parts.append(nn.BatchNorm2d(c_out))
    parts.append(nn.ReLU(inplace=True))
    if pool:
        parts.append(nn.MaxPool2d(2))
    return nn.Sequential(*parts)


def head(channels: int, num_classes: int, dropout: float) -> nn.Sequential:
    """Global average pooling, [Dropout], the linear classifier: the last unit of a convolutional net."""
    parts: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if dropout > 0:
        parts.append(nn.Dropout(dropout))
    parts.append(nn.Linear(channels, num_classes))
    return nn.Sequential(*parts)


def image_shape(input_shape: Sequence[int], family: str) -> tuple[int, int, int]:
    """(C, H, W) for a convolutional family; refuses flat features."""
    from ..errors import ConfigError

    if len(input_shape) != 3:
        raise ConfigError(
            "model.name",
            family,
            f"needs images (C, H, W), but the data are {tuple(input_shape)} feature vectors; use model=mlp",
        )
    return tuple(input_shape)  # type: ignore[return-value]


def kaiming(units: Iterable[nn.Module]) -> None:
    """He et al.'s initialisation of every convolution (fan_out, as torchvision's VGG and ResNet), after
    all units are built: the same weights for a seed wherever the network is split."""
    for unit in units:
        for m in unit.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
