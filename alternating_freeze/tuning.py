"""The tuning protocol of a sweep: every arm gets the same grid of nuisance hyperparameters on
tuning seeds, its best setting is chosen on the validation metric, and the final seeds run at it.

Pure functions over override strings and the summary.json files of finished trials, so that the
choice can be recomputed from disk on every launch (a resumed sweep reruns no trial and makes the
same choice) and tested without a sweep. The sweeper (arms_sweeper.py) launches what they plan.
"""

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from alternating_freeze.contract import COMPLETED, TUNING_FILE, read_summary, write_json
from alternating_freeze.errors import ConfigError

# Selection reads the validation split only (the test split is reported, never selected on);
# a failed or diverged trial scores the metric's worst value.
METRICS = {"best_val_acc": 0.0, "final_val_acc": 0.0}


@dataclass
class TuneConf:
    # tuned key -> its values, a sweep string as in `params` (e.g. "1e-4,3e-4,1e-3"); the grid is their product
    grid: Dict[str, str] = field(default_factory=lambda: {"optimizer.lr": "1e-4,3e-4,1e-3,3e-3,1e-2,3e-2"})
    seeds: str = "range(1000,1003)"  # tuning seeds: disjoint from the final seeds (params.seed)
    metric: str = "best_val_acc"  # summary.json key, validation only: best_val_acc | final_val_acc


@dataclass
class Trial:
    values: Dict[str, str]  # tuned key -> value, as written in the override
    seed: str
    overrides: List[str]
    job: Optional[str] = None  # folder relative to the sweep folder, once launched


def grid_points(grid: Dict[str, List[str]]) -> List[Dict[str, str]]:
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def check(conf: TuneConf, grid: Dict[str, List[str]], tuning_seeds: Sequence[str], final_seeds: Sequence[str]) -> None:
    """Bad tuning settings, one line each, before anything runs."""
    if not grid or any(not values for values in grid.values()):
        raise ConfigError("hydra.sweeper.tune.grid", dict(conf.grid), "at least one key with at least one value")
    if conf.metric not in METRICS:
        raise ConfigError("hydra.sweeper.tune.metric", conf.metric, f"a validation metric: {', '.join(METRICS)}")
    if not tuning_seeds:
        raise ConfigError("hydra.sweeper.tune.seeds", conf.seeds, "at least one seed")
    shared = sorted(set(tuning_seeds) & set(final_seeds), key=str)
    if shared:
        raise ConfigError(
            "hydra.sweeper.tune.seeds",
            conf.seeds,
            f"must not overlap the final seeds ({', '.join(final_seeds)}): {', '.join(shared)} in both",
        )


def score(summary: Optional[dict], metric: str) -> Optional[float]:
    """A trial's metric, or None when it failed, diverged, did not finish or has no such value."""
    if not summary or summary.get("status") != COMPLETED:
        return None
    value = summary.get(metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def choose(trials: List[Trial], sweep_dir: Path, metric: str, grid: Dict[str, List[str]]) -> dict:
    """One arm's record for tuning.json: every trial's score, the mean per grid point (failed trials
    at the worst value), the chosen point (the best mean; the first in grid order on a tie), whether
    it lies at an end of the grid, and whether every trial failed."""
    worst, rows, points = METRICS[metric], [], []
    for t in trials:
        summary = read_summary(sweep_dir / t.job) if t.job else None
        s = score(summary, metric)
        rows.append(
            {
                "values": t.values,
                "seed": t.seed,
                "job": t.job,
                "score": s,
                "status": (summary or {}).get("status", "missing"),
            }
        )
    for point in grid_points(grid):
        mine = [r for r in rows if r["values"] == point]
        scores = [worst if r["score"] is None else r["score"] for r in mine]
        points.append(
            {
                "values": point,
                "mean": sum(scores) / len(scores) if scores else worst,
                "n": len(mine),
                "n_failed": sum(r["score"] is None for r in mine),
            }
        )
    all_failed = all(r["score"] is None for r in rows)
    best = None if all_failed else max(points, key=lambda p: p["mean"])  # max keeps the first of equals
    chosen = None if best is None else best["values"]
    edge = (
        [] if chosen is None else [k for k, v in chosen.items() if len(grid[k]) > 1 and v in (grid[k][0], grid[k][-1])]
    )
    return {"trials": rows, "scores": points, "chosen": chosen, "at_edge": edge, "all_failed": all_failed}


def write(
    sweep_dir: Path,
    conf: TuneConf,
    grid: Dict[str, List[str]],
    tuning_seeds: Sequence[str],
    final_seeds: Sequence[str],
    arms: Dict[str, dict],
) -> None:
    n_trials = {name: len(a["trials"]) for name, a in arms.items()}
    write_json(
        Path(sweep_dir) / TUNING_FILE,
        {
            "version": 1,
            "metric": conf.metric,
            "mode": "max",
            "grid": {k: _numbers(v) for k, v in grid.items()},
            "tuning_seeds": _numbers(tuning_seeds),
            "final_seeds": _numbers(final_seeds),
            "trials_per_arm": max(n_trials.values(), default=0),
            "arms": {name: _as_json(a) for name, a in arms.items()},
        },
    )


def _as_json(arm: dict) -> dict:
    """Tuned values and seeds as numbers where they are numbers."""
    values = lambda d: None if d is None else {k: _number(v) for k, v in d.items()}  # noqa: E731
    return {
        **arm,
        "chosen": values(arm["chosen"]),
        "trials": [{**t, "values": values(t["values"]), "seed": _number(t["seed"])} for t in arm["trials"]],
        "scores": [{**p, "values": values(p["values"])} for p in arm["scores"]],
    }


def _number(text: str):
    """An override's value as JSON would have it: 0.001 and 1000 rather than strings, where it is a number."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _numbers(values: Sequence[str]) -> list:
    return [_number(v) for v in values]
