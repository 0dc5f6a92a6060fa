"""Convolutional networks: units and blocks, real freezing, FLOPs, images and augmentation, resume, the CLI."""
import itertools
import json
import math
import subprocess
import sys

import pytest
import torch
from hydra import compose, initialize_config_dir
from torch import nn

from alternating_freeze.config import validate
from alternating_freeze.contract import CHECKPOINT_FILE, TIMING_COLUMNS
from alternating_freeze.data import PAD, Data, DatasetConfig, load_dataset
from alternating_freeze.errors import ConfigError
from alternating_freeze.loop import TrainerConfig, TrainState, fit
from alternating_freeze.models import ModelConfig, build_model, measure_train_flops
from alternating_freeze.models.blocks import traced_train_flops
from alternating_freeze.models.resnet import BasicBlock
from alternating_freeze.optim import OptimizerConfig, build_optimizer
from alternating_freeze.strategies import Run
from alternating_freeze.strategies.alternating import Alternating
from alternating_freeze.strategies.progressive import Progressive
from alternating_freeze.train import build, epoch_writer, resume
from conftest import ROOT, af_train
from test_data import write_cifar
from test_freezing import Recorder, block_state, changed

DIGITS = (1, 8, 8)


def cnn(**kw):
    return ModelConfig(**{"name": "cnn", "depth": 4, "width": 4, "batchnorm": True, **kw})


def resnet(**kw):
    return ModelConfig(**{"name": "resnet", "depth": 8, "width": 4, "batchnorm": True, **kw})


def images(n=64, shape=DIGITS, classes=10, seed=0, augment="none"):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *shape, generator=g).flatten(1)
    y = torch.randint(0, classes, (n,), generator=g)
    return Data(x, y, x[:32], y[:32], classes, "random", shape=shape, augment=augment)


def units_of(model):
    """The units of every block, in order: (block index, unit)."""
    return [(b, u) for b, block in enumerate(model.blocks) for u in block]


def kind(unit):
    if isinstance(unit, BasicBlock):
        return "block"
    return "head" if any(isinstance(m, nn.Linear) for m in unit.modules()) else "conv"


# ------------------------------------------------------------------------- units, shapes, blocks

@pytest.mark.parametrize("cfg, shape, kinds", [
    (cnn(depth=1), DIGITS, ["conv", "head"]),
    (cnn(depth=4), DIGITS, ["conv"] * 4 + ["head"]),
    (cnn(depth=7, stages=4), DIGITS, ["conv"] * 7 + ["head"]),
    (cnn(depth=3, batchnorm=False), (3, 32, 32), ["conv"] * 3 + ["head"]),
    (resnet(depth=8), DIGITS, ["conv"] + ["block"] * 3 + ["head"]),
    (resnet(depth=14), (1, 28, 28), ["conv"] + ["block"] * 6 + ["head"]),
    (resnet(depth=20), (3, 32, 32), ["conv"] + ["block"] * 9 + ["head"]),
    (ModelConfig(depth=3, width=8), DIGITS, ["linear"] * 3),
])
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


@pytest.mark.parametrize("cfg, key", [
    (dict(name="resnet", depth=10), "model.depth"),
    (dict(name="resnet", depth=2), "model.depth"),
    (dict(name="resnet", depth=20, stages=3), "model.stages"),
    (dict(name="cnn", depth=0), "model.depth"),
    (dict(name="cnn", depth=3, stages=4), "model.stages"),
    (dict(name="mlp", stages=2), "model.stages"),
    (dict(name="cnn", depth=4, split=5), "model.split"),
    (dict(name="resnet", depth=8, splits=[2, 5]), "model.splits"),
    (dict(name="vgg"), "model.name"),
])
def test_a_network_the_family_cannot_build_is_one_line(cfg, key):
    with pytest.raises(ConfigError) as e:
        ModelConfig(**cfg)
    assert e.value.key == key and str(e.value).startswith(f"{key}=") and "\n" not in str(e.value)


