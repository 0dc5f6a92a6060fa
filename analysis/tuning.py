"""A tuned sweep's protocol from its ``tuning.json``: which runs are trials and which final, each arm's scores over
the grid, and what a reader must know (a choice at the edge of the grid, an arm whose every trial failed)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from alternating_freeze.contract import boundary_side, valid_score

from .describe import fmt_value, listing, say, seeds_text

OUTSIDE_VERDICT = ("trial", "study")  # tuning trials, and the final runs of a study other than the median one


def layout(t: Any) -> bool:
    """Whether ``t`` has tuning.json's layout (README): a grid of lists, arms with trials of values (a number or null
    as score), a choice and final jobs (folder names)."""
    arms, grid = (t.get("arms"), t.get("grid")) if isinstance(t, dict) else (None, None)
    if not (isinstance(arms, dict) and isinstance(grid, dict) and all(isinstance(v, list) for v in grid.values())):
        return False

    def trial(x: Any) -> bool:  # any score: one that contract.valid_score refuses counts as failed (warnings)
        return (
            isinstance(x, dict)
            and isinstance(x.get("values"), dict)
            and all(v is None or isinstance(v, (str, int, float)) for v in x["values"].values())  # a list: no point
        )

    def arm(a: Any) -> bool:
        trials, finals = (a.get("trials") or [], a.get("final_jobs") or []) if isinstance(a, dict) else (None, None)
        return (
            isinstance(a, dict)
            and isinstance(a.get("chosen") or {}, dict)
            and isinstance(trials, list)
            and all(map(trial, trials))
            and isinstance(finals, list)
            and all(isinstance(j, str) for j in finals)
        )

    return all(map(arm, arms.values()))


def final_jobs(sweeps: list) -> Iterator[tuple[Path, str, dict]]:
    """(run folder, arm, the arm's choice) of every final run a tuning.json names."""
    for s in (s for s in sweeps if s.tuning):
        for arm, spec in s.tuning["arms"].items():
            for job in spec.get("final_jobs") or []:
                yield (Path(s.path) / job).resolve(), str(arm), spec.get("chosen") or {}


def roles(sweeps: list) -> dict[Path, tuple[str, str]]:
    """Run folder -> (arm, "trial" | "final") for every job a tuning.json names."""
    out = {
        (Path(s.path) / str(t["job"])).resolve(): (str(arm), "trial")
        for s in sweeps
        if s.tuning
        for arm, spec in s.tuning["arms"].items()
        for t in spec.get("trials") or []
        if t.get("job")
    }
    studies = {
        (Path(s.path) / str(job)).resolve(): (str(arm), "study")
        for s in sweeps
        if s.tuning
        for arm, spec in s.tuning["arms"].items()
        for st in spec.get("studies") or []
        for job in st.get("final_jobs") or []
    }
    return out | studies | {path: (arm, "final") for path, arm, _ in final_jobs(sweeps)}


def score(tuning: dict, trial: dict) -> float:
    """A trial's score as the choice counted it: NaN where contract.valid_score refuses it (failed)."""
    value = trial.get("score")
    return float(value) if valid_score(tuning.get("metric", ""), value) else math.nan


def invalid(tuning: dict) -> list[str]:
    """The trials whose recorded score is there but not a valid one (a string, NaN, an accuracy outside [0, 1])."""
    return [
        f"{arm}: {t.get('job')} ({t.get('score')!r})"
        for arm, spec in tuning["arms"].items()
        for t in spec.get("trials") or []
        if t.get("score") is not None and math.isnan(score(tuning, t))
    ]


def grid(tuning: dict) -> pd.DataFrame:
    """Per arm, tuned key and value: ``score``, the best over the other tuned keys' values of the mean trial
    score over the tuning seeds (failed and diverged trials have none: ``n_failed``), and ``chosen``."""
    best, rows = (max if tuning.get("mode", "max") == "max" else min), []
    for arm, spec in tuning["arms"].items():
        trials = pd.DataFrame(
            [
                {"point": tuple(sorted(t["values"].items())), "score": score(tuning, t)}
                for t in spec.get("trials") or []
            ],
            columns=["point", "score"],
        )
        means = (
            trials.assign(score=pd.to_numeric(trials["score"]))
            .groupby("point", sort=False)["score"]
            .agg(["mean", "count", "size"])
        )
        for key, value in ((k, v) for k, values in tuning["grid"].items() for v in values):
            at = means[[dict(p).get(key) == value for p in means.index]]
            rows.append(
                {
                    "arm": arm,
                    "key": key,
                    "value": value,
                    "metric": tuning.get("metric", "score"),
                    "score": best(at["mean"].dropna(), default=math.nan),
                    "n": int(at["count"].sum()),
                    "n_failed": int((at["size"] - at["count"]).sum()),
                    "chosen": (spec.get("chosen") or {}).get(key) == value,
                }
            )
    return pd.DataFrame(rows, columns=["arm", "key", "value", "metric", "score", "n", "n_failed", "chosen"])


def at_edge(tuning: dict) -> list[tuple[str, str]]:
    """(arm, key) of every choice at the first or last value of its grid: the best may lie beyond it."""
    return [
        (arm, key)
        for arm, spec in tuning["arms"].items()
        for key, value in (spec.get("chosen") or {}).items()
        if tuning.get("method", "grid") == "grid"
        and len(tuning["grid"].get(key, [])) > 1
        and value in (tuning["grid"][key][0], tuning["grid"][key][-1])
    ]


def near_boundary(tuning: dict) -> list[tuple[str, int, str, str]]:
    """(arm, study, key, "low" | "high") of every study's choice in the outer 5% of its key's range
    (contract.boundary_side; log-scaled for log_uniform): the best may lie beyond the search space."""
    out = []
    for arm, spec in tuning["arms"].items():
        for st in spec.get("studies") or []:
            for key, d in (tuning.get("space") or {}).items():
                value = (st.get("chosen") or {}).get(key)
                if isinstance(value, (int, float)) and "lo" in d:
                    side = boundary_side(d["distribution"], d["lo"], d["hi"], value)
                    out += [(arm, int(st.get("study", 0)), key, side)] * bool(side)
    return out


def between_study_sd(means: np.ndarray) -> float:
    """How far the studies' choices disagree: the SD (ddof 1) of each study's mean final score; NaN under 2."""
    means = np.asarray(means, dtype=float)
    return float(np.std(means, ddof=1)) if len(means) >= 2 else math.nan


def pooled_seed_sd(groups: list) -> float:
    """The seed variance at a fixed setting: the root of the mean within-study variance (ddof 1) over the
    studies with at least two final seeds; NaN when none has."""
    variances = [np.var(np.asarray(g, dtype=float), ddof=1) for g in groups if len(g) >= 2]
    return float(np.sqrt(np.mean(variances))) if variances else math.nan


def final_values(runs: pd.DataFrame, path: Path, jobs: list, metric: str) -> list[float]:
    """``metric`` of the runs in the job folders ``jobs`` of the sweep at ``path`` (those that have it)."""
    by_dir = dict(zip(runs["run_dir"].astype(str), pd.to_numeric(runs[metric], errors="coerce")))
    values = [by_dir.get(str((Path(path) / j).resolve()), math.nan) for j in jobs]
    return [v for v in values if not math.isnan(v)]


def studies(tuning: dict, runs: pd.DataFrame, path: Path, metric: str = "final_test_acc") -> pd.DataFrame:
    """Per arm and study: the choice, its validation score, and the final runs' ``metric`` (mean, seed SD, n);
    ``median`` marks the study the verdict uses. Final runs are found by folder in ``runs`` (run_dir)."""
    rows = []
    for arm, spec in tuning["arms"].items():
        for st in spec.get("studies") or []:
            values = final_values(runs, path, st.get("final_jobs") or [], metric)
            rows.append(
                {
                    "arm": arm,
                    "study": int(st.get("study", 0)),
                    "median": int(st.get("study", 0)) == spec.get("median_study", 0),
                    "chosen": ", ".join(f"{k}={fmt_value(v)}" for k, v in (st.get("chosen") or {}).items()) or "none",
                    "val_score": st.get("score"),
                    "mean": float(np.mean(values)) if values else math.nan,
                    "seed_sd": float(np.std(values, ddof=1)) if len(values) >= 2 else math.nan,
                    "n": len(values),
                    "values": values,
                }
            )
    return pd.DataFrame(
        rows, columns=["arm", "study", "median", "chosen", "val_score", "mean", "seed_sd", "n", "values"]
    )


def spread(table: pd.DataFrame) -> pd.DataFrame:
    """Per arm: how far the studies disagree (between_study_sd) next to the seed variance (pooled_seed_sd)."""
    return pd.DataFrame(
        [
            {
                "arm": arm,
                "studies": len(d),
                "study_sd": between_study_sd(d["mean"].dropna()),
                "seed_sd": pooled_seed_sd(list(d["values"])),
            }
            for arm, d in table.groupby("arm", sort=False)
        ],
        columns=["arm", "studies", "study_sd", "seed_sd"],
    )


def warnings(tuning: dict) -> list[str]:
    edge = [f"{arm} ({key}={fmt_value(tuning['arms'][arm]['chosen'][key])})" for arm, key in at_edge(tuning)]
    many = int(tuning.get("studies", 1)) > 1
    near = [
        f"{arm}{f' study {s}' * many}: {key} at the {side} end ({fmt_value(_chosen(tuning, arm, s)[key])})"
        for arm, s, key, side in near_boundary(tuning)
    ]
    failed = [arm for arm, spec in tuning["arms"].items() if spec.get("all_failed") or not spec.get("chosen")]
    bad = invalid(tuning)
    return (
        [say("warn_tuning_edge", which=listing(edge))] * bool(edge)
        + [say("warn_tuning_boundary", which=listing(near))] * bool(near)
        + [say("warn_tuning_invalid", which=listing(bad))] * bool(bad)
        + [say("warn_tuning_failed", arm=arm) for arm in failed]
    )


def _chosen(tuning: dict, arm: str, study: int) -> dict:
    return next(st for st in tuning["arms"][arm]["studies"] if st.get("study", 0) == study).get("chosen") or {}


def protocol(tuning: dict) -> str:
    """The protocol in two sentences, and each arm's choice."""
    grid = tuning["grid"]
    chosen = [
        f"{arm}: "
        + (
            ", ".join(f"{k}={fmt_value(v)}" for k, v in spec["chosen"].items())
            if spec.get("chosen")
            else "none (every trial failed)"
        )
        for arm, spec in tuning["arms"].items()
    ]
    if tuning.get("method") == "quasirandom":
        return say(
            "tuned_qr",
            space=", ".join(f"{k} ~ {_dist(d)}" for k, d in tuning.get("space", {}).items()),
            studies=tuning.get("studies", 1),
            trials=tuning.get("trials_per_study", "?"),
            seed=tuning.get("halton_seed", "?"),
            tuning_seeds=seeds_text(tuning.get("tuning_seeds", [])),
            final_seeds=seeds_text(tuning.get("final_seeds", [])),
            metric=tuning.get("metric", "?"),
            chosen="; ".join(chosen),
        )
    return say(
        "tuned",
        trials=tuning.get("trials_per_arm", "?"),
        n=int(np.prod([len(v) for v in grid.values()])),
        grid=" × ".join(f"{k} ∈ {{{', '.join(map(fmt_value, v))}}}" for k, v in grid.items()),
        tuning_seeds=seeds_text(tuning.get("tuning_seeds", [])),
        final_seeds=seeds_text(tuning.get("final_seeds", [])),
        metric=tuning.get("metric", "?"),
        mode=tuning.get("mode", "max"),
        chosen="; ".join(chosen),
    )


def _dist(d: dict) -> str:
    if d.get("distribution") == "choice":
        return f"choice({', '.join(map(fmt_value, d.get('options', [])))})"
    return f"{d.get('distribution')}({fmt_value(d.get('lo'))}, {fmt_value(d.get('hi'))})"


def trial_points(tuning: dict) -> pd.DataFrame:
    """One row per trial and tuned key: its value, its score (NaN where failed or invalid), its arm and study,
    and whether it is the point its study chose: what the isolation plot of a quasi-random search draws."""
    rows = []
    for arm, spec in tuning["arms"].items():
        chosen = {int(st.get("study", 0)): st.get("chosen") for st in spec.get("studies") or []}
        for t in spec.get("trials") or []:
            study = int(t.get("study", 0))
            for key, value in t["values"].items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    rows.append({"arm": arm, "study": study, "key": key, "value": float(value),
                                 "score": score(tuning, t), "chosen": chosen.get(study) == t["values"]})  # fmt: skip
    return pd.DataFrame(rows, columns=["arm", "study", "key", "value", "score", "chosen"])


def envelope(values: np.ndarray, scores: np.ndarray, bins: int = 8, log: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The best score in each of ``bins`` equal-width bins of the value (log-spaced where ``log``), at the value of
    that best trial: the upper envelope an isolation plot is read by. Empty bins and failed trials are left out."""
    values, scores = np.asarray(values, dtype=float), np.asarray(scores, dtype=float)
    ok = np.isfinite(scores) & np.isfinite(values) & ((values > 0) if log else True)
    values, scores = values[ok], scores[ok]
    if not len(values):
        return np.array([]), np.array([])
    axis = np.log(values) if log else values
    edges = np.linspace(axis.min(), axis.max(), bins + 1)
    which = np.clip(np.digitize(axis, edges[1:-1]), 0, bins - 1)
    best = [np.flatnonzero(which == b)[np.argmax(scores[which == b])] for b in range(bins) if (which == b).any()]
    return values[best], scores[best]
