"""The tuning protocol of a sweep: every arm gets the same trials of nuisance hyperparameters on tuning seeds
(a grid, or quasi-random studies over a search space, space.py), each study's best setting is chosen on the
validation metric, and the final seeds run at each study's choice; the verdict uses the median study (AlgoPerf).

Pure functions over override strings and the summary.json files of finished trials, so that the
choice can be recomputed from disk on every launch (a resumed sweep reruns no trial and makes the
same choice) and tested without a sweep. The sweeper (arms_sweeper.py) launches what they plan.
"""

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from alternating_freeze import space as spaces
from alternating_freeze.contract import (
    COMPLETED,
    EXECUTION_KEYS,
    OBJECTIVES,
    TUNING_FILE,
    metric_objective,
    read_summary,
    valid_score,
    write_json,
)
from alternating_freeze.errors import ConfigError, integer

# Selection reads the validation split only (the test split is reported, never selected on), in the direction of
# the metric's objective (contract.objective: the highest accuracy, the lowest loss); a failed or diverged trial, or
# one with an invalid score (contract.valid_score), scores the objective's worst value (0, or inf: null in JSON).
AUTO = "auto"  # the task's objective's best validation value: best_val_acc, or best_val_loss for a text
METRICS = tuple(o.key(w) for w in ("best_val", "final_val") for o in OBJECTIVES.values())
METHODS = ("grid", "quasirandom")


@dataclass
class TuneConf:
    # tuned key -> its values, a sweep string as in `params` (e.g. "1e-4,3e-4,1e-3"); the grid is their product
    grid: Dict[str, str] = field(default_factory=lambda: {"optimizer.lr": "1e-4,3e-4,1e-3,3e-3,1e-2,3e-2"})
    seeds: str = "range(1000,1003)"  # tuning seeds: disjoint from the final seeds (params.seed)
    # summary.json key, validation only: auto (the task's objective: best_val_acc, for a text best_val_loss) |
    # best_val_acc | final_val_acc | best_val_loss | final_val_loss (a loss is chosen lowest)
    metric: str = AUTO
    method: str = "grid"  # grid: `grid` above | quasirandom: `space` below, scrambled Halton
    space: Dict[str, str] = field(default_factory=dict)  # tuned key -> "log_uniform(lo, hi)" etc. (space.py)
    trials: Optional[int] = None  # quasirandom: points per study and arm (each on every tuning seed)
    studies: int = 1  # quasirandom: independent studies per arm, each choosing its own best
    seed: int = 0  # quasirandom: the Halton sequence's seed (the same trials on resume)


@dataclass
class Trial:
    values: Dict[str, str]  # tuned key -> value, as written in the override
    seed: str
    overrides: List[str]
    job: Optional[str] = None  # folder relative to the sweep folder, once launched
    study: int = 0


def grid_points(grid: Dict[str, List[str]]) -> List[Dict[str, str]]:
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def check(conf: TuneConf, grid: Dict[str, List[str]], tuning_seeds: Sequence[str], final_seeds: Sequence[str]) -> None:
    """Bad tuning settings, one line each, before anything runs."""
    spaces_of = {"grid": "hydra.sweeper.tune.grid", "quasirandom": "hydra.sweeper.tune.space"}
    if conf.method not in METHODS:
        raise ConfigError("hydra.sweeper.tune.method", conf.method, f"allowed: {', '.join(METHODS)}")
    tuned = grid if conf.method == "grid" else conf.space
    if conf.method == "grid":
        if not grid or any(not values for values in grid.values()):
            raise ConfigError("hydra.sweeper.tune.grid", dict(conf.grid), "at least one key with at least one value")
        for key, values in grid.items():
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise ConfigError(f"hydra.sweeper.tune.grid.{key}", ",".join(values), f"each value once: {twice}")
        if conf.studies != 1:
            raise ConfigError("hydra.sweeper.tune.studies", conf.studies, "1 for method=grid (studies are quasirandom)")
    else:
        if not conf.space:
            raise ConfigError("hydra.sweeper.tune.space", dict(conf.space), "at least one key for method=quasirandom")
        dists = spaces.parse_space(conf.space)
        if isinstance(conf.trials, bool) or not isinstance(conf.trials, int):
            raise ConfigError("hydra.sweeper.tune.trials", conf.trials, "an integer: points per study and arm")
        spaces.check_budget(dists, conf.trials, conf.studies, conf.trials, conf.studies)
        integer("hydra.sweeper.tune.seed", conf.seed, low=0)
    for key in tuned:
        if key == "seed" or key in EXECUTION_KEYS:
            raise ConfigError(
                spaces_of[conf.method], key, "a key that changes results, not the seed or how runs execute"
            )
    if conf.metric not in (AUTO, *METRICS):
        raise ConfigError(
            "hydra.sweeper.tune.metric", conf.metric, f"a validation metric: {', '.join((AUTO, *METRICS))}"
        )
    if not tuning_seeds:
        raise ConfigError("hydra.sweeper.tune.seeds", conf.seeds, "at least one seed")
    bad = [s for s in tuning_seeds if not s.isdigit()] or sorted({s for s in tuning_seeds if tuning_seeds.count(s) > 1})
    if bad:
        raise ConfigError("hydra.sweeper.tune.seeds", conf.seeds, f"distinct integers >= 0: not {', '.join(bad)}")
    shared = sorted(set(tuning_seeds) & set(final_seeds), key=str)
    if shared:
        raise ConfigError(
            "hydra.sweeper.tune.seeds",
            conf.seeds,
            f"must not overlap the final seeds ({', '.join(final_seeds)}): {', '.join(shared)} in both",
        )


