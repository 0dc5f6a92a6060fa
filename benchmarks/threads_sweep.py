"""Does the default thread count fit (issue #25.2)? A preset swept by the basic launcher under
``trainer.num_threads=auto`` (the default), ``1`` and every core (torch's own default, the old one), each on
its own and beside a process spinning on one core (benchmarks/spinner.py), in interleaved rounds of one process
(every arm once a round, in the same order: a shared machine's background load drifts, and interleaving puts
every arm in the same periods). Reported: the median wall clock of each arm's sweeps, child processes' start-up
included, and its ratio to one thread in the same case (per round and the median of those).

    uv run python -m benchmarks.threads_sweep [--json benchmarks/results/threads_sweep-<machine>-<date>.json]
        [--preset frequency] [--epochs 5] [--seeds 2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from alternating_freeze.machine import AUTO, available_cores, load_average

from . import write_results
from .spinner import busy
from .sweep import run_command
from .sweep import sweep_command as shared_command

ROOT = Path(__file__).resolve().parents[1]
CASES = ("quiet", "busy")  # busy: beside one process spinning on a core


def arms(cores: int) -> dict[str, str]:
    """Arm name -> trainer.num_threads: the default, one thread, and every core (the default before auto)."""
    return {"auto": AUTO, "1": "1", f"all ({cores})": str(cores)}


def sweep_command(folder: Path, preset: str, epochs: int, seeds: int, threads: str) -> list[str]:
    """One arm's sweep: the basic launcher, quiet output (benchmarks.sweep builds the command)."""
    return shared_command(
        folder, preset, epochs, threads=threads, overrides=[f"seed=range({seeds})", "trainer.progress=none"]
    )


def run_sweep(cmd: list[str]) -> float:
    """Wall-clock seconds of one sweep in a child process; RuntimeError with its output's tail when it fails."""
    return run_command(cmd, tail=2000)[0]


def measure(args, run=run_sweep) -> dict:
    """Every arm in every case once a round; ``run`` times one sweep's command (a stand-in in the tests)."""
    threads = arms(available_cores())
    walls = {case: {arm: [] for arm in threads} for case in CASES}
    order, loads = [], []
    with tempfile.TemporaryDirectory(prefix="af-bench-threads-") as tmp:
        for rnd in range(args.rounds):
            for case in CASES:
                with busy(case == "busy"):
                    for arm, n in threads.items():
                        folder = Path(tmp) / f"{rnd}-{case}-{n}"
                        wall = run(sweep_command(folder, args.preset, args.epochs, args.seeds, n))
                        walls[case][arm].append(wall)
                        order.append(f"{case} {arm}")
                        loads.append(load_average())
                        print(f"  round {rnd + 1}/{args.rounds}  {case:5s}  threads {arm:8s} {wall:7.1f} s", flush=True)
    return {"walls_s": walls, "order": order, "load_avg_1min_after_each": loads}


def ratios(walls: dict) -> dict:
    """Each arm's time over one thread's in the same case: the median of the per-round ratios, and those."""
    out = {}
    for case, by_arm in walls.items():
        one = by_arm["1"]
        out[case] = {
            arm: {
                "median_s": statistics.median(times),
                "ratio_to_1_thread": statistics.median(t / o for t, o in zip(times, one)),
                "round_ratios": [t / o for t, o in zip(times, one)],
            }
            for arm, times in by_arm.items()
        }
    return out


def main(argv=None, run=run_sweep) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--preset", default="frequency")
    p.add_argument("--epochs", type=int, default=5, help="trainer.epochs of every job (the preset's: 20)")
    p.add_argument("--seeds", type=int, default=2, help="seeds per arm, seed=range(N) (the preset's: 5)")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds: every arm in every case once a round")
    args = p.parse_args(argv)
    for name in ("epochs", "seeds", "rounds"):
        if getattr(args, name) < 1:
            p.error(f"--{name} {getattr(args, name)}: at least 1")
    import torch

    from .loop import machine

    out = {
        "benchmark": "threads_sweep",
        "what": f"af-train -m experiment={args.preset} trainer.epochs={args.epochs} seed=range({args.seeds}), basic "
        f"launcher, analysis off; wall clock of the whole sweep, {args.rounds} interleaved round(s)",
        "preset": args.preset,
        "epochs": args.epochs,
        "seeds": args.seeds,
        "rounds": args.rounds,
        "machine": {**machine(torch.device("cpu")), "load_avg_start": load_average()},
    }
    print(f"{out['what']} ...", flush=True)
    out.update(measure(args, run))
    out["machine"]["load_avg_end"] = load_average()
    out["arms"] = ratios(out["walls_s"])
    for case, by_arm in out["arms"].items():
        print(
            f"{case:5s}: "
            + ", ".join(f"{arm} {r['median_s']:.1f} s (x{r['ratio_to_1_thread']:.2f})" for arm, r in by_arm.items())
        )
    if args.json:
        write_results(args.json, out)
    return out


if __name__ == "__main__":
    main()
