"""When do more torch threads pay for themselves? The training step of MLPs of growing width (digits-shaped
input, batch 128, SGD), timed at 1 thread and at every core this process may use, in alternating rounds of one
process (ratios, never absolute seconds). The smallest step (in training FLOPs, the project's own count) from
which every larger one runs at least ``GAIN`` faster on all cores is a threshold. ``--busy`` measures it again
beside a process spinning on one core (benchmarks/spinner.py) and the busy one is this machine's threshold (a
shared machine is the common case): ``machine.PARALLEL_STEP_FLOPS`` holds it (tests/test_benchmarks.py keeps the
two equal), and ``trainer.num_threads=auto`` gives a smaller step one thread.

    uv run python -m benchmarks.threads --busy [--json benchmarks/results/threads-<machine>-<date>.json] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from alternating_freeze.machine import available_cores, load_average
from alternating_freeze.models import ModelConfig, build_model

from . import write_results
from .spinner import busy

GAIN = 1.10  # all cores at least 10% faster than one thread: less is within a shared machine's noise
WIDTHS = (16, 32, 64, 128, 256, 384, 512, 768, 1024, 1536, 2048)
BATCH, FEATURES, CLASSES = 128, 64, 10  # digits


def step_seconds(width: int, threads: int, steps: int) -> tuple[float, int]:
    """Median seconds of one SGD training step of an MLP of ``width`` at ``threads``, and the step's FLOPs."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(ModelConfig(width=width), FEATURES, CLASSES)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(BATCH, FEATURES), torch.randint(0, CLASSES, (BATCH,))
    flops = model.train_flops_per_sample(range(model.n_blocks)) * BATCH
    times = []
    for i in range(steps + 3):  # three warm-up steps
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - t)
    return statistics.median(times), flops


def threshold(rows: list[dict]) -> int | None:
    """The smallest step FLOPs from which every measured step gains at least GAIN on all cores; None if none."""
    found = None
    for r in sorted(rows, key=lambda r: r["step_flops"], reverse=True):
        if r["speedup"] < GAIN:
            break
        found = r["step_flops"]
    return found


def measure(widths, cores: int, rounds: int, steps: int, busy_core: bool) -> list[dict]:
    """One row a width: the median over ``rounds`` of 1-thread / all-core step time, with a spinner beside it
    when ``busy_core`` (started once a width, so both thread counts of every round share it)."""
    rows = []
    for width in widths:
        one, many = [], []
        with busy(busy_core):
            for _ in range(rounds):  # alternating: a burst of other work costs both sides alike
                s1, flops = step_seconds(width, 1, steps)
                sn, _ = step_seconds(width, cores, steps)
                one.append(s1)
                many.append(sn)
        speedup = statistics.median(a / b for a, b in zip(one, many))
        rows.append({"width": width, "step_flops": flops, "speedup": speedup, "ms_1_thread": 1e3 * min(one)})
        print(
            f"{'busy' if busy_core else 'quiet'}  width {width:>5}  step {flops / 1e6:9.1f} MFLOP  "
            f"{cores} threads / 1: x{speedup:.2f}",
            flush=True,
        )
    return rows


def chosen(busy_threshold: int | None, largest: int) -> tuple[int, str]:
    """The threshold ``auto`` uses: the busy one, since a shared machine is the common case and a step below it
    loses on a busy machine (docs/performance.md#threads). Where no measured step gained beside the spinner,
    one FLOP past the largest measured: every step measured gets one thread, only larger ones all cores."""
    if busy_threshold is None:
        return largest + 1, "busy: no measured step gained, so one past the largest measured"
    return busy_threshold, "busy"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--rounds", type=int, default=5, help="alternating 1-thread / all-core rounds per width")
    p.add_argument("--steps", type=int, default=40, help="timed steps per round")
    p.add_argument("--busy", action="store_true", help="also measure beside a process spinning on one core")
    p.add_argument("--quick", action="store_true", help="a smoke run: three widths, one short round")
    args = p.parse_args(argv)
    cores, widths = available_cores(), WIDTHS
    if args.quick:
        widths, args.rounds, args.steps = (16, 256, 1024), 1, 3
    load_before = load_average()
    quiet = measure(widths, cores, args.rounds, args.steps, busy_core=False)
    out = {
        "benchmark": "threads",
        "what": f"training step (MLP, batch {BATCH}, {FEATURES} features): 1 thread / {cores} threads, median of "
        f"{args.rounds} alternating rounds of {args.steps} steps"
        + (", quiet and beside a spinning process" * args.busy),
        "gain": GAIN,
        "quiet": {"threshold_step_flops": threshold(quiet), "rows": quiet},
    }
    if args.busy:
        rows = measure(widths, cores, args.rounds, args.steps, busy_core=True)
        out["busy"] = {"threshold_step_flops": threshold(rows), "rows": rows}
        largest = max(r["step_flops"] for r in rows)
        out["threshold_step_flops"], out["threshold_from"] = chosen(threshold(rows), largest)
    else:
        out["threshold_step_flops"], out["threshold_from"] = threshold(quiet), "quiet"
    out["machine"] = {
        "cores": cores,
        "cpu": _cpu(),
        "torch": torch.__version__,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_avg_start": load_before,
        "load_avg_end": load_average(),
    }
    print(f"threshold ({out['threshold_from']}): {out['threshold_step_flops']} FLOPs a step")
    if args.json:
        write_results(args.json, out)
    return out


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
