"""Where a batched sweep's time goes besides training (issue 26, item 5): interpreter, imports, Hydra's set-up,
the sweeper, composing each job, each job's folder and config files, the group's compute, the end-of-sweep
report and the analysis callback.

    uv run python -m benchmarks.startup [--repeats 3] [--json PATH]

Each repeat runs ``af-train -m experiment=frequency hydra/launcher=batched`` (50 jobs) with training cut to one
epoch, in a child process (``--child``) that wraps the functions of each phase with a wall clock (wrapped, not
replaced: the sweep does what af-train does) and names the heavy packages already imported when the group starts
training. The parent times the spawn and the exit. Also measured, as many times: a bare interpreter
(``python -c pass``), and ``-X importtime`` of af-train's entrypoint (self time per top-level package).
Medians over the repeats; the load average before and after is recorded, for a shared machine.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

from .entrypoint import import_self_times, run_timed

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SWEEP = ("experiment=frequency", "hydra/launcher=batched", "trainer.epochs=1", "trainer.allow_untrained=true")
HEAVY = ("pandas", "matplotlib", "seaborn", "scipy", "sklearn", "torch._dynamo", "torch._inductor")
WRAPPED = {  # phase -> (module, attribute path): the function whose calls the phase is, where its caller finds it
    "sweeper": ("hydra_plugins.af_arms_sweeper.arms_sweeper", "ArmsSweeper.sweep"),
    "arm_checks": ("alternating_freeze.arm_checks", "check_schedules"),
    "launch": ("hydra_plugins.af_batched_launcher.batched_launcher", "BatchedLauncher.launch"),
    "compose": ("alternating_freeze.compose", "Composer.__call__"),  # the launcher's calls (the checks' are theirs)
    "folders": ("hydra_plugins.af_batched_launcher.batched_launcher", "BatchedLauncher._prepare"),
    "group": ("hydra_plugins.af_batched_launcher.batched_launcher", "BatchedLauncher._train"),
    "members": ("alternating_freeze.batched.runner", "Runner._member"),
    "fit": ("alternating_freeze.batched.runner", "fit_group"),
    "job_ends": ("hydra_plugins.af_batched_launcher.batched_launcher", "BatchedLauncher._end"),
    "sweep_report": ("alternating_freeze.sweep", "SweepReport.on_multirun_end"),
    "analysis": ("analysis.callback", "AnalyzeCallback.on_multirun_end"),
}


def _wrap(timers: dict, phase: str, module: str, path: str) -> None:
    owner = importlib.import_module(module)
    *parents, name = path.split(".")
    for p in parents:
        owner = getattr(owner, p)
    inner = getattr(owner, name)

    @functools.wraps(inner)
    def timed(*args, **kwargs):
        if phase == "compose" and "s0" in timers["arm_checks"]:  # inside the arm checks: counted there
            return inner(*args, **kwargs)
        t = timers[phase]
        t.setdefault("first", time.time())
        if phase == "fit":
            t["imported_at_training"] = [m for m in HEAVY if m in sys.modules]
        t["s0"] = t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            del t["s0"]
            t["s"] = t.get("s", 0.0) + time.perf_counter() - t0
            t["calls"] = t.get("calls", 0) + 1

    setattr(owner, name, timed)


def child(log: Path, args: list[str]) -> None:
    """af-train with ``args``, its phases timed, the timings written to ``log``."""
    t_up = time.time()
    from alternating_freeze import cli  # what af-train imports before it starts

    t_imported = time.time()
    from hydra.core.plugins import Plugins

    Plugins.instance()  # Hydra's scan runs every plugin module again: wrapped after it, the wrappers stay
    t_plugins = time.time()
    timers: dict = defaultdict(dict)
    for phase, (module, path) in WRAPPED.items():
        _wrap(timers, phase, module, path)
    sys.argv = ["af-train", *args]
    code = 0
    try:
        cli.main()
    except SystemExit as e:
        code = e.code
    log.write_text(
        json.dumps(
            {
                "t_up": t_up,
                "t_imported": t_imported,
                "t_plugins": t_plugins,
                "t_end": time.time(),
                "code": code,
                **timers,
            }
        )
    )


def phases(t_spawn: float, wall: float, t: dict) -> dict:
    """The sweep's seconds by phase, from one child's timings (each phase's own, not its callees')."""
    s = lambda name: t.get(name, {}).get("s", 0.0)  # noqa: E731
    out = {
        "interpreter": t["t_up"] - t_spawn,
        "imports": t["t_imported"] - t["t_up"],
        "hydra_plugins": t["t_plugins"] - t["t_imported"],  # Hydra's scan of the plugin packages
        "hydra_setup": t["sweeper"]["first"] - t["t_plugins"],  # cli checks, master config, preflight
        "sweeper": s("sweeper") - s("launch") - s("arm_checks"),
        "arm_checks": s("arm_checks"),
        "compose": s("compose"),
        "folders": s("folders"),
        "group_members": s("members"),
        "group_fit": s("fit"),
        "group_other": s("group") - s("members") - s("fit"),  # claims, locks, first epoch's files
        "job_ends": s("job_ends"),
        "launch_other": s("launch") - s("compose") - s("folders") - s("group") - s("job_ends"),
        "sweep_report": s("sweep_report"),
        "analysis": s("analysis"),
        "exit": wall - (t["t_end"] - t_spawn),
    }
    out["hydra_other"] = wall - sum(out.values())  # Hydra between the phases: multirun.yaml, callbacks' starts
    out["wall"] = wall
    return out


def import_profile(top: int = 12) -> tuple[float, list[dict]]:
    """``-X importtime`` of af-train's entrypoint: the total and the self time per top-level package."""
    _, _, proc = run_timed([sys.executable, "-X", "importtime", "-c", "import alternating_freeze.cli"])
    per = import_self_times(proc.stderr)
    ranked = sorted(per.items(), key=lambda kv: -kv[1])
    return sum(per.values()), [{"package": k, "self_s": v} for k, v in ranked[:top]]


