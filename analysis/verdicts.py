"""What the report concludes: the setting in one line, each comparison's verdict, and the headline that leads the
report (what was found, at what strength, and what keeps a reader from trusting it)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alternating_freeze.contract import ACCURACY, Objective

from .describe import fmt_value, is_missing, say
from .loading import STATUSES
from .measures import equal_flops, headline_metric, unit
from .stats import MIN_SEEDS


def by_status(runs: pd.DataFrame) -> pd.Series:
    return runs["status"].value_counts().reindex([s for s in STATUSES if s in set(runs["status"])])


def span(values: pd.Series) -> str:
    vals = sorted(values.dropna().unique(), key=lambda v: (str(type(v)), v))
    if len(vals) > 3 and all(isinstance(v, (int, float, np.number)) for v in vals):
        return f"{fmt_value(vals[0])}-{fmt_value(vals[-1])}"
    return "/".join(map(fmt_value, vals)) or "-"


def context(runs: pd.DataFrame) -> str:
    """The runs in one line: "digits, MLP depth 4/6 width 128, 20 epochs, 5 seeds per configuration"; a GPT by its
    layers, heads, width and context."""
    r = runs.reindex(columns=["dataset", "subset", "model", "depth", "width", "batchnorm", "epochs", "config_id"])
    if r["dataset"].isna().all():
        return "no run with a readable config"
    data = r["dataset"].astype(str) + r["subset"].map(lambda s: "" if is_missing(s) else f" (subset {s})")
    counts = runs.groupby("config_id")["seed"].nunique()
    lo, hi = (int(counts.min()), int(counts.max())) if len(counts) else (0, 0)
    if r["model"].eq("gpt").all():  # a GPT is sized by its own keys (its config also carries unused depth, width)
        g = runs.reindex(columns=[f"model.{k}" for k in ("n_layer", "n_head", "n_embd", "block_size")])
        net = "GPT {} layers, {} heads, width {}, context {}".format(*(span(g[k]) for k in g))
    else:
        net = f"{span(r['model']).upper()} depth {span(r['depth'])} width {span(r['width'])}"
        net += " batchnorm" * bool(r["batchnorm"].eq(True).all())
    return (
        f"{', '.join(sorted(data.unique()))}, {net}, {span(r['epochs'])} epochs, "
        + (f"{hi} seed{'s' * (hi != 1)}" if lo == hi else f"{lo}-{hi} seeds")
        + " per configuration" * (r["config_id"].nunique() > 1)
    )


def verdict(paired: pd.DataFrame, metric: str, what: str, alpha: float, objective: Objective = ACCURACY) -> str:
    """How many comparisons of ``metric`` differ from standard at Holm-adjusted p < alpha, and which way (better:
    higher for an accuracy, lower for a loss)."""
    mine = paired[paired["metric"] == metric]
    rows = mine[mine["p_holm"].notna()]
    same = mine[mine["p_holm"].isna() & (mine["n_pairs"] >= 2) & (mine["sd_diff"] == 0) & (mine["mean_diff"] != 0)]
    constant = " " + say("constant", n=len(same), labels=", ".join(same["label"])) if len(same) else ""
    if rows.empty:
        return f"{what}:{constant}" if constant else ""
    low, high = (int(((rows["p_holm"] < alpha) & (rows["mean_diff"] * sign > 0)).sum()) for sign in (-1, 1))
    rest, n = len(rows) - low - high, rows["n_pairs"]
    better, worse = (f"{high} higher", f"{low} lower")
    if objective.direction == "min":
        better, worse = (f"{low} lower (better)", f"{high} higher (worse)")
    return (
        say(
            "verdict",
            what=what,
            n=len(rows),
            seeds=n.min() if n.min() == n.max() else f"{n.min()}-{n.max()}",
            better=better,
            worse=worse,
            alpha=f"{alpha:g}",
            rest=say("verdict_rest", n=rest) if rest else ".",
            tentative=" " + say("tentative", min=MIN_SEEDS) if n.min() < MIN_SEEDS else "",
        )
        + constant
    )


def as_one(table: pd.DataFrame, never: set, same: list) -> pd.DataFrame:
    """``table`` without the configurations that never trained some block (``never``: config ids), and each
    group of ``same`` runs (labels) as one row, labelled with every name it goes by."""
    table = table[~table["config_id"].isin(never)]
    for group in same:
        rows = table["label"].isin(group)
        first = table.index[rows][table.loc[rows, "label"].eq(group[0]).to_numpy()]
        table = table.drop(table.index[rows].difference(first))
        table.loc[first, "label"] = " = ".join(group)
    return table


def no_baseline(stats: pd.DataFrame, objective: Objective = ACCURACY) -> str:
    """The headline of a sweep without standard training: its arms against each other, no verdict."""
    acc = stats[(stats["metric"] == headline_metric(objective)) & stats["mean"].notna()]
    if len(acc) < 2:
        return ""
    if objective.measure == "acc":
        top, low = acc.loc[acc["mean"].idxmax()], acc.loc[acc["mean"].idxmin()]
        return (
            f"**No standard-training baseline in this sweep: its {len(acc)} configurations are compared with each "
            f"other only. Highest mean final test accuracy: {top['label']} ({top['mean'] * 100:.2f}%); lowest: "
            f"{low['label']} ({low['mean'] * 100:.2f}%); see the statistics table for their intervals.**"
        )
    top, low = acc.loc[acc["mean"].idxmin()], acc.loc[acc["mean"].idxmax()]
    return (
        f"**No standard-training baseline in this sweep: its {len(acc)} configurations are compared with each "
        f"other only. Lowest (best) mean final test {objective.words}: {top['label']} ({objective.show(top['mean'])});"
        f" highest: {low['label']} ({objective.show(low['mean'])}); see the statistics table for their intervals.**"
    )


def headline(
    paired: pd.DataFrame,
    alpha: float,
    tuned: bool,
    stats: pd.DataFrame | None = None,
    never: set = frozenset(),
    same: list = (),
    objective: Objective = ACCURACY,
) -> str:
    """One sentence with numbers: does any configuration beat standard training (higher accuracy, or lower loss for
    runs judged by loss), and how far off is the best (arms that never trained some block left out, the same runs
    counted once); without a baseline, the arms against each other."""
    paired = as_one(paired, never, same) if len(paired) else paired
    main, flops = headline_metric(objective), equal_flops(objective)
    views = {m: paired[(paired["metric"] == m) & (paired["n_pairs"] > 0)] for m in (main, flops)}
    if views[main].empty:
        return no_baseline(as_one(stats, never, same), objective) if stats is not None and len(stats) else ""
    sign, u = objective.sign, unit(objective)

    def best(rows: pd.DataFrame, where: str) -> str:
        r = rows.loc[(rows["mean_diff"] * sign).idxmax()]
        lo, hi = r["ci_low"] * u.scale, r["ci_high"] * u.scale
        ci = f" [{lo:+.{u.digits}f}, {hi:+.{u.digits}f}]" if r["n_pairs"] > 1 else ""
        tell = (
            f" (Holm-adjusted p < {alpha:g})"
            if r["p_holm"] < alpha
            else ", which these seeds cannot tell from no difference"
        )
        if objective.measure == "acc":
            return (
                f"{where} the best, {r['label']}, is {abs(r['mean_diff']) * 100:.2f} pp "
                f"{'higher' if r['mean_diff'] > 0 else 'lower'}{ci}{tell}"
            )
        way = "lower (better)" if r["mean_diff"] < 0 else "higher (worse)"
        return (
            f"{where} the best, {r['label']}, has a final test {objective.words} of {objective.show(r['mean_config'])}"
            f" against standard training's {objective.show(r['mean_baseline'])}, {objective.show_diff(r['mean_diff'])}"
            f" {way}{ci}{tell}"
        )

    wins = {m: v[(v["p_holm"] < alpha) & (v["mean_diff"] * sign > 0)] for m, v in views.items()}
    setting = "at tuned settings" if tuned else "at the settings given (not tuned)"
    parts = [best(v, where) for v, where in zip(views.values(), ("at equal epochs", "at equal FLOPs")) if len(v)]
    by = "" if objective.measure == "acc" else f" in test {objective.words}"
    lead = (
        f"No configuration beats standard training{by} {setting}"
        if not any(len(w) for w in wins.values())
        else f"{len(wins[main])} of {len(views[main])} configurations beat standard training{by} "
        f"{setting} at equal epochs and {len(wins[flops])} at equal FLOPs (Holm-adjusted p < {alpha:g})"
    )
    return f"**{lead}: {'; '.join(parts)}.**"
