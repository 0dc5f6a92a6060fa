"""The published recipes on a GPU, in one command: the ``cifar_resnet`` and ``freezeout_resnet`` presets
(He et al.'s resnet20 recipe; FreezeOut against it), each run as af-train runs it, then one JSON file with
the machine named, each preset's wall time and every arm's test accuracy (mean, spread, runs).

    uv run python -m benchmarks.recipes                        # both presets on cuda, CIFAR-10 under data/
    uv run python -m benchmarks.recipes --download             # fetch CIFAR-10 first (needs the internet)
    uv run python -m benchmarks.recipes --presets freezeout_resnet_quick --device cpu   # the quick one, here

Re-running the same command with the same ``--out`` resumes: finished runs are skipped (af-train's sweep
folders). The accuracy to expect of standard training under cifar_resnet is the paper's 91.25%.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from alternating_freeze.contract import SUMMARY_FILE, read_summary, strategy_label

from .loop import machine

PRESETS = ("cifar_resnet", "freezeout_resnet")


def arms(sweep_dir: Path) -> dict:
    """Final test accuracy of every completed run, by strategy label (and scheduler), from summary.json."""
    found: dict[str, list[float]] = {}
    for path in sorted(sweep_dir.rglob(SUMMARY_FILE)):
        summary = read_summary(path.parent)
        if not summary or summary.get("status") != "completed":
            continue
        config = summary.get("config") or {}
        label = (
            f"{strategy_label(config.get('strategy') or {})[0]} | scheduler {config.get('scheduler', {}).get('name')}"
        )
        found.setdefault(label, []).append(summary.get("final_test_acc"))
    return {
        label: {
            "runs": len(accs),
            "final_test_acc_mean": statistics.fmean(accs),
            "final_test_acc_sd": statistics.stdev(accs) if len(accs) > 1 else None,
        }
        for label, accs in found.items()
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--download", action="store_true", help="dataset.download=true (CIFAR-10, needs the internet)")
    parser.add_argument("--out", type=Path, default=Path("outputs/recipes"))
    parser.add_argument("--json", type=Path, default=None, help="default: <out>/recipes-<date>.json")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"--device {args.device}: no CUDA device here (use --device cpu for the quick preset)", file=sys.stderr)
        return 2
    result = {"machine": machine(torch.device(args.device)), "started_at": datetime.now(UTC).isoformat(), "presets": {}}
    for preset in args.presets:
        sweep_dir = args.out / preset
        cmd = [
            sys.executable,
            "-m",
            "alternating_freeze",
            "-m",
            f"experiment={preset}",
            f"trainer.device={args.device}",
            f"hydra.sweep.dir={sweep_dir}",
            "trainer.progress=log",
        ]
        if args.download:
            cmd.append("dataset.download=true")
        t0 = time.perf_counter()
        proc = subprocess.run(cmd)
        result["presets"][preset] = {
            "command": " ".join(cmd[1:]),
            "returncode": proc.returncode,
            "wall_s": time.perf_counter() - t0,
            "arms": arms(sweep_dir),
        }
    path = args.json or args.out / f"recipes-{datetime.now(UTC):%Y-%m-%d}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return max((p["returncode"] for p in result["presets"].values()), default=0)


if __name__ == "__main__":
    sys.exit(main())