def measure(repeats: int, workdir: Path) -> dict:
    samples, imports, heavy = defaultdict(list), defaultdict(list), None
    for i in range(repeats):
        _, bare, _ = run_timed([sys.executable, "-c", "pass"])
        samples["bare_interpreter"].append(bare)
        total, top = import_profile()
        samples["importtime_total"].append(total)
        for row in top:
            imports[row["package"]].append(row["self_s"])
        log = workdir / f"startup{i}.json"
        args = ["-m", *SWEEP, f"hydra.sweep.dir={workdir / f'sweep{i}'}"]
        t_spawn, wall, proc = run_timed(
            [sys.executable, "-m", "benchmarks.startup", "--child", str(log), "--", *args], timeout=1800
        )
        t = json.loads(log.read_text())
        if t["code"]:
            raise RuntimeError(f"af-train exited {t['code']}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        heavy = t.get("fit", {}).get("imported_at_training")
        for k, v in phases(t_spawn, wall, t).items():
            samples[k].append(v)
        print(f"  repeat {i + 1}: {wall:.1f} s", flush=True)
    return {
        "phases_s": {k: statistics.median(v) for k, v in samples.items()},
        "phases_s_all": dict(samples),
        "import_self_s": {k: statistics.median(v) for k, v in sorted(imports.items(), key=lambda kv: -max(kv[1]))},
        "imported_when_training_starts": heavy,
    }


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, help="default: benchmarks/results/startup-cpu-<cores>core-<date>.json")
    p.add_argument("--label", default="", help="a word for the file name and the record (before, after, ...)")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse(argv)
    if args.child is not None:
        child(args.child, args.args)
        return {}
    import torch

    from .loop import machine

    host, load = machine(torch.device("cpu")), [os.getloadavg()]
    print(
        f"{host['cpu']}, {host['cores']} cores; load {load[0]}; {args.repeats} repeats of: af-train -m {' '.join(SWEEP)}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = measure(args.repeats, Path(tmp))
    load.append(os.getloadavg())
    out.update(machine=host, date=date.today().isoformat(), load_average=load, sweep=list(SWEEP), label=args.label)
    out["bytecode_cached"] = not os.environ.get("PYTHONDONTWRITEBYTECODE") or _torch_cached()
    for k, v in out["phases_s"].items():
        print(f"  {k:22s} {v:7.2f} s")
    print(f"  heavy packages imported when training starts: {out['imported_when_training_starts']}")
    from . import write_results

    name = f"startup-cpu-{host['cores']}core{'-' + args.label if args.label else ''}-{out['date']}.json"
    write_results(args.json or RESULTS / name, out)
    return out


def _torch_cached() -> bool:
    import torch

    return os.path.exists(torch.__spec__.cached or "")


if __name__ == "__main__":
    main()
