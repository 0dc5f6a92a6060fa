"""Benchmark of batched runs (issue 9): a preset swept by the basic launcher and by hydra/launcher=batched.

    uv run python -m benchmarks.sweep [--json PATH] [--epochs 5] [--repeats 2] [--device cuda]
    uv run python -m benchmarks.sweep --curve --no-sweeps   # speedup of one group epoch against group size
    uv run python -m benchmarks.sweep --step --no-sweeps    # a batched step: ours against torch.func.vmap

Sweeps: the real ``af-train -m experiment=<preset>`` in child processes, basic and batched alternately
(basic, batched, basic, batched, each in a fresh sweep folder: a shared machine drifts, and
alternating puts both launchers in the same periods), the analysis callback off (it is the same for
both). ``sweep_speedup`` is the median whole-sweep wall clock of the basic launcher over the
batched one's, processes' start-up included. Every batched member's results are compared with the
same job under the basic launcher (the first basic sweep): the largest differences are reported.
The batched launcher logs where its time went (composing, folders and callbacks, training and
results); the per-job cost of a full Hydra composition is measured in this process.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import write_results
from .loop import machine
from .sweep_in_process import curve, step_comparison

ROOT = Path(__file__).resolve().parents[1]
BREAKDOWN = re.compile(
    r"batched launch of (\d+) jobs: composing ([\d.]+)s \((\d+) in full\), folders and callbacks "
    r"([\d.]+)s, training and results ([\d.]+)s, job ends ([\d.]+)s"
)
TARGETS = {"cpu": 5.0, "cuda": 20.0}


def sweep_command(
    folder: Path, preset: str, epochs: int, device=None, batched: bool = False, threads=None, overrides=()
) -> list[str]:
    """The af-train command of one preset's sweep into ``folder``, analysis off (device, threads: unset if None)."""
    cmd = [sys.executable, "-m", "alternating_freeze.train", "-m", f"experiment={preset}", f"trainer.epochs={epochs}"]
    cmd += [f"trainer.device={device}"] if device else []
    cmd += ["hydra.callbacks.analyze.enabled=false", f"hydra.sweep.dir={folder}"]
    cmd += [f"trainer.num_threads={threads}"] if threads else []
    cmd += ["hydra/launcher=batched"] if batched else []
    return cmd + list(overrides)


