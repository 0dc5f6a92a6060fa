"""A tuned sweep's protocol from its ``tuning.json``: which runs are trials and which final, each arm's scores over
the grid, and what a reader must know (a choice at the edge of the grid, an arm whose every trial failed)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from .describe import fmt_value, listing, say, seeds_text


def layout(t: Any) -> bool:
    """Whether ``t`` has tuning.json's layout (README): a grid of lists, arms with trials of values (a number or null
    as score), a choice and final jobs (folder names)."""
    arms, grid = (t.get("arms"), t.get("grid")) if isinstance(t, dict) else (None, None)
    if not (isinstance(arms, dict) and isinstance(grid, dict) and all(isinstance(v, list) for v in grid.values())):
        return False

    def trial(x: Any) -> bool:
        score = x.get("score") if isinstance(x, dict) else None
        return (
            isinstance(x, dict)
            and isinstance(x.get("values"), dict)
            and all(v is None or isinstance(v, (str, int, float)) for v in x["values"].values())  # a list: no point
            and (score is None or isinstance(score, (int, float)) and not isinstance(score, bool))
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
    return out | {path: (arm, "final") for path, arm, _ in final_jobs(sweeps)}


def grid(tuning: dict) -> pd.DataFrame:
    """Per arm, tuned key and value: ``score``, the best over the other tuned keys' values of the mean trial
    score over the tuning seeds (failed and diverged trials have none: ``n_failed``), and ``chosen``."""
    best, rows = (max if tuning.get("mode", "max") == "max" else min), []
    for arm, spec in tuning["arms"].items():
        trials = pd.DataFrame(
            [{"point": tuple(sorted(t["values"].items())), "score": t.get("score")} for t in spec.get("trials") or []],
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
        if len(tuning["grid"].get(key, [])) > 1 and value in (tuning["grid"][key][0], tuning["grid"][key][-1])
    ]


def warnings(tuning: dict) -> list[str]:
    edge = [f"{arm} ({key}={fmt_value(tuning['arms'][arm]['chosen'][key])})" for arm, key in at_edge(tuning)]
    failed = [arm for arm, spec in tuning["arms"].items() if spec.get("all_failed") or not spec.get("chosen")]
    return [say("warn_tuning_edge", which=listing(edge))] * bool(edge) + [
        say("warn_tuning_failed", arm=arm) for arm in failed
    ]


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
