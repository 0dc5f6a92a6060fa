"""Benchmark of ``trainer.compile`` (issue 26): eager against compiled steps, fp32 against bf16, per strategy.

    uv run python -m benchmarks.compiled [--models mlp,cnn] [--precisions fp32,bf16] [--json PATH]
    uv run python -m benchmarks.compiled --device cuda --models mlp,resnet20      # on a GPU (cudagraphs)
    uv run python -m benchmarks.compiled --models '' --group 8                      # a batched group's step only

For each model and precision, four contenders train through the project's ``fit`` on random data (the
shapes of ``benchmarks.cnn``; the MLP is 784-256-256-256-10 on MNIST's shape): standard and alternating per
epoch, each eager (``trainer.compile=none``) and compiled (``--compile``: default on a CPU, cudagraphs on
CUDA). Every contender first trains two epochs untimed (the compiled ones compile each trainable set there:
``warmup_s``), then one epoch a round, in a shuffled order (``benchmarks.round_order``). Reported, all as ratios within this process (a
shared machine drifts): ``compiled_speedup`` (eager step time over compiled, per strategy, medians of epochs
of the same round), ``alternating_time_ratio`` (alternating per epoch over standard, per mode) against the
``alternating_flop_ratio``, and step times in ms.

``--group K`` (0: none) also times a batched group's step (batched/fit.py) of K MLPs, half standard and half
alternating per epoch (two graphs), eager against compiled: the group's epochs alternate, two untimed first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from alternating_freeze.loop import Progress, TrainerConfig
from alternating_freeze.models import ModelConfig
from alternating_freeze.strategies import Unit
from alternating_freeze.strategies.alternating import Alternating
from alternating_freeze.strategies.standard import Standard

from . import round_order, write_results
from .cnn import MODELS as CNN_MODELS
from .cnn import Ours, Sizes, random_images
from .loop import machine

MODELS = {"mlp": (ModelConfig(name="mlp", depth=4, width=256), (784,)), **CNN_MODELS}
STRATEGIES = {"standard": Standard, "alternating/epoch": lambda: Alternating(unit=Unit.epoch)}
WARMUP_EPOCHS = 2  # alternating per epoch trains both of its sets in two epochs: both compiled before timing


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 runs natively (CUDA's bf16 support, a CPU with AVX512-BF16); else it is emulated and slow."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    return bool(probe and probe())


def trainer_for(s: Sizes, device: torch.device, precision: str, compile: str = "auto") -> TrainerConfig:
    """The trainer of a benchmark's ``fit``: as af-train's, without files or progress."""
    return TrainerConfig(
        batch_size=s.batch_size,
        eval_batch_size=1024,
        device=str(device),
        checkpoint=False,
        progress=Progress.none,
        precision=precision,
        compile=compile,
    )


def measure(model: str, precision: str, mode: str, s: Sizes, device: torch.device) -> dict:
    """Eager and ``mode`` compiled, standard and alternating per epoch, of one model at one precision."""
    cfg, shape = MODELS[model]
    data = random_images(s.steps * s.batch_size, shape, device, s.n_eval)
    trainer = trainer_for(s, device, precision)
    contenders = [
        Ours((name, c), data, strategy(), cfg, s, replace(trainer, compile=c), device)
        for name, strategy in STRATEGIES.items()
        for c in ("none", mode)
    ]
    warmup = {}
    for c in contenders:
        t0 = time.perf_counter()
        for _ in range(WARMUP_EPOCHS):
            c.epoch()
        warmup[c.name] = time.perf_counter() - t0
    epochs = {c.name: [] for c in contenders}
    for rnd in range(s.rounds):
        for c in round_order(contenders, rnd):
            epochs[c.name].append(c.epoch())

    def ratio(a, b, phase=None):  # median of a's epoch time over b's of the same round (one phase of a's)
        pairs = [(x, y) for x, y in zip(epochs[a], epochs[b]) if phase is None or x["trained"] == phase]
        return statistics.median(x["train_s"] / y["train_s"] for x, y in pairs) if pairs else float("nan")

    def alternating(c):  # mean over its two phases: each phase runs every other round
        phases = sorted({r["trained"] for r in epochs[("alternating/epoch", c)]})
        return statistics.mean(ratio(("alternating/epoch", c), ("standard", c), ph) for ph in phases)

    std, alt = epochs[("standard", "none")], epochs[("alternating/epoch", "none")]
    flops = statistics.mean(a["flops"] / b["flops"] for a, b in zip(alt[:2], std[:2]))
    return {
        "step_ms": {
            f"{name} {c}": statistics.median(r["train_s"] for r in rows) / s.steps * 1e3
            for (name, c), rows in epochs.items()
        },
        "compiled_speedup": {name: ratio((name, "none"), (name, mode)) for name in STRATEGIES},
        "alternating_time_ratio": {c: alternating(c) for c in ("none", mode)},
        "alternating_flop_ratio": flops,
        "warmup_s": {f"{name} {c}": t for (name, c), t in warmup.items()},
    }


def measure_group(k: int, mode: str, s: Sizes, device: torch.device) -> dict:
    """A batched group's training step of ``k`` MLPs (``MODELS['mlp']``), eager against ``mode`` compiled."""
    from omegaconf import OmegaConf

    from alternating_freeze import train
    from alternating_freeze.batched.fit import Group, Member
    from alternating_freeze.config import RunConfig
    from alternating_freeze.epoch import TrainState

    cfg, shape = MODELS["mlp"]
    data = random_images(s.steps * s.batch_size, shape, device, s.n_eval)
    epochs = WARMUP_EPOCHS + s.rounds
    groups = {}
    for c in ("none", mode):
        members = []
        for i in range(k):
            strategy = Standard() if i % 2 == 0 else Alternating(unit=Unit.epoch)
            trainer = replace(trainer_for(s, device, "fp32", c), epochs=epochs, num_threads=torch.get_num_threads())
            run = RunConfig(seed=i, model=cfg, strategy=strategy, trainer=trainer)
            job = train.build(run, None, OmegaConf.structured(run), data=data)
            rng = torch.Generator(device=device)
            rng.manual_seed(i)
            members.append(Member(job, TrainState(), rng, torch.get_rng_state()))
        groups[c] = Group(members)
    warmup, epoch_s = {}, {c: [] for c in groups}
    for c, g in groups.items():
        t0 = time.perf_counter()
        for _ in range(WARMUP_EPOCHS):
            g.epoch()
        warmup[c] = time.perf_counter() - t0
    for rnd in range(s.rounds):
        for c in list(groups)[rnd % 2 :] + list(groups)[: rnd % 2]:
            groups[c].epoch()
            epoch_s[c].append(groups[c].members[0].state.rows[-1]["epoch_s"])
    return {
        "members": k,
        "step_ms": {c: statistics.median(t) / s.steps * 1e3 for c, t in epoch_s.items()},
        "compiled_speedup": statistics.median(a / b for a, b in zip(epoch_s["none"], epoch_s[mode])),
        "graphs": len(groups[mode].graphs.graphs) if groups[mode].graphs is not None else 0,
        "warmup_s": warmup,
    }


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="mlp,cnn", help=f"comma-separated, of {', '.join(MODELS)}")
    p.add_argument("--precisions", default="fp32,bf16", help="comma-separated; bf16 only where it runs natively")
    p.add_argument("--compile", choices=("default", "cudagraphs"), help="the compiled mode (default: auto's on CUDA)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--steps", type=int, default=10, help="optimizer steps per timed epoch")
    p.add_argument("--rounds", type=int, default=4, help="timed rounds (after the untimed warm-up epochs)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    p.add_argument("--group", type=int, default=0, help="members of a batched group to time too (0: none)")
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.precisions = args.precisions.split(",")
    for m in args.models:
        if m not in MODELS:
            p.error(f"--models: {m!r} is not one of {', '.join(MODELS)}")
    for pr in args.precisions:
        if pr not in ("fp32", "bf16"):
            p.error(f"--precisions: {pr!r} is not fp32 or bf16")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device}: CUDA is not available on this machine")
    if args.compile == "cudagraphs" and not args.device.startswith("cuda"):
        p.error("--compile cudagraphs needs --device cuda")
    args.compile = args.compile or ("cudagraphs" if args.device.startswith("cuda") else "default")
    return args


