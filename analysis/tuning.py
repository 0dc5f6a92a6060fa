"""A tuned sweep's protocol from its ``tuning.json``: which runs are trials and which final, the grid, each arm's
trials and choice, and what a reader must know (a choice at the edge of the grid, an arm whose every trial failed).
The verdict itself compares the final runs (their tuned keys are left out of what a baseline must share)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .describe import fmt_value, listing, seeds_text


def layout(t: Any) -> bool:
    """Whether ``t`` has tuning.json's layout (README): a grid of lists, arms with trials of values and a choice."""
    arms = t.get("arms") if isinstance(t, dict) else None
    if not (isinstance(arms, dict) and isinstance(t.get("grid"), dict)
            and all(isinstance(v, list) for v in t["grid"].values())):
        return False
    return all(isinstance(a, dict) and isinstance(a.get("chosen") or {}, dict) and isinstance(a.get("trials", []), list)
               and all(isinstance(x, dict) and isinstance(x.get("values"), dict) for x in a.get("trials", []))
               for a in arms.values())


def roles(sweeps: list) -> dict[Path, tuple[str, str]]:
    """Run folder -> (arm, "trial" | "final") for every job a tuning.json names."""
    out = {}
    for s in (s for s in sweeps if s.tuning):
        for arm, spec in s.tuning["arms"].items():
            trials = [t.get("job") for t in spec.get("trials") or []]
            for role, jobs in (("trial", trials), ("final", spec.get("final_jobs") or [])):
                out |= {(Path(s.path) / str(job)).resolve(): (str(arm), role) for job in jobs if job}
    return out


def grid(tuning: dict) -> pd.DataFrame:
    """Per arm, tuned key and value: ``score``, the best over the other tuned keys' values of the mean trial
    score over the tuning seeds (failed and diverged trials have none: ``n_failed``), and ``chosen``."""
    best = max if tuning.get("mode", "max") == "max" else min
    rows = []
    for arm, spec in tuning["arms"].items():
        trials = pd.DataFrame([{"point": tuple(sorted(t["values"].items())), "score": t.get("score")}
                               for t in spec.get("trials") or []], columns=["point", "score"])
        means = trials.assign(score=pd.to_numeric(trials["score"])).groupby("point", sort=False)["score"].agg(
            ["mean", "count", "size"])
        for key, value in ((k, v) for k, values in tuning["grid"].items() for v in values):
            at = means[[dict(p).get(key) == value for p in means.index]]
            scores = at["mean"].dropna()
            rows.append({"arm": arm, "key": key, "value": value, "metric": tuning.get("metric", "score"),
                         "score": best(scores) if len(scores) else math.nan, "n": int(at["count"].sum()),
                         "n_failed": int((at["size"] - at["count"]).sum()),
                         "chosen": (spec.get("chosen") or {}).get(key) == value})
    return pd.DataFrame(rows, columns=["arm", "key", "value", "metric", "score", "n", "n_failed", "chosen"])


def at_edge(tuning: dict) -> list[tuple[str, str]]:
    """(arm, key) of every choice at the first or last value of its grid: the best may lie beyond it."""
    return [(arm, key) for arm, spec in tuning["arms"].items() for key, value in (spec.get("chosen") or {}).items()
            if len(tuning["grid"].get(key, [])) > 1 and value in (tuning["grid"][key][0], tuning["grid"][key][-1])]


def warnings(tuning: dict) -> list[str]:
    edge = [f"{arm} ({key}={fmt_value(tuning['arms'][arm]['chosen'][key])})" for arm, key in at_edge(tuning)]
    failed = [arm for arm, spec in tuning["arms"].items() if spec.get("all_failed") or not spec.get("chosen")]
    return [f"Tuning: the chosen value lies at the edge of its grid for {listing(edge)}: the best setting may lie "
            f"beyond the grid, so this arm may be under-tuned; extend the grid and rerun."] * bool(edge) + [
        f"Tuning: every trial of {arm} diverged or failed: it has no tuned setting and no final runs, and is not in "
        f"the verdict." for arm in failed]


def protocol(tuning: dict) -> str:
    """The protocol in two sentences, and each arm's choice."""
    sizes = [len(v) for v in tuning["grid"].values()]
    grid_text = " × ".join(f"{k} ∈ {{{', '.join(map(fmt_value, v))}}}" for k, v in tuning["grid"].items())
    chosen = [f"{arm}: " + (", ".join(f"{k}={fmt_value(v)}" for k, v in spec["chosen"].items()) if spec.get("chosen")
                            else "none (every trial failed)") for arm, spec in tuning["arms"].items()]
    return (f"Tuned protocol (tuning.json): every arm had the same budget of {tuning.get('trials_per_arm', '?')} "
            f"trials, the grid {grid_text} ({int(np.prod(sizes))} settings) on tuning seeds "
            f"{seeds_text(tuning.get('tuning_seeds', []))}; each arm's setting is the one with the best mean "
            f"{tuning.get('metric', '?')} ({tuning.get('mode', 'max')}) over them, on validation data. The final runs "
            f"use seeds {seeds_text(tuning.get('final_seeds', []))} at each arm's chosen setting; the verdict compares "
            f"only them, paired by seed with standard training's final runs, on test metrics. Chosen: "
            + "; ".join(chosen) + ".")
