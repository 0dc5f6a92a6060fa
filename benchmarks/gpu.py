"""Every GPU benchmark in one command (issue 26), under 5 minutes on an H100/H200, into one JSON naming the machine.

    uv run python -m benchmarks.gpu [--json PATH] [--budget-s 270] [--only cnn_bf16,compiled,...]

Sections, in order of what the issue's targets need (each one's wall seconds recorded; one that fails is
recorded with its error and the rest still run; one that would start after ``--budget-s`` is skipped):

  cnn_fp32, cnn_bf16  benchmarks.cnn: ResNet-20 at batch 128 (trainer.compile=auto: cudagraphs) against the
                      convolution floor; alternating per epoch's time and FLOP ratios
  compiled            benchmarks.compiled: eager against cudagraphs, fp32 against bf16, MLP and ResNet-20
  loop                benchmarks.loop: the MLP against the GEMM floor (no subprocesses, no what-ifs)
  sweep               benchmarks.sweep: the ``frequency`` sweep, basic against batched launcher, jobs eager
                      (``trainer.compile=none``: the group's step is not compiled, and compiling each of 50
                      short jobs would time the compiler)

Targets (``targets`` in the JSON): the ResNet-20 step at least 0.7 of the convolution floor, bf16 no slower
than fp32, alternating's time ratio within 1.10x of its FLOP ratio. For each missed target, ``profiles``
holds torch.profiler's top ops (by device time) of the step concerned: where the remaining time goes.
Without CUDA it exits at once with one line.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from datetime import date
from pathlib import Path

from .loop_report import FLOP_SLACK

SECTIONS = ("cnn_bf16", "cnn_fp32", "compiled", "loop", "sweep")
FLOOR_FRACTION = 0.7  # of the convolution floor, ResNet-20 at batch 128
RESULTS = Path(__file__).parent / "results"


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", type=Path, help="where to write (default: benchmarks/results/gpu-<gpu>-<date>.json)")
    p.add_argument("--budget-s", type=float, default=270.0, help="start no section after this many seconds")
    p.add_argument("--only", help=f"comma-separated sections, of {', '.join(SECTIONS)} (default: all)")
    p.add_argument("--steps", type=int, default=20, help="steps per timed epoch of the CNN benchmarks")
    args = p.parse_args(argv)
    args.only = SECTIONS if args.only is None else tuple(args.only.split(","))
    for s in args.only:
        if s not in SECTIONS:
            p.error(f"--only: {s!r} is not one of {', '.join(SECTIONS)}")
    return args


def commands(args) -> dict:
    """Each section's benchmark and its arguments."""
    from . import cnn, compiled, loop, sweep

    cnn_args = ["--model", "resnet20", "--device", "cuda", "--steps", str(args.steps), "--rounds", "4"]
    return {
        "cnn_bf16": (cnn.main, [*cnn_args, "--precision", "bf16"]),
        "cnn_fp32": (cnn.main, [*cnn_args, "--precision", "fp32"]),
        "compiled": (compiled.main, ["--device", "cuda", "--models", "mlp,resnet20", "--steps", str(args.steps)]),
        "loop": (loop.main, ["--device", "cuda", "--no-cli", "--no-what-if", "--repeats", "1", "--epochs", "5"]),
        "sweep": (sweep.main, ["--device", "cuda", "--repeats", "1", "--set", "trainer.compile=none"]),
    }


def targets(results: dict) -> dict:
    """The issue's GPU targets, each with its value, the target and whether it is met (None: not measured)."""
    out = {}
    for precision in ("fp32", "bf16"):
        r = results.get(f"cnn_{precision}", {})
        if "fraction_of_conv_floor" in r:
            out[f"resnet20_{precision}_floor_fraction"] = {
                "value": r["fraction_of_conv_floor"],
                "target": f">= {FLOOR_FRACTION}",
                "met": r["fraction_of_conv_floor"] >= FLOOR_FRACTION,
                "step_ms": r["step_ms"]["standard"],
            }
        if "alternating_time_ratio" in r:
            limit = FLOP_SLACK * r["alternating_flop_ratio"]
            out[f"resnet20_{precision}_alternating_ratio"] = {
                "value": r["alternating_time_ratio"],
                "target": f"<= {FLOP_SLACK} x {r['alternating_flop_ratio']:.3f} = {limit:.3f}",
                "met": r["alternating_time_ratio"] <= limit,
            }
    steps = {p: results.get(f"cnn_{p}", {}).get("step_ms", {}).get("standard") for p in ("fp32", "bf16")}
    if None not in steps.values():
        out["resnet20_bf16_not_slower"] = {
            "value": steps["bf16"] / steps["fp32"],
            "target": "bf16 step / fp32 step <= 1",
            "met": steps["bf16"] <= steps["fp32"],
        }
    return out


