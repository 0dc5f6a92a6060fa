"""Convolutional networks as models: units and blocks at every split, the families' shapes and checks, and
FLOPs equal to torch's counter for every trainable set (training with them: test_cnn_training.py)."""

import itertools

import pytest
import torch
from helpers import DIGITS, cnn, resnet
from torch import nn

from alternating_freeze.errors import ConfigError
from alternating_freeze.models import ModelConfig, build_model, measure_train_flops
from alternating_freeze.models.blocks import traced_train_flops
from alternating_freeze.models.resnet import BasicBlock


def units_of(model):
    """The units of every block, in order: (block index, unit)."""
    return [(b, u) for b, block in enumerate(model.blocks) for u in block]


def kind(unit):
    if isinstance(unit, BasicBlock):
        return "block"
    return "head" if any(isinstance(m, nn.Linear) for m in unit.modules()) else "conv"


# ------------------------------------------------------------------------- units, shapes, blocks


@pytest.mark.parametrize(
    "cfg, shape, kinds",
    [
        (cnn(depth=1), DIGITS, ["conv", "head"]),
        (cnn(depth=4), DIGITS, ["conv"] * 4 + ["head"]),
        (cnn(depth=7, stages=4), DIGITS, ["conv"] * 7 + ["head"]),
        (cnn(depth=3, batchnorm=False), (3, 32, 32), ["conv"] * 3 + ["head"]),
        (resnet(depth=8), DIGITS, ["conv"] + ["block"] * 3 + ["head"]),
        (resnet(depth=14), (1, 28, 28), ["conv"] + ["block"] * 6 + ["head"]),
        (resnet(depth=20), (3, 32, 32), ["conv"] + ["block"] * 9 + ["head"]),
        (ModelConfig(depth=3, width=8), DIGITS, ["linear"] * 3),
    ],
)
def test_every_split_groups_the_same_units_in_order(cfg, shape, kinds):
    """`split` is the index of the first unit of the second block, for every family, at every boundary."""
    assert cfg.units == len(kinds)
    for split in range(1, cfg.units):
        model = build_model(ModelConfig(**{**vars(cfg), "split": split}), shape, 10)
        units = units_of(model)
        assert [b for b, _ in units] == [0] * split + [1] * (cfg.units - split)
        if cfg.name != "mlp":
            assert [kind(u) for _, u in units] == kinds
    x = torch.rand(2, *shape)
    assert model(x).shape == (2, 10) and model(x.flatten(1)).shape == (2, 10)  # images or flattened
    for bad in (0, cfg.units):
        with pytest.raises(ConfigError) as e:
            ModelConfig(**{**vars(cfg), "split": bad})
        assert e.value.key == "model.split"
    every = build_model(ModelConfig(**{**vars(cfg), "splits": list(range(1, cfg.units))}), shape, 10)
    assert [len(block) for block in every.blocks] == [1] * cfg.units  # one unit a block


def test_cnn_stages_pool_and_double_the_channels():
    model = build_model(cnn(depth=5, width=8, stages=3), (1, 28, 28), 10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 8), (8, 16), (16, 16), (16, 32), (32, 32)]
    pools = [i for i, (_, u) in enumerate(units_of(model)) if any(isinstance(m, nn.MaxPool2d) for m in u.modules())]
    assert pools == [0, 2]  # stages of 1, 2, 2 layers (the remainder goes to the later ones): a pooling ends 0 and 1
    assert cnn().n_stages == 2 and cnn(depth=5).n_stages == 3  # null: two conv layers a stage
    x = torch.rand(2, 1, 28, 28)
    assert model.blocks[0](x).shape == (2, 16, 7, 7)  # default split (5 + 1) // 2 = 3: [conv pool] [conv conv pool]


def test_resnet_is_he_et_al_cifar_network():
    model = build_model(ModelConfig(name="resnet", depth=20, width=16, batchnorm=True), (3, 32, 32), 10)
    assert sum(p.numel() for p in model.parameters()) == 269_722  # the paper's 0.27M (option B: 272,474)
    assert sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules()) == 20
    blocks = [u for _, u in units_of(model) if isinstance(u, BasicBlock)]
    assert [b.stride for b in blocks] == [1, 1, 1, 2, 1, 1, 2, 1, 1]  # stages begin at units 1, 4 and 7
    assert [b.conv2.out_channels for b in blocks] == [16] * 3 + [32] * 3 + [64] * 3
    x = torch.zeros(1, 16, 32, 32)
    x[0, 3, 0, 0] = 1.0
    shortcut = blocks[3].shortcut(x)  # option A: subsample by 2, zero channels appended, no parameters
    assert shortcut.shape == (1, 32, 16, 16) and shortcut[0, 3, 0, 0] == 1 and shortcut.sum() == 1