def main(argv=None) -> dict:
    args = parse(argv)
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    s = Sizes(steps=args.steps, batch_size=args.batch_size, rounds=args.rounds, n_eval=128)
    host = machine(device)
    print(f"{host['cpu']}, {host['cores']} cores; torch {torch.__version__}, {args.threads} threads, {device}; {s}")
    out = {"results": {}, "skipped": [], "config": {**vars(args), "json": None}, "machine": host}
    for model in args.models:
        for precision in args.precisions:
            if precision == "bf16" and not bf16_supported(device):
                out["skipped"].append(f"{model} bf16: not native on this {device.type}")
                continue
            t0 = time.perf_counter()
            r = measure(model, precision, args.compile, s, device)
            out["results"].setdefault(model, {})[precision] = r
            print(f"\n{model}, {precision} ({time.perf_counter() - t0:.0f} s with compiling):")
            for name, ms in r["step_ms"].items():
                print(f"  {name:30s} {ms:8.2f} ms a step")
            print(f"  compiled_speedup          {r['compiled_speedup']}")
            print(
                f"  alternating_time_ratio    {r['alternating_time_ratio']} (FLOPs {r['alternating_flop_ratio']:.3f})"
            )
    if args.group:
        t0 = time.perf_counter()
        r = out["results"]["group"] = measure_group(args.group, args.compile, s, device)
        print(f"\nbatched group of {args.group} MLPs, fp32 ({time.perf_counter() - t0:.0f} s with compiling):")
        print(f"  step_ms {r['step_ms']}, compiled_speedup {r['compiled_speedup']:.3f}, {r['graphs']} graphs")
    for note in out["skipped"]:
        print(f"skipped: {note}", file=sys.stderr)
    if args.json:
        write_results(args.json, out)
    return out


if __name__ == "__main__":
    main()