def profile(precision: str, alternating: bool, steps: int = 10, rows: int = 15) -> list[dict]:
    """torch.profiler's top ops by device time of ResNet-20 epochs as the benchmark runs them (after warm-up)."""
    import torch

    from alternating_freeze.strategies import Unit
    from alternating_freeze.strategies.alternating import Alternating
    from alternating_freeze.strategies.standard import Standard

    from .cnn import MODELS, Ours, Sizes, random_images
    from .compiled import trainer_for

    device = torch.device("cuda")
    s = Sizes(steps=steps)
    cfg, shape = MODELS["resnet20"]
    data = random_images(s.steps * s.batch_size, shape, device, 256)
    strategy = Alternating(unit=Unit.epoch) if alternating else Standard()
    ours = Ours("profiled", data, strategy, cfg, s, trainer_for(s, device, precision), device)
    for _ in range(2):  # compiles (each set of alternating's) and warms up
        ours.epoch()
    activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(2):
            ours.epoch()
    device_ms = lambda e: getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0)) / 1e3  # noqa: E731
    events = sorted(prof.key_averages(), key=device_ms, reverse=True)[:rows]
    return [
        {"op": e.key, "self_device_ms": device_ms(e), "self_cpu_ms": e.self_cpu_time_total / 1e3, "calls": e.count}
        for e in events
    ]


PROFILED = {  # a missed target -> the step to profile: (precision, alternating)
    "resnet20_fp32_floor_fraction": ("fp32", False),
    "resnet20_bf16_floor_fraction": ("bf16", False),
    "resnet20_bf16_not_slower": ("bf16", False),
    "resnet20_fp32_alternating_ratio": ("fp32", True),
    "resnet20_bf16_alternating_ratio": ("bf16", True),
}


def main(argv=None) -> dict:
    args = parse(argv)
    import torch

    if not torch.cuda.is_available():
        print(
            "error: benchmarks.gpu needs a CUDA GPU, and torch sees none here; on a CPU run the benchmarks "
            "one by one (docs/performance.md)",
            file=sys.stderr,
        )
        sys.exit(2)
    from . import write_results
    from .loop import machine

    t0, host = time.perf_counter(), machine(torch.device("cuda"))
    out = {"machine": host, "date": date.today().isoformat(), "results": {}, "seconds": {}, "skipped": [], "errors": {}}
    for name, (run, argv_) in commands(args).items():
        if name not in args.only:
            continue
        if time.perf_counter() - t0 > args.budget_s:
            out["skipped"].append(f"{name}: the budget of {args.budget_s:.0f} s was spent")
            continue
        print(f"\n==== {name}: {' '.join(argv_)}", flush=True)
        start = time.perf_counter()
        try:
            out["results"][name] = run(argv_)
        except Exception as e:  # noqa: BLE001 - one failed benchmark must not lose the others' numbers
            out["errors"][name] = f"{type(e).__name__}: {e}"
            traceback.print_exc()
        out["seconds"][name] = time.perf_counter() - start
    out["targets"] = targets(out["results"])
    out["profiles"] = {}
    for name, t in out["targets"].items():
        if not t["met"] and name in PROFILED:
            try:
                out["profiles"][name] = profile(*PROFILED[name])
            except Exception as e:  # noqa: BLE001
                out["profiles"][name] = f"{type(e).__name__}: {e}"
    out["total_s"] = time.perf_counter() - t0
    print(f"\n{out['total_s']:.0f} s in all; targets:")
    for name, t in out["targets"].items():
        print(f"  {name:36s} {t['value']:.3f}  ({t['target']}): {'met' if t['met'] else 'MISSED, profiled'}")
    gpu = host.get("gpu", "gpu").replace(" ", "-").lower()
    write_results(args.json or RESULTS / f"gpu-{gpu}-{out['date']}.json", out)
    return out


if __name__ == "__main__":
    main()