def run_command(cmd: list[str], tail: int = 3000) -> tuple[float, str]:
    """Wall-clock seconds of a command in a child process, and its output; RuntimeError with the tail if it fails."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-tail:]}\n{proc.stderr[-tail:]}")
    return wall, proc.stdout + proc.stderr


def run_sweep(
    folder: Path, preset: str, epochs: int, device: str, batched: bool, threads, overrides=()
) -> tuple[float, str]:
    return run_command(sweep_command(folder, preset, epochs, device, batched, threads, overrides))


def _runs(folder: Path) -> dict:
    out = {}
    for s in folder.glob("*/summary.json"):
        with open(s.parent / "metrics.csv") as f:
            out[s.parent.name] = (json.loads(s.read_text()), list(csv.DictReader(f)))
    return out


def differences(basic: Path, batched: Path, first_epochs: int = 3) -> dict:
    """The largest differences of batched members' results from the same jobs' under the basic launcher."""
    a, b = _runs(basic), _runs(batched)
    assert a.keys() == b.keys(), "the launchers wrote different job folders"
    worst = {
        "final_test_acc_samples": 0,
        "best_val_acc_samples": 0,
        "final_train_loss_rel": 0.0,
        f"epoch_loss_rel_first_{first_epochs}": 0.0,
        "epoch_loss_rel_all": 0.0,
        "steps_flops_trained_equal": True,
    }
    for job, (sa, ra) in a.items():
        sb, rb = b[job]
        n_test, n_val = sa["resolved"]["n_test"], sa["resolved"]["n_val"]
        worst["final_test_acc_samples"] = max(
            worst["final_test_acc_samples"], round(abs(sa["final_test_acc"] - sb["final_test_acc"]) * n_test)
        )
        if n_val:
            worst["best_val_acc_samples"] = max(
                worst["best_val_acc_samples"], round(abs(sa["best_val_acc"] - sb["best_val_acc"]) * n_val)
            )
        loss = abs(sa["final_train_loss"] - sb["final_train_loss"]) / sa["final_train_loss"]
        worst["final_train_loss_rel"] = max(worst["final_train_loss_rel"], loss)
        for i, (x, y) in enumerate(zip(ra, rb)):
            rel = max(
                abs(float(x[k]) - float(y[k])) / abs(float(x[k]))
                for k in ("train_loss", "val_loss", "test_loss")
                if x[k] not in ("", "nan")
            )
            worst["epoch_loss_rel_all"] = max(worst["epoch_loss_rel_all"], rel)
            if i < first_epochs:
                worst[f"epoch_loss_rel_first_{first_epochs}"] = max(worst[f"epoch_loss_rel_first_{first_epochs}"], rel)
            worst["steps_flops_trained_equal"] &= all(x[k] == y[k] for k in ("step", "train_flops", "trained"))
    return worst


def compose_cost(preset: str, jobs_limit: int = 20) -> dict:
    """ms per job: Hydra's full composition (what the basic launcher does for every job) and our derived one."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.types import HydraContext, RunMode

    import alternating_freeze.config  # noqa: F401 - registers the config schemas, as af-train does

    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(ROOT / "conf")))
    master = loader.load_configuration("train", overrides=[f"experiment={preset}"], run_mode=RunMode.MULTIRUN)
    from alternating_freeze.compose import Composer
    from hydra_plugins.af_arms_sweeper.arms_sweeper import ArmsSweeper

    sweeper = ArmsSweeper(params=dict(master.hydra.sweeper.params), arms=dict(master.hydra.sweeper.arms))
    sweeper.hydra_context, sweeper.config = HydraContext(config_loader=loader, callbacks=None), master
    params = [f"{k}={v}" for k, v in master.hydra.sweeper.params.items()]
    jobs = sweeper.split_arguments(
        OverridesParser.create(config_loader=loader).parse_overrides(params + [f"experiment={preset}"]), None
    )[0]
    t0 = time.perf_counter()
    for job in jobs[:jobs_limit]:
        loader.load_sweep_config(master, list(job))
    full = (time.perf_counter() - t0) / min(len(jobs), jobs_limit)
    composer = Composer(loader, master)
    t0 = time.perf_counter()
    for job in jobs:
        composer(list(job))
    derived = (time.perf_counter() - t0) / len(jobs)
    return {"jobs": len(jobs), "full_ms": full * 1e3, "ours_ms": derived * 1e3, "ours_full_compositions": composer.full}


def sweeps(args) -> dict:
    walls, load = {"basic": [], "batched": []}, {"basic": [], "batched": []}
    breakdown, diffs = [], []
    with tempfile.TemporaryDirectory(prefix="af-bench-sweep-") as tmp:
        tmp = Path(tmp)
        for rep in range(args.repeats):
            for kind in ("basic", "batched"):
                folder = tmp / f"{kind}{rep}"
                wall, out = run_sweep(
                    folder, args.preset, args.epochs, args.device, kind == "batched", args.threads, args.set
                )
                walls[kind].append(wall)
                load[kind].append(os.getloadavg()[0])  # the machine's 1-minute load as the sweep ended
                print(f"  {kind:8s} sweep {rep + 1}/{args.repeats}: {wall:7.1f} s", flush=True)
                if kind == "batched":
                    m = BREAKDOWN.search(out)
                    if m:
                        n, comp, full, prep, train, end = m.groups()
                        breakdown.append(
                            {
                                "jobs": int(n),
                                "compose_s": float(comp),
                                "full_compositions": int(full),
                                "folders_callbacks_s": float(prep),
                                "training_results_s": float(train),
                                "job_ends_s": float(end),
                                "wall_s": wall,
                            }
                        )
                    diffs.append(differences(tmp / "basic0", folder))
    speedup = statistics.median(walls["basic"]) / statistics.median(walls["batched"])
    worst = {
        k: max(d[k] for d in diffs) if not isinstance(diffs[0][k], bool) else all(d[k] for d in diffs) for k in diffs[0]
    }
    return {
        "walls_s": walls,
        "load_avg_1min": load,
        "threads": args.threads or "torch's default",
        "sweep_speedup": speedup,
        "pair_speedups": [a / b for a, b in zip(walls["basic"], walls["batched"])],
        "largest_difference": worst,
        "batched_breakdown": breakdown,
    }


