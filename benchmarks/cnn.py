"""Benchmark of a convolutional network's training step against this machine's convolution floor.

    uv run python -m benchmarks.cnn [--model resnet20|cnn] [--json PATH] [--quick]
    uv run python -m benchmarks.cnn --device cuda --precision bf16      # on a GPU

A CNN epoch is arithmetic-bound: nearly all its FLOPs are convolutions. The floor is measured the
way ``benchmarks.floor`` measures the GEMM floor: every convolution (forward and backward) and
matrix product of one real training step is recorded with its arguments' sizes, strides and dtype
(a TorchDispatchMode sees each aten call) and replayed alone on fresh tensors, back to back. Each
trainable set (all blocks, first, second) gets its own recording. The step itself is ours: the
project's ``fit`` on random data of CIFAR-10's shape, as af-train runs it (channels_last weights,
the fused optimizer, no host synchronisation per batch), standard and alternating per epoch.

Reported: the conv floor's GFLOP/s; ``fraction_of_conv_floor`` (the floor's time for an epoch's
FLOPs over ours); ``channels_last_speedup`` (ours with NCHW weights over ours with channels_last,
epochs interleaved); the alternating epoch's time and FLOP ratios; and, from the measured step
and evaluation rates, the time of one epoch of the ``cifar_resnet`` preset (45000 training images,
15000 evaluated) and of the whole preset. Rounds interleave every contender (a shared VM drifts).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from alternating_freeze.data import Data
from alternating_freeze.loop import Progress, TrainerConfig, TrainState, autocast, fit
from alternating_freeze.models import ModelConfig, build_model
from alternating_freeze.optim import OptimizerConfig, build_optimizer
from alternating_freeze.strategies import Run, Unit
from alternating_freeze.strategies.alternating import Alternating
from alternating_freeze.strategies.standard import Standard

from . import write_results
from .conv_floor import Replay, record_step
from .loop import machine

PHASES = {"all": frozenset({0, 1}), "first": frozenset({0}), "second": frozenset({1})}
MODELS = {  # conf/model/resnet.yaml and conf/model/cnn.yaml
    "resnet20": (ModelConfig(name="resnet", depth=20, width=16, batchnorm=True), (3, 32, 32)),
    "cnn": (ModelConfig(name="cnn", depth=4, width=32, batchnorm=True), (1, 8, 8)),
}
PRESET = {"n_train": 45000, "n_eval": 15000, "epochs": 182, "seeds": 5}  # conf/recipe/he_resnet20.yaml


@dataclass
class Sizes:
    steps: int = 20  # optimizer steps per timed "epoch"
    batch_size: int = 128
    rounds: int = 5  # each contender advances one epoch per round; the first is warm-up
    n_eval: int = 1024


QUICK = Sizes(steps=2, batch_size=16, rounds=3, n_eval=32)


def random_images(n: int, shape: tuple, device, n_eval: int, seed: int = 0) -> Data:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n + n_eval, *shape, generator=g).flatten(1).to(device)
    y = torch.randint(0, 10, (n + n_eval,), generator=g).to(device)
    return Data(x[:n], y[:n], x[n:], y[n:], 10, "random", shape=shape)


class Ours:
    """The project's ``fit``, one epoch of ``steps`` steps per call, as af-train runs it."""

    def __init__(self, name, data, strategy, cfg: ModelConfig, s: Sizes, trainer: TrainerConfig, device):
        torch.manual_seed(0)
        self.name, self.data = name, data
        self.model = build_model(cfg, data.input_shape, 10).to(device)
        if trainer.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.strategy = strategy.bind(Run(self.model.n_blocks, s.steps, 10**6, 0))
        self.optimizer = build_optimizer(OptimizerConfig(name="sgd", lr=0.01, momentum=0.9), self.model.parameters())
        self.trainer, self.gen, self.state = trainer, torch.Generator().manual_seed(0), TrainState()

    def epoch(self) -> dict:
        flops = self.state.flops
        fit(
            model=self.model,
            data=self.data,
            strategy=self.strategy,
            optimizer=self.optimizer,
            trainer=replace(self.trainer, epochs=self.state.epoch + 1),
            gen=self.gen,
            state=self.state,
        )
        row = self.state.rows[-1]
        return {
            "train_s": row["epoch_s"],
            "eval_s": row["eval_s"],
            "trained": row["trained"],
            "flops": self.state.flops - flops,
        }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=sorted(MODELS), default="resnet20")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--steps", type=int, help="optimizer steps per timed epoch (default 20)")
    p.add_argument("--rounds", type=int, help="rounds of every contender, the first one warm-up (default 5)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16"), help="trainer.precision")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks that everything runs, numbers mean little")
    p.add_argument(
        "--full-epoch",
        action="store_true",
        help="only time one whole epoch of the cifar_resnet preset's "
        "size (45000 trained, 15000 evaluated), standard training",
    )
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"error: --device {args.device}: CUDA is not available on this machine", file=sys.stderr)
        sys.exit(2)
    s = replace(
        QUICK if args.quick else Sizes(), **{k: v for k in ("steps", "rounds") if (v := getattr(args, k)) is not None}
    )
    torch.set_num_threads(args.threads)
    cfg, shape = MODELS[args.model]
    if args.quick:
        cfg = replace(cfg, width=4)
    data = random_images(s.steps * s.batch_size, shape, device, s.n_eval)
    trainer = TrainerConfig(
        batch_size=s.batch_size,
        eval_batch_size=1024,
        device=str(device),
        checkpoint=False,
        progress=Progress.none,
        precision=args.precision,
    )
    host = machine(device)
    print(
        f"{host['cpu']}, {host['cores']} cores; torch {torch.__version__}, {args.threads} threads, {device}, "
        f"{args.precision}; {args.model} {shape}; {s}"
    )
    if args.full_epoch:
        return full_epoch(cfg, shape, trainer, device, args, host)

    # the floor: each phase's recorded ops, replayed alone
    probe = build_model(cfg, shape, 10).to(device).to(memory_format=torch.channels_last)
    x, y = data.x_train[: s.batch_size].view(s.batch_size, *shape), data.y_train[: s.batch_size]
    replays = {ph: Replay(record_step(probe, x, y, t, autocast(trainer, device)), device) for ph, t in PHASES.items()}
    per_sample = {ph: probe.train_flops_per_sample(t) for ph, t in PHASES.items()}
    for ph, r in replays.items():
        assert r.flops == per_sample[ph] * s.batch_size, f"{ph}: recorded {r.flops}, FLOP model {per_sample[ph]}"
        r.seconds(1)  # allocate and warm up

    contenders = [
        Ours("standard", data, Standard(), cfg, s, trainer, device),
        Ours("standard, NCHW weights", data, Standard(), cfg, s, replace(trainer, channels_last=False), device),
        Ours("alternating/epoch", data, Alternating(unit=Unit.epoch), cfg, s, trainer, device),
    ]
    epochs = {c.name: [] for c in contenders}
    floor = {ph: [] for ph in PHASES}
    print(f"{s.rounds} rounds, every contender one epoch of {s.steps} steps a round, the first round warm-up ...")
    for rnd in range(s.rounds):
        for c in contenders[rnd % len(contenders) :] + contenders[: rnd % len(contenders)]:
            r = c.epoch()
            if rnd:
                epochs[c.name].append(r)
        for ph, replay in replays.items():
            t = replay.seconds(max(1, s.steps // 4))
            if rnd:
                floor[ph].append(t)
        print(
            f"  round {rnd + 1}/{s.rounds}: standard {epochs['standard'][-1]['train_s'] if rnd else 0:.2f} s",
            flush=True,
        )
    step_floor = {ph: statistics.median(v) for ph, v in floor.items()}  # seconds per step
    med = {name: statistics.median(r["train_s"] for r in rows) for name, rows in epochs.items()}
    eval_per_sample = statistics.median(r["eval_s"] for r in epochs["standard"]) / s.n_eval
    std_step = med["standard"] / s.steps
    # ratios of epochs that ran in the same round, then their median: robust to the machine's drift
    std = [r["train_s"] for r in epochs["standard"]]
    within = lambda xs: statistics.median(x / y for x, y in zip(xs, std))  # noqa: E731
    alt_by_phase = {
        b: [a["train_s"] / t for a, t in zip(epochs["alternating/epoch"], std) if a["trained"] == b] for b in ("0", "1")
    }
    out = {
        "conv_floor_gflops": {ph: replays[ph].flops / t / 1e9 for ph, t in step_floor.items()},
        "ours_gflops": per_sample["all"] * s.batch_size / std_step / 1e9,
        "fraction_of_conv_floor": within([t * s.steps for t in floor["all"]]),
        "channels_last_speedup": within([r["train_s"] for r in epochs["standard, NCHW weights"]]),
        "alternating_time_ratio": statistics.mean(statistics.median(v) for v in alt_by_phase.values()),
        "alternating_flop_ratio": (per_sample["first"] + per_sample["second"]) / 2 / per_sample["all"],
        "step_ms": {name: v / s.steps * 1e3 for name, v in med.items()},
        "flops_per_sample": per_sample,
        "config": {
            "model": args.model,
            "shape": shape,
            "steps": s.steps,
            "batch_size": s.batch_size,
            "rounds": s.rounds,
            "threads": args.threads,
            "device": str(device),
            "precision": args.precision,
            "quick": args.quick,
        },
        "machine": host,
    }
    if args.model == "resnet20":  # the cifar_resnet preset, extrapolated from these rates
        steps = -(-PRESET["n_train"] // s.batch_size)
        epoch_s = steps * std_step + PRESET["n_eval"] * eval_per_sample
        run_s = {"standard": epoch_s, "alternating": epoch_s - steps * std_step * (1 - out["alternating_time_ratio"])}
        runs = {"standard": 1, "alternating": 4}  # per seed: alternating per epoch and per batch, keep and reset
        out["preset_estimate"] = {
            "epoch_s": epoch_s,
            "eval_s": PRESET["n_eval"] * eval_per_sample,
            "run_h": {k: v * PRESET["epochs"] / 3600 for k, v in run_s.items()},
            "preset_h": sum(runs[k] * v for k, v in run_s.items()) * PRESET["epochs"] * PRESET["seeds"] / 3600,
            **PRESET,
        }
    report(out)
    if args.json:
        write_results(args.json, out)
    return out


def full_epoch(cfg, shape, trainer, device, args, host) -> dict:
    """One epoch of the preset's size through ``fit``, the first of a fresh run (so its warm-up included)."""
    n_train, n_eval = (256, 64) if args.quick else (PRESET["n_train"], PRESET["n_eval"])
    s = Sizes(steps=-(-n_train // trainer.batch_size), n_eval=n_eval)
    data = random_images(n_train, shape, device, n_eval)
    r = Ours("standard", data, Standard(), cfg, s, replace(trainer, eval_batch_size=1000), device).epoch()
    out = {
        "full_epoch": {
            **PRESET,
            "train_s": r["train_s"],
            "eval_s": r["eval_s"],
            "steps": s.steps,
            "n_train": n_train,
            "n_eval": n_eval,
        },
        "config": {"model": args.model, "threads": args.threads, "device": str(device), "precision": args.precision},
        "machine": host,
    }
    e = out["full_epoch"]
    print(
        f"one epoch: {e['train_s']:.1f} s training ({e['steps']} steps, {e['train_s'] / e['steps'] * 1e3:.0f} ms"
        f" a step) + {e['eval_s']:.1f} s evaluating {n_eval} images; {PRESET['epochs']} epochs: "
        f"{(e['train_s'] + e['eval_s']) * PRESET['epochs'] / 3600:.2f} h a run of standard training"
    )
    if args.json:
        write_results(args.json, out)
    return out


def report(out: dict) -> None:
    c = out["config"]
    print(
        f"\nConvolution floor ({c['precision']}, {c['threads']} threads, {c['device']}): the step's recorded"
        " convolutions and matmuls replayed alone"
    )
    for ph, g in out["conv_floor_gflops"].items():
        print(
            f"  {ph + ' trains':16s} {g:7.1f} GFLOP/s   ({out['flops_per_sample'][ph] * c['batch_size'] / 1e9:.2f}"
            " GFLOP/step)"
        )
    print(f"\nOurs, median ms per step (batch {c['batch_size']}):")
    for name, ms in out["step_ms"].items():
        print(f"  {name:26s} {ms:8.1f}")
    print(f"\n  ours GFLOP/s                 {out['ours_gflops']:7.1f}")
    for k in ("fraction_of_conv_floor", "channels_last_speedup", "alternating_time_ratio", "alternating_flop_ratio"):
        print(f"  {k:28s} {out[k]:7.3f}")
    if "preset_estimate" in out:
        e = out["preset_estimate"]
        print(
            f"\ncifar_resnet preset, extrapolated from these rates: one epoch {e['epoch_s'] / 60:.1f} min "
            f"({e['n_train']} trained, {e['n_eval']} evaluated: {e['eval_s']:.0f} s); a run of {e['epochs']} epochs "
            f"{e['run_h']['standard']:.1f} h standard, {e['run_h']['alternating']:.1f} h alternating; the preset "
            f"(25 runs) {e['preset_h']:.0f} h on one such machine"
        )


if __name__ == "__main__":
    main()
