"""What the command line costs beyond training: start-up of ``af-train`` and a sweep's per-job overhead.

Both run the real entrypoint in child processes through ``benchmarks._probe``, which timestamps
every call of ``fit``. Times across processes use ``time.time()`` (same machine, same clock).

Start-up: from spawning the process to the first ``fit`` (the first training step follows at
once), against spawning ``python -c "import torch"`` to the end of that import. The probe's marks
split it into torch's import, Hydra + data + model, and ``build_optimizer``. The run is the
default one-epoch ``af-train`` (digits dataset, so data loading is in it). As a cross-check without
any wrapper, the process wall of the run minus its own ``train_s + eval_s`` (summary.json) is
reported too; that one also counts writing results and interpreter shutdown.

Sweep: a multirun of N jobs in one process. A job's overhead is everything from the start of its
``fit`` to the start of the next job's ``fit`` that is not its own training or evaluation: per-epoch
metrics and checkpoint writes, summary.json, Hydra launching the next job (config composition,
output folder, .hydra/*.yaml, logging) and the next job's data loading and model building. The
process start-up, paid once per sweep, is reported apart (and, amortised over N, as well).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_timed(
    cmd: list[str], probe_log: Path | None = None, timeout: int = 900
) -> tuple[float, float, subprocess.CompletedProcess]:
    """(time.time() at spawn, process wall seconds, result); raises with the child's output on failure."""
    env = dict(os.environ)
    if probe_log is not None:
        env["AF_BENCH_PROBE"] = str(probe_log)
    t_spawn, t0 = time.time(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return t_spawn, wall, proc


# The baseline child prints when torch is imported, and whether torch's bytecode came from a cache: without
# one (PYTHONDONTWRITEBYTECODE=1 and a venv installed without --compile-bytecode) every process compiles
# torch's sources again, which makes every import here several times slower.
TORCH_IMPORT = (
    "import torch, time; t = time.time(); import os; print(repr(t), int(os.path.exists(torch.__spec__.cached or '')))"
)


def _events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _probe_cmd(*args: str, python_flags: tuple[str, ...] = ()) -> list[str]:
    return [sys.executable, *python_flags, "-m", "benchmarks._probe", *args]


def time_startup(workdir: Path, repeats: int, warmup: int = 1) -> dict:
    """Medians over ``repeats`` alternating pairs (torch import, af-train run), after ``warmup`` pairs."""
    samples = defaultdict(list)
    for i in range(warmup + repeats):
        t_spawn, wall, proc = run_timed([sys.executable, "-c", TORCH_IMPORT])
        t_imported, cached = proc.stdout.split()[-2:]
        torch_import_s = float(t_imported) - t_spawn
        run_dir, log = workdir / f"startup{i}", workdir / f"startup{i}.jsonl"
        t_spawn2, wall2, _ = run_timed(
            _probe_cmd("trainer.epochs=1", "trainer.progress=none", f"hydra.run.dir={run_dir}"), log
        )
        ev = {}
        for e in _events(log):
            ev.setdefault(e["event"], e)  # the first of each
        summary = json.loads((run_dir / "summary.json").read_text())
        if i < warmup:  # the first spawns fill the file cache
            continue
        bytecode_cached = cached == "1"
        samples["torch_import_s"].append(torch_import_s)
        samples["torch_import_wall_s"].append(wall)
        samples["af_python_up_s"].append(ev["python_up"]["t"] - t_spawn2)
        samples["af_torch_imported_s"].append(ev["torch_imported"]["t"] - t_spawn2)
        samples["af_optimizer_entry_s"].append(ev["optimizer_entry"]["t"] - t_spawn2)
        samples["af_optimizer_exit_s"].append(ev["optimizer_exit"]["t"] - t_spawn2)
        samples["af_first_step_s"].append(ev["fit_entry"]["t"] - t_spawn2)
        samples["af_wall_s"].append(wall2)
        samples["af_wall_minus_train_eval_s"].append(wall2 - summary["train_s"] - summary["eval_s"])
    out = {k: statistics.median(v) for k, v in samples.items()}
    out["hydra_data_model_s"] = out["af_optimizer_entry_s"] - out["af_torch_imported_s"]
    out["build_optimizer_s"] = out["af_optimizer_exit_s"] - out["af_optimizer_entry_s"]
    out["startup_ratio"] = out["af_first_step_s"] / out["torch_import_s"]
    out["repeats"] = repeats
    out["bytecode_cached"] = bytecode_cached
    return out


def import_self_times(stderr: str) -> dict[str, float]:
    """``-X importtime`` output as self seconds summed per top-level package (together: all import time)."""
    per_package = defaultdict(float)
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
        if m:
            per_package[m.group(3).split(".")[0]] += int(m.group(1)) / 1e6
    return per_package


def import_profile(workdir: Path, top: int = 10) -> list[dict]:
    """Where the import time of one default ``af-train`` run goes: ``-X importtime`` self times summed
    per top-level package (they add up to all import time; -X importtime itself inflates them a little)."""
    run_dir, log = workdir / "importtime", workdir / "importtime.jsonl"
    _, _, proc = run_timed(
        _probe_cmd(
            "trainer.epochs=1", "trainer.progress=none", f"hydra.run.dir={run_dir}", python_flags=("-X", "importtime")
        ),
        log,
    )
    ranked = sorted(import_self_times(proc.stderr).items(), key=lambda kv: -kv[1])
    return [{"package": k, "import_s": v} for k, v in ranked[:top]]


def time_sweep(workdir: Path, jobs: int, epochs: int, repeats: int, overrides: tuple[str, ...] = ()) -> dict:
    """Per-job overhead of a basic-launcher multirun of ``jobs`` seeds; medians over ``repeats`` sweeps."""
    assert jobs >= 2, "the per-job overhead is measured between consecutive jobs"
    samples = defaultdict(list)
    for i in range(repeats):
        sweep_dir, log = workdir / f"sweep{i}", workdir / f"sweep{i}.jsonl"
        args = [
            "-m",
            f"hydra.sweep.dir={sweep_dir}",
            "seed=" + ",".join(map(str, range(jobs))),
            f"trainer.epochs={epochs}",
            "trainer.progress=none",
            *overrides,
        ]
        t_spawn, wall, _ = run_timed(_probe_cmd(*args), log)
        ev = _events(log)
        entries = [e["t"] for e in ev if e["event"] == "fit_entry"]
        exits = [e for e in ev if e["event"] == "fit_exit"]
        assert len(entries) == len(exits) == jobs, f"expected {jobs} jobs, the probe saw {len(entries)}"
        own = [e["train_s"] + e["eval_s"] for e in exits]
        samples["per_job_overhead_s"].append((entries[-1] - entries[0] - sum(own[:-1])) / (jobs - 1))
        samples["in_fit_overhead_s"].append(statistics.mean(x["t"] - t - o for t, x, o in zip(entries, exits, own)))
        samples["between_jobs_s"].append(statistics.mean(entries[j + 1] - exits[j]["t"] for j in range(jobs - 1)))
        samples["job_train_eval_s"].append(statistics.mean(own))
        samples["process_start_s"].append(entries[0] - t_spawn)
        samples["sweep_wall_s"].append(wall)
        samples["amortised_overhead_s"].append((wall - sum(own)) / jobs)
    out = {k: statistics.median(v) for k, v in samples.items()}
    out.update(jobs=jobs, epochs=epochs, repeats=repeats, overrides=list(overrides))
    return out