def report(out: dict) -> None:
    if "sweep_speedup" in out:
        w, d = out["walls_s"], out["largest_difference"]
        print(
            f"\n{out['preset']}, {out['epochs']} epochs, {out['device']}: basic "
            f"{', '.join(f'{x:.1f}' for x in w['basic'])} s; batched {', '.join(f'{x:.1f}' for x in w['batched'])} s"
        )
        print(
            f"  machine load (1-minute average) after each sweep: basic {out['load_avg_1min']['basic']}, "
            f"batched {out['load_avg_1min']['batched']}"
        )
        print(
            f"  sweep_speedup {out['sweep_speedup']:.2f} (target {out['targets']['sweep_speedup']['target']}: "
            f"{'met' if out['targets']['sweep_speedup']['met'] else 'MISSED'})"
        )
        print(
            "  largest difference from the basic launcher's runs: "
            + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in d.items())
        )
        for b in out["batched_breakdown"]:
            print(
                f"  batched sweep of {b['jobs']} jobs, {b['wall_s']:.1f} s: composing {b['compose_s']:.2f} s "
                f"({b['full_compositions']} in full), folders and callbacks {b['folders_callbacks_s']:.2f} s, "
                f"training and results {b['training_results_s']:.2f} s, the rest (start-up, sweeper) "
                f"{b['wall_s'] - b['compose_s'] - b['folders_callbacks_s'] - b['training_results_s']:.2f} s"
            )
        c = out["compose"]
        print(
            f"  composing a job: Hydra in full {c['full_ms']:.1f} ms, ours {c['ours_ms']:.1f} ms "
            f"({c['ours_full_compositions']} of {c['jobs']} in full)"
        )


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--preset", default="frequency")
    p.add_argument("--epochs", type=int, default=5, help="trainer.epochs of every job (the preset's: 20)")
    p.add_argument("--repeats", type=int, default=2, help="sweeps per launcher, alternating")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, help="torch threads of every run (default: torch's, all cores)")
    p.add_argument("--curve", action="store_true", help="speedup of a group epoch against group size, in process")
    p.add_argument("--max-members", type=int, help="the curve's largest group (default 256 on cuda, 64 on cpu)")
    p.add_argument("--step", action="store_true", help="only: a batched step, ours against torch.func.vmap")
    p.add_argument("--set", action="append", default=[], help="an override for every job, e.g. trainer.compile=none")
    p.add_argument("--no-sweeps", action="store_true", help="skip the sweeps (with --curve or --step)")
    args = p.parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device}: CUDA is not available on this machine")
    device = torch.device(args.device)
    out = {"machine": machine(device), "preset": args.preset, "epochs": args.epochs, "device": args.device}
    if args.step:
        out["step"] = step_comparison(device, args.threads)
    if not args.no_sweeps and not args.step:
        print(f"{args.preset}: {args.repeats} sweeps per launcher, {args.epochs} epochs, {args.device} ...", flush=True)
        out.update(sweeps(args))
        out["compose"] = compose_cost(args.preset)
        target = TARGETS["cuda" if device.type == "cuda" else "cpu"]
        out["targets"] = {
            "sweep_speedup": {
                "value": out["sweep_speedup"],
                "target": f">= {target}",
                "met": out["sweep_speedup"] >= target,
            }
        }
    if args.curve:
        out["curve"] = curve(device, args.max_members or (256 if device.type == "cuda" else 64), args.threads)
    report(out)
    if args.json:
        write_results(args.json, out)
    return out


if __name__ == "__main__":
    main()