@pytest.mark.parametrize(
    "cfg, key",
    [
        (dict(name="resnet", depth=10), "model.depth"),
        (dict(name="resnet", depth=2), "model.depth"),
        (dict(name="resnet", depth=20, stages=3), "model.stages"),
        (dict(name="cnn", depth=0), "model.depth"),
        (dict(name="cnn", depth=3, stages=4), "model.stages"),
        (dict(name="mlp", stages=2), "model.stages"),
        (dict(name="cnn", depth=4, split=5), "model.split"),
        (dict(name="resnet", depth=8, splits=[2, 5]), "model.splits"),
        (dict(name="vgg"), "model.name"),
    ],
)
def test_a_network_the_family_cannot_build_is_one_line(cfg, key):
    with pytest.raises(ConfigError) as e:
        ModelConfig(**cfg)
    assert e.value.key == key and str(e.value).startswith(f"{key}=") and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "cfg, shape, key, allowed",
    [
        (cnn(depth=10, stages=5), DIGITS, "model.stages", "at most 4 stages"),
        (cnn(depth=10), DIGITS, "model.depth", "at most depth 8"),  # null stages: five of two layers
        (cnn(depth=14), (3, 32, 32), "model.depth", "at most depth 12"),
        (cnn(), (64,), "model.name", "use model=mlp"),
        (resnet(), (784,), "model.name", "use model=mlp"),
    ],
)
def test_a_network_the_images_cannot_fit_is_refused(cfg, shape, key, allowed):
    with pytest.raises(ConfigError) as e:
        build_model(cfg, shape, 10)
    assert e.value.key == key and allowed in str(e.value)
    build_model(cnn(depth=8), DIGITS, 10)  # four stages: 8 -> 4 -> 2 -> 1 still fits
    build_model(cnn(depth=10, stages=5), (1, 28, 28), 10)  # 28 -> 14 -> 7 -> 3 -> 1


@pytest.mark.parametrize("make", [cnn, resnet])
def test_initial_weights_do_not_depend_on_the_split(make):
    nets = []
    for splits in ([1], [2, 3], [1, 2, 3, 4]):
        torch.manual_seed(3)
        nets.append(torch.cat([p.flatten() for p in build_model(make(splits=splits), DIGITS, 10).parameters()]))
    assert torch.equal(nets[0], nets[1]) and torch.equal(nets[0], nets[2])


# ------------------------------------------------------------------------------------------ FLOPs

FLOP_CASES = [
    ModelConfig(depth=4, width=12, batchnorm=True, splits=[1, 2, 3]),
    cnn(depth=3, splits=[1, 2, 3]),
    cnn(depth=5, stages=3, batchnorm=False, splits=[2, 5]),
    resnet(splits=[2, 4]),
    resnet(depth=14, splits=[1, 4, 7]),
]


@pytest.mark.parametrize("cfg", FLOP_CASES, ids=lambda c: f"{c.name}{c.depth}")
def test_flops_equal_torch_counter_for_every_trainable_set(cfg):
    model = build_model(cfg, DIGITS, 10)
    for k in range(1, cfg.n_blocks + 1):
        for trainable in itertools.combinations(range(cfg.n_blocks), k):
            counted = measure_train_flops(model, trainable)
            assert traced_train_flops(model, trainable) == counted, trainable
            assert model.train_flops_per_sample(trainable) == counted, trainable  # the MLP's closed form too
    assert model.trainable == frozenset(range(cfg.n_blocks))  # tracing leaves the model as it was
    assert all(p.requires_grad for p in model.parameters()) and model.training


def test_resnet20_flops_by_hand():
    """Forward: 40.6M multiply-adds (the figure usually quoted for resnet20), twice for FLOPs."""
    model = build_model(ModelConfig(name="resnet", depth=20, width=16, batchnorm=True), (3, 32, 32), 10)
    convs = (
        2 * 32 * 32 * 9 * (3 * 16 + 6 * 16 * 16)
        + 2 * 16 * 16 * 9 * (16 * 32 + 5 * 32 * 32)
        + 2 * 8 * 8 * 9 * (32 * 64 + 5 * 64 * 64)
    )
    forward = convs + 2 * 64 * 10
    first = 2 * 32 * 32 * 9 * 3 * 16  # the stem needs no input gradient: its input is the data
    assert model.train_flops_per_sample({0, 1}) == 3 * forward - first == measure_train_flops(model, {0, 1})
    assert forward // 2 == 40_551_040
