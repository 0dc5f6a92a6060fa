"""Training convolutional networks: real freezing, images and augmentation, bf16, resume, the CLI and the
benchmark (the networks themselves and their FLOPs: test_cnn.py)."""

import json
import math
import subprocess
import sys

import pytest
import torch
from helpers import DIGITS, ROOT, Recorder, af_train, block_state, changed, cnn, resnet, write_cifar
from hydra import compose, initialize_config_dir

from alternating_freeze.config import validate
from alternating_freeze.contract import CHECKPOINT_FILE, TIMING_COLUMNS
from alternating_freeze.data import PAD, Data, DatasetConfig, load_dataset
from alternating_freeze.epoch import TrainState
from alternating_freeze.errors import ConfigError
from alternating_freeze.loop import TrainerConfig, fit
from alternating_freeze.models import build_model
from alternating_freeze.optim import OptimizerConfig, build_optimizer
from alternating_freeze.strategies import Run
from alternating_freeze.strategies.alternating import Alternating
from alternating_freeze.strategies.progressive import Progressive
from alternating_freeze.train import build, epoch_writer, resume


def images(n=64, shape=DIGITS, classes=10, seed=0, augment="none"):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *shape, generator=g).flatten(1)
    y = torch.randint(0, classes, (n,), generator=g)
    return Data(x, y, x[:32], y[:32], classes, "random", shape=shape, augment=augment)


# --------------------------------------------------------------------------------- real freezing