def plan(conf: TuneConf, grid: Dict[str, List[str]]) -> List[List[Dict[str, str]]]:
    """Per study its points (tuned key -> override value): the grid as one study, or the quasi-random studies."""
    if conf.method == "grid":
        return [grid_points(grid)]
    return spaces.studies(spaces.parse_space(conf.space), conf.trials, conf.studies, conf.seed)


def trials(configs: Dict[str, List[str]], points: List[List[Dict[str, str]]], seeds: Sequence[str]) -> dict:
    """Per configuration its trials: every point of every study on every tuning seed, seed-major."""
    return {
        name: [
            Trial(p, seed, [*c, *(f"{k}={v}" for k, v in p.items()), f"seed={seed}"], study=s)
            for seed in seeds
            for s, study in enumerate(points)
            for p in study
        ]
        for name, c in configs.items()
    }


def finals(configs: Dict[str, List[str]], arms: Dict[str, dict], seeds: Sequence[str]) -> dict:
    """Per configuration its final runs: every final seed at each study's choice. Studies that chose the same
    values share these runs (a job folder is named by its overrides, so it runs once)."""
    out = {}
    for name, arm in arms.items():
        for st in arm["studies"]:
            if st["chosen"] is not None:
                overrides = [*configs[name], *(f"{k}={v}" for k, v in st["chosen"].items())]
                out[(name, st["study"])] = [
                    Trial(st["chosen"], s, [*overrides, f"seed={s}"], study=st["study"]) for s in seeds
                ]
    return out


def resolve_metric(metric: str, objectives: Sequence[str]) -> str:
    """``metric`` as the summary.json key the choice reads: ``auto`` is the best validation value of the objective
    the tuned configurations' tasks declare (``objectives``: their names, contract.OBJECTIVES), which must be one."""
    if metric != AUTO:
        return metric
    found = sorted(set(objectives))
    if len(found) != 1:
        raise ConfigError(
            "hydra.sweeper.tune.metric",
            metric,
            f"a metric named outright: the tuned configurations' tasks declare {' and '.join(found) or 'no'} "
            "objectives (auto needs one)",
        )
    return OBJECTIVES[found[0]].key("best_val")


def score(summary: Optional[dict], metric: str) -> Optional[float]:
    """A trial's metric, or None when it failed, diverged, did not finish or has no valid value."""
    if not summary or summary.get("status") != COMPLETED:
        return None
    value = summary.get(metric)
    return float(value) if valid_score(metric, value) else None