@pytest.mark.parametrize("cfg, shape, key, allowed", [
    (cnn(depth=10, stages=5), DIGITS, "model.stages", "at most 4 stages"),
    (cnn(depth=10), DIGITS, "model.depth", "at most depth 8"),  # null stages: five of two layers
    (cnn(depth=14), (3, 32, 32), "model.depth", "at most depth 12"),
    (cnn(), (64,), "model.name", "use model=mlp"),
    (resnet(), (784,), "model.name", "use model=mlp"),
])
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


# --------------------------------------------------------------------------------- real freezing

def train(cfg, strategy, epochs=3, augment="none", precision="fp32"):
    torch.manual_seed(0)
    data = images(augment=augment)
    model = build_model(cfg, DIGITS, 10).to(memory_format=torch.channels_last)  # as train.build does
    strategy.bind(Run(model.n_blocks, 64 // 16, epochs, seed=0))
    rec = Recorder(strategy, model)
    state = TrainState()
    optimizer = build_optimizer(OptimizerConfig(name="adamw", weight_decay=0.1), model.parameters())
    fit(model=model, data=data, strategy=rec, optimizer=optimizer, gen=torch.Generator().manual_seed(0), state=state,
        trainer=TrainerConfig(epochs=epochs, batch_size=16, precision=precision))
    assert state.status == "completed" and state.step == epochs * 4
    rec.snaps.append([block_state(model, b) for b in range(model.n_blocks)])
    return model, rec, state


@pytest.mark.parametrize("cfg", [cnn(splits=[2]), cnn(splits=[1, 3, 4], dropout=0.2), resnet(splits=[1, 4]),
                                 resnet(splits=[2, 3, 4])], ids=["cnn2", "cnn4", "resnet3", "resnet4"])
@pytest.mark.parametrize("strategy", ["batch", "epoch", "progressive"])
def test_frozen_blocks_are_bit_identical_at_every_frozen_step(cfg, strategy):
    """Parameters and BatchNorm2d running statistics of a frozen block do not move, under the real loop,
    AdamW's decay, channels_last weights and augmented batches; trained blocks do."""
    make = {"batch": lambda: Alternating(), "epoch": lambda: Alternating(unit="epoch"),
            "progressive": lambda: Progressive(t_0=0.2)}[strategy]
    _, rec, _ = train(cfg, make(), epochs=cfg.n_blocks, augment="crop_flip")
    for step, trainable in enumerate(rec.sets):
        before, after = rec.snaps[step], rec.snaps[step + 1]
        for b in range(cfg.n_blocks):
            moved = changed(before[b], after[b])
            assert bool(moved) is (b in trainable), (step, b, moved)
    assert len(set(rec.sets)) > 1


@pytest.mark.parametrize("make", [cnn, resnet])
def test_frozen_batchnorm2d_statistics_move_only_when_asked(make):
    for freeze, moves in [(True, False), (False, True)]:
        _, rec, _ = train(make(), Alternating(unit="epoch", freeze_bn_stats=freeze), epochs=2)
        before, after = rec.snaps[0][1], rec.snaps[4][1]  # block 1 is frozen for the first epoch's 4 steps
        assert bool(changed(before, after)) is moves
        assert all("running" in k or "num_batches" in k for k in changed(before, after))


# ------------------------------------------------------------------------------------------ FLOPs

FLOP_CASES = [ModelConfig(depth=4, width=12, batchnorm=True, splits=[1, 2, 3]), cnn(depth=3, splits=[1, 2, 3]),
              cnn(depth=5, stages=3, batchnorm=False, splits=[2, 5]), resnet(splits=[2, 4]),
              resnet(depth=14, splits=[1, 4, 7])]


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
    convs = 2 * 32 * 32 * 9 * (3 * 16 + 6 * 16 * 16) + 2 * 16 * 16 * 9 * (16 * 32 + 5 * 32 * 32) \
        + 2 * 8 * 8 * 9 * (32 * 64 + 5 * 64 * 64)
    forward = convs + 2 * 64 * 10
    first = 2 * 32 * 32 * 9 * 3 * 16  # the stem needs no input gradient: its input is the data
    assert model.train_flops_per_sample({0, 1}) == 3 * forward - first == measure_train_flops(model, {0, 1})
    assert forward // 2 == 40_551_040


# ------------------------------------------------------------------------------- images, augmentation

def test_augmentation_is_crop_then_flip_as_torchvision():
    from torchvision.transforms.v2 import functional as TF

    data = images(n=6, shape=(3, 9, 7), augment="crop_flip")
    draws = data.draw_augmentation(torch.Generator().manual_seed(1))
    assert draws.shape == (6, 3) and 0 <= draws[:, :2].min() and draws[:, :2].max() <= 2 * PAD
    out = data.augment_batch(data.x_train, draws)
    for img, (dy, dx, flip), got in zip(data.x_train.view(6, 3, 9, 7), draws.tolist(), out):
        expect = TF.crop(TF.pad(img, [PAD]), dy, dx, 9, 7)
        assert torch.equal(got, TF.horizontal_flip(expect) if flip else expect)
    assert images().draw_augmentation(torch.Generator()) is None


@pytest.mark.parametrize("augment", ["none", "crop_flip"])
def test_cifar_files_through_the_convolutional_path(tmp_path, monkeypatch, augment):
    write_cifar(tmp_path, monkeypatch, per_batch=8, n_test=4)
    data = load_dataset(DatasetConfig(name="cifar10", root=str(tmp_path), test_fraction=None, val_fraction=0,
                                      augment=augment))
    assert data.input_shape == (3, 32, 32) and data.x_train.shape == (40, 3072) and data.augment == augment
    # image 0 has one 255 at channel 1, row 2, column 3: that pixel of the (C, H, W) view
    assert data.x_train.view(40, 3, 32, 32)[0, 1, 2, 3] == 1.0
    for cfg in (cnn(depth=2, stages=2), resnet()):
        torch.manual_seed(0)
        model = build_model(cfg, data.input_shape, 10).to(memory_format=torch.channels_last)
        strategy = Alternating().bind(Run(model.n_blocks, 5, 2, seed=0))
        state = TrainState()
        fit(model=model, data=data, strategy=strategy, optimizer=build_optimizer(OptimizerConfig(), model.parameters()),
            trainer=TrainerConfig(epochs=2, batch_size=8), gen=torch.Generator().manual_seed(0), state=state)
        assert state.status == "completed" and [r["trained"] for r in state.rows] == ["0+1", "0+1"]
        assert state.flops == 40 * (model.train_flops_per_sample({0}) + model.train_flops_per_sample({1}))


def test_augmentation_draws_only_when_on():
    """Off, the batch order is exactly what it was before augmentation existed; on, the batches differ."""
    losses = {}
    for augment in ("none", "crop_flip"):
        _, _, state = train(cnn(), Alternating(), epochs=2, augment=augment)
        losses[augment] = [r["train_loss"] for r in state.rows]
    assert losses["none"] != losses["crop_flip"]
    gen = torch.Generator().manual_seed(0)
    images(augment="crop_flip").draw_augmentation(gen)
    assert not torch.equal(gen.get_state(), torch.Generator().manual_seed(0).get_state())


def test_bf16_autocast_trains_in_bfloat16_with_float32_weights():
    rows = {}
    for precision in ("fp32", "bf16"):
        model, _, state = train(cnn(), Alternating(), epochs=2, precision=precision)
        rows[precision] = state.rows
        assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(r["train_loss"] == r["train_loss"] for r in rows["bf16"])  # finite, not NaN
    assert [r["train_loss"] for r in rows["bf16"]] != [r["train_loss"] for r in rows["fp32"]]  # autocast took effect
    assert [r["train_flops"] for r in rows["bf16"]] == [r["train_flops"] for r in rows["fp32"]]


# ----------------------------------------------------------------------------------- resume, CLI

def job_of(*overrides):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["trainer.num_threads=1", "trainer.progress=none", *overrides])
    return build(validate(cfg), None, cfg)


class Killed(Exception):
    pass


def test_resume_mid_run_ends_identical_to_an_uninterrupted_run(tmp_path):
    overrides = ["model=cnn", "model.width=8", "model.dropout=0.2", "dataset.augment=crop_flip", "trainer.epochs=4",
                 "trainer.batch_size=256", "strategy=alternating", "strategy.every=3"]
    threads = torch.get_num_threads()
    try:
        whole = job_of(*overrides)
        full = TrainState()
        fit(model=whole.model, data=whole.data, strategy=whole.strategy, optimizer=whole.optimizer,
            trainer=whole.run.trainer, gen=whole.gen, state=full)

        first = job_of(*overrides)
        write = epoch_writer(tmp_path, first, None)

        def kill_after_two(state):
            write(state)  # the checkpoint of this epoch, as af-train writes it
            if state.epoch == 2:
                raise Killed

        with pytest.raises(Killed):
            fit(model=first.model, data=first.data, strategy=first.strategy, optimizer=first.optimizer,
                trainer=first.run.trainer, gen=first.gen, state=TrainState(), on_epoch=kill_after_two)
        torch.manual_seed(123)  # a fresh process would not share the killed one's random state
        again = job_of(*overrides)
        state = resume(tmp_path / CHECKPOINT_FILE, again)
        assert state.epoch == 2
        fit(model=again.model, data=again.data, strategy=again.strategy, optimizer=again.optimizer,
            trainer=again.run.trainer, gen=again.gen, state=state)
    finally:
        torch.set_num_threads(threads)
    strip = lambda rows: [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in rows]  # noqa: E731
    assert strip(state.rows) == strip(full.rows) and len(state.rows) == 4
    for (name, a), b in zip(whole.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_bad_values_before_training():
    for overrides, key in [(["trainer.precision=fp16"], "trainer.precision"),
                           (["dataset.augment=mixup"], "dataset.augment"),
                           (["model=resnet", "model.depth=12"], "model.depth"),
                           (["model=cnn", "model.split=5"], "model.split")]:
        with pytest.raises(ConfigError) as e:
            job_of(*overrides)
        assert e.value.key == key, overrides


@pytest.mark.parametrize("overrides, n_blocks", [(["model=cnn", "strategy=alternating_batch"], 2),
                                                 (["model=resnet", "model.depth=8", "model.splits=[1,4]"], 3)])
def test_af_train_trains_convolutional_networks_on_digits(tmp_path, cli_env, overrides, n_blocks):
    proc = subprocess.run(af_train(f"hydra.run.dir={tmp_path}", "trainer.progress=log", "trainer.epochs=2",
                                   *overrides), cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 2
    assert summary["resolved"]["n_blocks"] == n_blocks and summary["train_flops"] > 0


def test_a_cnn_too_deep_for_digits_is_one_line_before_training(tmp_path, cli_env):
    proc = subprocess.run(af_train(f"hydra.run.dir={tmp_path}", "model=cnn", "model.depth=10", "model.stages=5"),
                          cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=300)
    out = proc.stderr + proc.stdout
    assert proc.returncode == 2 and "Traceback" not in out
    assert "model.stages=5: 4 2x2 poolings need images of at least 16x16; these are 8x8: at most 4 stages" in out
    assert not (tmp_path / "metrics.csv").exists()


def test_cnn_benchmark_reports_its_numbers(tmp_path):
    out = tmp_path / "cnn.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.cnn", "--quick", "--threads", "1", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())
    for key in ("ours_gflops", "fraction_of_conv_floor", "channels_last_speedup", "alternating_time_ratio"):
        assert math.isfinite(res[key]) and res[key] > 0, key
    assert res["alternating_flop_ratio"] == pytest.approx(0.75, abs=0.01)  # resnet: (0.82 + 0.68) / 2
    assert res["preset_estimate"]["preset_h"] > 0
    if not torch.cuda.is_available():
        proc = subprocess.run([sys.executable, "-m", "benchmarks.cnn", "--device", "cuda"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
            "error: --device cuda: CUDA is not available on this machine"]