def train(cfg, strategy, epochs=3, augment="none", precision="fp32"):
    torch.manual_seed(0)
    data = images(augment=augment)
    model = build_model(cfg, DIGITS, 10).to(memory_format=torch.channels_last)  # as train.build does
    strategy.bind(Run(model.n_blocks, 64 // 16, epochs, seed=0))
    rec = Recorder(strategy, model)
    state = TrainState()
    optimizer = build_optimizer(OptimizerConfig(name="adamw", weight_decay=0.1), model.parameters())
    fit(
        model=model,
        data=data,
        strategy=rec,
        optimizer=optimizer,
        gen=torch.Generator().manual_seed(0),
        state=state,
        trainer=TrainerConfig(epochs=epochs, batch_size=16, precision=precision),
    )
    assert state.status == "completed" and state.step == epochs * 4
    rec.snaps.append([block_state(model, b) for b in range(model.n_blocks)])
    return model, rec, state


@pytest.mark.parametrize(
    "cfg",
    [cnn(splits=[2]), cnn(splits=[1, 3, 4], dropout=0.2), resnet(splits=[1, 4]), resnet(splits=[2, 3, 4])],
    ids=["cnn2", "cnn4", "resnet3", "resnet4"],
)
@pytest.mark.parametrize("strategy", ["batch", "epoch", "progressive"])
def test_frozen_blocks_are_bit_identical_at_every_frozen_step(cfg, strategy):
    """Parameters and BatchNorm2d running statistics of a frozen block do not move, under the real loop,
    AdamW's decay, channels_last weights and augmented batches; trained blocks do."""
    make = {
        "batch": lambda: Alternating(),
        "epoch": lambda: Alternating(unit="epoch"),
        "progressive": lambda: Progressive(t_0=0.2),
    }[strategy]
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


# ------------------------------------------------------------------------------- images, augmentation


def test_augmentation_is_crop_then_flip_as_torchvision():
    from torchvision.transforms.v2 import functional as TF

    data = images(n=6, shape=(3, 9, 7), augment="crop_flip")
    draws = data.draw_augmentation(torch.Generator().manual_seed(1))
    assert draws.shape == (6, 3) and draws[:, :2].min() >= 0 and draws[:, :2].max() <= 2 * PAD
    out = data.augment_batch(data.x_train, draws)
    for img, (dy, dx, flip), got in zip(data.x_train.view(6, 3, 9, 7), draws.tolist(), out):
        expect = TF.crop(TF.pad(img, [PAD]), dy, dx, 9, 7)
        assert torch.equal(got, TF.horizontal_flip(expect) if flip else expect)
    assert images().draw_augmentation(torch.Generator()) is None


@pytest.mark.parametrize("augment", ["none", "crop_flip"])
def test_cifar_files_through_the_convolutional_path(tmp_path, monkeypatch, augment):
    write_cifar(tmp_path, monkeypatch, per_batch=8, n_test=4)
    data = load_dataset(
        DatasetConfig(name="cifar10", root=str(tmp_path), test_fraction=None, val_fraction=0, augment=augment)
    )
    assert data.input_shape == (3, 32, 32) and data.x_train.shape == (40, 3072) and data.augment == augment
    # image 0 has one 255 at channel 1, row 2, column 3: that pixel of the (C, H, W) view
    assert data.x_train.view(40, 3, 32, 32)[0, 1, 2, 3] == 1.0
    for cfg in (cnn(depth=2, stages=2), resnet()):
        torch.manual_seed(0)
        model = build_model(cfg, data.input_shape, 10).to(memory_format=torch.channels_last)
        strategy = Alternating().bind(Run(model.n_blocks, 5, 2, seed=0))
        state = TrainState()
        fit(
            model=model,
            data=data,
            strategy=strategy,
            optimizer=build_optimizer(OptimizerConfig(), model.parameters()),
            trainer=TrainerConfig(epochs=2, batch_size=8),
            gen=torch.Generator().manual_seed(0),
            state=state,
        )
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


def test_resume_mid_run_ends_identical_to_an_uninterrupted_run(tmp_path, monkeypatch):
    """Crops, flips and dropout resume exactly: on CIFAR-shaped images (tiny files in the dataset's own format),
    since digits' 8x8 images are too small for 4-pixel-padded crops."""
    (tmp_path / "data").mkdir()
    write_cifar(tmp_path / "data", monkeypatch)
    overrides = [
        "dataset=cifar10",
        f"dataset.root={tmp_path / 'data'}",
        "model=cnn",
        "model.width=8",
        "model.dropout=0.2",
        "dataset.augment=crop_flip",
        "trainer.epochs=4",
        "trainer.batch_size=256",
        "strategy=alternating",
        "strategy.every=3",
    ]
    threads = torch.get_num_threads()
    try:
        whole = job_of(*overrides)
        full = TrainState()
        fit(
            model=whole.model,
            data=whole.data,
            strategy=whole.strategy,
            optimizer=whole.optimizer,
            trainer=whole.run.trainer,
            gen=whole.gen,
            state=full,
        )

        first = job_of(*overrides)
        write = epoch_writer(tmp_path, first, None)

        def kill_after_two(state):
            write(state)  # the checkpoint of this epoch, as af-train writes it
            if state.epoch == 2:
                raise Killed

        with pytest.raises(Killed):
            fit(
                model=first.model,
                data=first.data,
                strategy=first.strategy,
                optimizer=first.optimizer,
                trainer=first.run.trainer,
                gen=first.gen,
                state=TrainState(),
                on_epoch=kill_after_two,
            )
        torch.manual_seed(123)  # a fresh process would not share the killed one's random state
        again = job_of(*overrides)
        state = resume(tmp_path / CHECKPOINT_FILE, again)
        assert state.epoch == 2
        fit(
            model=again.model,
            data=again.data,
            strategy=again.strategy,
            optimizer=again.optimizer,
            trainer=again.run.trainer,
            gen=again.gen,
            state=state,
        )
    finally:
        torch.set_num_threads(threads)
    strip = lambda rows: [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in rows]  # noqa: E731
    assert strip(state.rows) == strip(full.rows) and len(state.rows) == 4
    for (name, a), b in zip(whole.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_bad_values_before_training():
    for overrides, key in [
        (["trainer.precision=fp16"], "trainer.precision"),
        (["dataset.augment=mixup"], "dataset.augment"),
        (["model=resnet", "model.depth=12"], "model.depth"),
        (["model=cnn", "model.split=5"], "model.split"),
    ]:
        with pytest.raises(ConfigError) as e:
            job_of(*overrides)
        assert e.value.key == key, overrides


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides, n_blocks",
    [(["model=cnn", "strategy=alternating_batch"], 2), (["model=resnet", "model.depth=8", "model.splits=[1,4]"], 3)],
)
def test_af_train_trains_convolutional_networks_on_digits(tmp_path, cli_env, overrides, n_blocks):
    proc = subprocess.run(
        af_train(f"hydra.run.dir={tmp_path}", "trainer.progress=log", "trainer.epochs=2", *overrides),
        cwd=ROOT,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 2
    assert summary["resolved"]["n_blocks"] == n_blocks and summary["train_flops"] > 0


@pytest.mark.slow
def test_a_cnn_too_deep_for_digits_is_one_line_before_training(tmp_path, cli_env):
    proc = subprocess.run(
        af_train(f"hydra.run.dir={tmp_path}", "model=cnn", "model.depth=10", "model.stages=5"),
        cwd=ROOT,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stderr + proc.stdout
    assert proc.returncode == 2 and "Traceback" not in out
    assert "model.stages=5: 4 2x2 poolings need images of at least 16x16; these are 8x8: at most 4 stages" in out
    assert not (tmp_path / "metrics.csv").exists()


@pytest.mark.slow
def test_cnn_benchmark_reports_its_numbers(tmp_path):
    out = tmp_path / "cnn.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.cnn", "--quick", "--threads", "1", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())
    for key in ("ours_gflops", "fraction_of_conv_floor", "channels_last_speedup", "alternating_time_ratio"):
        assert math.isfinite(res[key]) and res[key] > 0, key
    assert res["alternating_flop_ratio"] == pytest.approx(0.75, abs=0.01)  # resnet: (0.82 + 0.68) / 2
    assert res["preset_estimate"]["preset_h"] > 0
    if not torch.cuda.is_available():
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.cnn", "--device", "cuda"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
            "error: --device cuda: CUDA is not available on this machine"
        ]