def median_study(scores: Sequence[float]) -> int:
    """The study whose best score is the median (AlgoPerf); of an even number the lower middle one, the
    earlier study on a tie. Chosen on validation scores only, so that no test result picks the study."""
    order = sorted(range(len(scores)), key=lambda s: (scores[s], s))
    return order[(len(order) - 1) // 2]


def choose(
    trials: List[Trial],
    sweep_dir: Path,
    metric: str,
    grid: Optional[Dict[str, List[str]]] = None,
    points: Optional[List[List[Dict[str, str]]]] = None,
    space: Optional[Dict[str, "spaces.Dist"]] = None,
) -> dict:
    """One arm's record for tuning.json: every trial's score, the mean per point and study (failed trials at
    the worst value), each study's chosen point (the best mean; the first on a tie), the median study's choice
    as the arm's, choices at an end of the grid or near a boundary of the space, and whether every trial failed."""
    objective = metric_objective(metric)
    worst, rows, table, studies, notes = objective.worst, [], [], [], []
    points = points if points is not None else [grid_points(grid or {})]
    for t in trials:
        summary = read_summary(sweep_dir / t.job) if t.job else None
        s = score(summary, metric)
        status = (summary or {}).get("status", "missing")
        if status == COMPLETED and s is None:
            notes.append(
                f"trial {t.job}: {metric}={(summary or {}).get(metric)!r} is not a valid score, counted as failed"
            )
        rows.append({"values": t.values, "seed": t.seed, "job": t.job, "score": s, "status": status, "study": t.study})
    for i, study in enumerate(points):
        mine = []
        for point in study:
            got = [r for r in rows if r["values"] == point and r["study"] == i]
            scores = [worst if r["score"] is None else r["score"] for r in got]
            mean = sum(scores) / len(scores) if scores else worst
            n_failed = sum(r["score"] is None for r in got)
            mine.append({"values": point, "mean": mean, "n": len(got), "n_failed": n_failed, "study": i})
        failed = all(r["score"] is None for r in rows if r["study"] == i)
        best = None if failed else mine[objective.best_index([p["mean"] for p in mine])]  # the first of equals
        chosen = None if best is None else best["values"]
        near = [[k, d.side(chosen[k])] for k, d in (space or {}).items() if chosen and d.side(chosen[k])]
        studies.append({"study": i, "chosen": chosen, "score": worst if best is None else best["mean"],
                        "all_failed": failed, "at_boundary": near, "final_jobs": []})  # fmt: skip
        table += mine
    median = median_study([objective.sign * st["score"] for st in studies])  # the worst first in either direction
    chosen = studies[median]["chosen"]
    edge = [
        k for k, v in (chosen or {}).items() if grid and len(grid.get(k, [])) > 1 and v in (grid[k][0], grid[k][-1])
    ]
    return {
        "trials": rows,
        "scores": table,
        "chosen": chosen,
        "at_edge": edge,
        "all_failed": all(r["score"] is None for r in rows),
        "studies": studies,
        "median_study": median,
        "warnings": notes,
    }


def write(
    sweep_dir: Path,
    conf: TuneConf,
    grid: Dict[str, List[str]],
    tuning_seeds: Sequence[str],
    final_seeds: Sequence[str],
    arms: Dict[str, dict],
    points: Optional[List[List[Dict[str, str]]]] = None,
) -> None:
    """tuning.json (version 2: version 1's fields, plus the method, the space and the studies). For a quasi-random
    search ``grid`` lists the values tried per key, so that a reader of version 1 still finds a grid."""
    n_trials = {name: len(a["trials"]) for name, a in arms.items()}
    quasi = conf.method == "quasirandom"
    if quasi:
        grid = spaces.values_tried([p for study in points or [] for p in study], list(conf.space))
    write_json(
        Path(sweep_dir) / TUNING_FILE,
        {
            "version": 2,
            "metric": conf.metric,
            "mode": metric_objective(conf.metric).direction,
            "grid": {k: _numbers(v) for k, v in grid.items()},
            "tuning_seeds": _numbers(tuning_seeds),
            "final_seeds": _numbers(final_seeds),
            "trials_per_arm": max(n_trials.values(), default=0),
            "method": conf.method,
            "space": {k: d.as_json() for k, d in spaces.parse_space(conf.space).items()} if quasi else {},
            "studies": conf.studies if quasi else 1,
            "trials_per_study": conf.trials if quasi else len(grid_points(grid)),
            "halton_seed": conf.seed if quasi else None,
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
        "studies": [{**st, "chosen": values(st["chosen"])} for st in arm.get("studies", [])],
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
