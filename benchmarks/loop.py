"""Benchmark of the training loop against this machine's floor and the original experiment (issue #5).

    uv run python -m benchmarks.loop [--json PATH] [--epochs 20] [--repeats 3] [--threads 2] [--quick]
    uv run python -m benchmarks.loop --profile     # where a step of ours goes (torch.profiler)

Contenders, on the same data (random, MNIST's shape: 8000 x 784 train, 2000 test, 10 classes),
network (784-256-256-256-10, halves [fc1 fc2] [fc3 fc4]), batch 128 and Adam (lr 1e-3):

  ours      ``alternating_freeze.loop.fit`` with the project's model and optimizer, as af-train
            runs it: standard, alternating per epoch, alternating per batch
  seed      the original notebook's loop (benchmarks.seed_loop): standard, alternating per epoch
  floor     the matmuls one training step issues, replayed alone (benchmarks.floor); the same
            replay times the GEMM rate of the step's own shapes, next to a 2048^3 product

On a shared 2-core VM speed drifts by tens of percent within seconds, so nothing is timed in
blocks: each round advances every contender by one epoch (and times the floor once), in a shuffled
order (``benchmarks.round_order``), and every ratio compares medians of epochs that ran interleaved.
Warm-up: the first epoch of every repeat (a fresh model and optimizer: Adam's state and first-touch
allocations) runs but is not counted, nor is the first round of the floor.

Only training is timed. For ours that is ``epoch_s`` from fit's rows: fit's own clock around the
epoch's batches, evaluation excluded (it runs right after, on its own clock, reported as eval).
The seed loop is timed over the same span. fit's ``on_epoch`` (metrics and checkpoint files in a
real run) is a no-op here; those writes are part of the sweep overhead measured by entrypoint.py.

The contenders live in loop_contenders.py, the targets and the printed report in loop_report.py.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import torch

from alternating_freeze.data import Data
from alternating_freeze.models import build_model
from alternating_freeze.strategies import Unit
from alternating_freeze.strategies.alternating import Alternating
from alternating_freeze.strategies.standard import Standard

from . import entrypoint, round_order, write_results
from .floor import per_shape_rates, record_step
from .loop_contenders import QUICK, Floor, Ours, Seed, Sizes, batched_seeds, manual_step, model_config, random_data
from .loop_report import MNIST_JOB_EPOCHS, print_report, targets

PHASES = {"all": frozenset({0, 1}), "first": frozenset({0}), "second": frozenset({1})}  # blocks training


def flop_models(data: Data, s: Sizes, device) -> tuple[dict, dict, dict]:
    """Per phase: recorded matmuls of one step at the full batch, FlopCounterMode's count of that step,
    and the project's FLOP model per sample."""
    model = build_model(model_config(s), data.input_dim, data.num_classes).to(device)
    x, y = data.x_train[: s.batch_size], data.y_train[: s.batch_size]
    steps, counted, per_sample = {}, {}, {}
    for phase, trainable in PHASES.items():
        steps[phase], counted[phase] = record_step(model, x, y, trainable)
        per_sample[phase] = model.train_flops_per_sample(trainable)
    return steps, counted, per_sample


def run_rounds(contenders: list, floor: Floor, s: Sizes, make_contenders) -> tuple[dict, list]:
    """``repeats`` fresh sets of contenders, ``epochs`` rounds each; returns counted epochs and floor rounds."""
    epochs = {c.name: [] for c in contenders}
    floor_rounds = []
    for rep in range(s.repeats):
        if rep > 0:
            contenders = make_contenders()
        for e in range(s.epochs):
            for c in round_order(contenders + [floor], rep * s.epochs + e):
                if c is floor:
                    r = floor.round()
                    if rep + e > 0:
                        floor_rounds.append(r)
                    continue
                r = c.epoch()
                if e > 0:  # warm-up: the first epoch of every repeat
                    epochs[c.name].append(r)
        print(f"  repeat {rep + 1}/{s.repeats} done", flush=True)
    return epochs, floor_rounds


def summarize(rows: list[dict]) -> dict:
    """Median train/eval seconds per epoch; a contender that alternates per epoch gets one median per
    phase and their mean (the two phases cost differently, so a pooled median would pick one of them)."""
    by_phase = {}
    for r in rows:
        by_phase.setdefault(r["phase"], []).append(r)
    phase_median = {p: statistics.median(r["train_s"] for r in by_phase[p]) for p in sorted(by_phase)}
    if set(phase_median) == {"first", "second"}:  # alternating per epoch: both phases weigh the same
        train_s = statistics.mean(phase_median.values())
        flops = statistics.mean(statistics.mean(r["flops"] for r in v) for v in by_phase.values())
    else:
        train_s = statistics.median(r["train_s"] for r in rows)
        flops = statistics.mean(r["flops"] for r in rows)
    return {
        "train_s": train_s,
        "eval_s": statistics.median(r["eval_s"] for r in rows),
        "flops": flops,
        "phases": phase_median,
        "epochs_counted": len(rows),
        "seeds": rows[0].get("seeds", 1),
    }


def machine(device: torch.device) -> dict:
    """What the numbers were measured on: two 2-core VMs of different CPUs give different ratios
    (README, Performance), so every result file names its machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = next(
        (
            line.strip()
            for line in torch.__config__.parallel_info().splitlines()
            if "Math Kernel Library" in line or "BLAS" in line
        ),
        "",
    )
    info = {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch": torch.__version__,
        "blas": blas,
        "python": platform.python_version(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def profile_ours(s: Sizes, device, row_limit: int = 18) -> None:
    """Where a step of ours goes: torch.profiler over 3 epochs of standard training (after a warm-up
    epoch). The test set is cut to one sample so that evaluation, which fit runs after every epoch,
    does not show up."""
    from torch.profiler import ProfilerActivity, profile

    full = random_data(s, device)
    ours = Ours("ours standard", replace(full, x_test=full.x_test[:1], y_test=full.y_test[:1]), Standard(), s, device)
    ours.epoch()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        train_s = sum(ours.epoch()["train_s"] for _ in range(3))
    steps = 3 * math.ceil(s.n_train / s.batch_size)
    ka = {e.key: e for e in prof.key_averages()}
    self_ms = lambda *keys: sum(ka[k].self_cpu_time_total for k in keys if k in ka) / 1e3 / steps  # noqa: E731
    print(
        f"\nProfile of ours standard, {steps} steps. Per step (profiler overhead included): wall"
        f" {train_s * 1e3 / steps:.2f} ms;\n  matmuls (aten::mm + aten::addmm) {self_ms('aten::mm', 'aten::addmm'):.2f} ms;"
        f" optimizer step (aten::_fused_adam_) {self_ms('aten::_fused_adam_'):.2f} ms; batch gather (aten::index)"
        f" {self_ms('aten::index'):.2f} ms"
    )
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=row_limit, max_name_column_width=50))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--epochs", type=int, help="epochs per repeat (default 20; quick 3)")
    p.add_argument("--repeats", type=int, help="fresh runs of every contender (default 3; quick 1)")
    p.add_argument("--batch-size", type=int, help="training batch size (default 128, the issue's)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks that everything runs, numbers mean little")
    p.add_argument("--no-cli", action="store_true", help="skip the start-up and sweep measurements (subprocesses)")
    p.add_argument("--no-what-if", action="store_true", help="skip the what-if contenders (benchmarks.whatif)")
    p.add_argument("--profile", action="store_true", help="only profile ours (torch.profiler) and exit")
    args = p.parse_args(argv)

    s = replace(
        QUICK if args.quick else Sizes(),
        **{k: v for k in ("epochs", "repeats", "batch_size") if (v := getattr(args, k)) is not None},
    )
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error(f"--device {args.device}: CUDA is not available on this machine")
    if args.profile:
        profile_ours(s, device)
        return {}
    data = random_data(s, device)
    steps, counted, per_sample = flop_models(data, s, device)
    for phase in PHASES:
        assert counted[phase] == per_sample[phase] * s.batch_size == sum(c.flops for c in steps[phase]), (
            f"{phase}: FlopCounterMode {counted[phase]}, FLOP model {per_sample[phase] * s.batch_size}"
        )

    def make_contenders():
        return [
            Ours("ours standard", data, Standard(), s, device),
            Ours("ours alternating/epoch", data, Alternating(unit=Unit.epoch), s, device),
            Ours("ours alternating/batch", data, Alternating(unit=Unit.batch), s, device),
            Seed("seed standard", data, False, s, device, per_sample),
            Seed("seed alternating/epoch", data, True, s, device, per_sample),
        ] + (
            []
            if args.no_what_if
            else [manual_step(data, s, device, per_sample["all"]), batched_seeds(data, s, device, per_sample["all"])]
        )

    host = machine(device)
    print(f"{host['cpu']}, {host['cores']} cores; torch {torch.__version__}, {args.threads} threads, {device}; {s}")
    print("GEMM rate of each matmul of a training step, alone ...")
    shapes = per_shape_rates(
        steps["all"] + steps["second"], device, repeats=3 if args.quick else 5, budget_flops=2e7 if args.quick else 5e8
    )
    floor = Floor(steps, device, args.quick)
    print(f"training: {s.repeats} repeat(s) x {s.epochs} epochs, every contender one epoch per round ...")
    rows, floor_rounds = run_rounds(make_contenders(), floor, s, make_contenders)
    res = {name: summarize(r) for name, r in rows.items()}

    # the floor: seconds per FLOP of each phase's own matmul mix, times an epoch's FLOPs
    step_s = {ph: statistics.median(r[ph] for r in floor_rounds) for ph in PHASES}
    step_flops = {ph: per_sample[ph] * s.batch_size for ph in PHASES}
    floor_epoch = {ph: step_s[ph] / step_flops[ph] * per_sample[ph] * s.n_train for ph in PHASES}
    gemm_n = round((floor.gemm.flops / 2) ** (1 / 3))  # the floor's square GEMM (512 in a --quick run)
    gemm_2048 = floor.gemm.flops / statistics.median(r["gemm"] for r in floor_rounds) / 1e9
    mix_gflops = {ph: step_flops[ph] / step_s[ph] / 1e9 for ph in PHASES}

    def floor_of(name):  # the floor of one epoch of every seed the contender trains
        phases = res[name]["phases"]
        one = (
            statistics.mean(floor_epoch[ph] for ph in ("first", "second"))
            if "all" not in phases
            else floor_epoch["all"]
        )
        return res[name]["seeds"] * one

    std, alt, alt_b = res["ours standard"], res["ours alternating/epoch"], res["ours alternating/batch"]
    seed_std, seed_alt = res["seed standard"], res["seed alternating/epoch"]
    flop_ratio = (per_sample["first"] + per_sample["second"]) / 2 / per_sample["all"]
    out = {
        "gemm_gflops": mix_gflops["all"],
        "gemm_gflops_2048": gemm_2048,
        "fraction_of_peak": floor_epoch["all"] / std["train_s"],
        "fraction_of_peak_2048": per_sample["all"] * s.n_train / (gemm_2048 * 1e9) / std["train_s"],
        "speedup_vs_seed_loop": seed_std["train_s"] / std["train_s"],
        "speedup_vs_seed_loop_alternating": seed_alt["train_s"] / alt["train_s"],
        "alternating_time_ratio": alt["train_s"] / std["train_s"],
        "alternating_flop_ratio": flop_ratio,
        "alternating_floor_ratio": floor_of("ours alternating/epoch") / floor_epoch["all"],
        "alternating_batch_time_ratio": alt_b["train_s"] / std["train_s"],
        "alternating_batch_flop_ratio": alt_b["flops"] / std["flops"],
        "seed_alternating_time_ratio": seed_alt["train_s"] / seed_std["train_s"],
        "flops_per_step": {ph: {"flop_counter": counted[ph], "flop_model": step_flops[ph]} for ph in PHASES},
        "gemm_gflops_per_phase": mix_gflops,
        "gemm_shapes": shapes,
        "floor_epoch_s": floor_epoch,
        "contenders": {
            name: {
                **r,
                "floor_s": floor_of(name),
                "fraction_of_floor": floor_of(name) / r["train_s"],
                "gflops": r["flops"] / r["train_s"] / 1e9,
            }
            for name, r in res.items()
        },
        "config": {
            **asdict(s),
            "threads": args.threads,
            "device": str(device),
            "quick": args.quick,
            "depth": 4,
            "split": 2,
            "torch": torch.__version__,
            "gemm_n": gemm_n,
        },
        "machine": host,
    }
    batched = next((r for name, r in res.items() if r["seeds"] > 1), None)
    if batched is not None:  # K seeds in one step against K separate runs of ours, seconds per epoch
        out["seed_batching_speedup"] = batched["seeds"] * std["train_s"] / batched["train_s"]

    if not args.no_cli:
        print("start-up and sweep: child processes of the real entrypoint ...")
        with tempfile.TemporaryDirectory(prefix="af-bench-") as tmp:
            tmp = Path(tmp)
            out["startup"] = entrypoint.time_startup(tmp, repeats=1 if args.quick else 5, warmup=0 if args.quick else 1)
            out["startup_ratio"] = out["startup"]["startup_ratio"]
            if not args.quick:
                out["import_profile"] = entrypoint.import_profile(tmp)
            out["sweep"] = entrypoint.time_sweep(
                tmp,
                jobs=2 if args.quick else 4,
                epochs=1 if args.quick else MNIST_JOB_EPOCHS,
                repeats=1 if args.quick else 3,
                overrides=("model=mlp_notebook",),
            )
        mnist_job_s = MNIST_JOB_EPOCHS * (std["train_s"] + std["eval_s"])
        out["sweep"]["mnist_job_s"] = mnist_job_s
        out["sweep_overhead"] = out["sweep"]["per_job_overhead_s"] / mnist_job_s
        out["sweep_overhead_amortised"] = out["sweep"]["amortised_overhead_s"] / mnist_job_s

    out["targets"] = targets(out)
    print_report(out)
    if args.json:
        write_results(args.json, out)
    return out


if __name__ == "__main__":
    main()
