"""The report's tables as Markdown, and the two a paper needs as booktabs LaTeX (pandas' Styler). A cell is text or
an estimate ``(mean, sd, ci_low, ci_high)``; its column's ``Col`` says how to print it and which end is best."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any, Optional

import pandas as pd

from alternating_freeze import contract as c
from alternating_freeze.contract import ACCURACY, Objective

from .describe import flops_unit, fmt_value, is_missing
from .measures import equal_flops, headline_metric, unit
from .measures import unit as unit_of  # where ``unit`` names a FLOP unit
from .paired import EQUAL_FLOPS

DASH, NONE = "–", (math.nan,) * 4


@dataclass(frozen=True)
class Col:
    scale: float = 1.0
    digits: int = 2
    signed: bool = False
    best: Optional[str] = None  # "max" | "min": the best mean of the column is bold in LaTeX


def number(x: Any, digits: int = 2, signed: bool = False) -> str:
    ok = not is_missing(x) and math.isfinite(float(x))
    return f"{float(x):{'+' if signed else ''}.{digits}f}" if ok else DASH


def p_text(p: Any) -> str:
    return DASH if is_missing(p) else "<0.001" if p < 0.001 else f"{p:.3f}"


def cell(v: Any, col: Col = Col(), tex: bool = False) -> str:
    """ "97.31 ± 0.42 [96.95, 97.66]" (Markdown) or "97.31\\,{\\scriptsize [96.95, 97.66]}" (LaTeX)."""
    if not isinstance(v, tuple):
        return str(v)
    mean, sd, lo, hi = (math.nan if is_missing(x) else x * col.scale for x in v)
    if math.isnan(mean):
        return "--" if tex else DASH
    ci = f"[{number(lo, col.digits, col.signed)}, {number(hi, col.digits, col.signed)}]" * math.isfinite(lo)
    text = number(mean, col.digits, col.signed)
    if tex:
        return text + f"\\,{{\\scriptsize {ci}}}" * bool(ci)
    return text + f" ± {number(sd, col.digits)}" * math.isfinite(sd) + f" {ci}" * bool(ci)


def markdown(frame: pd.DataFrame, cols: Optional[dict] = None) -> str:
    rows = [
        [cell(v, (cols or {}).get(c, Col())).replace("|", "\\|") for c, v in r.items()]
        for r in frame.to_dict("records")
    ]
    return "\n".join("| " + " | ".join(r) + " |" for r in [list(frame.columns), ["---"] * frame.shape[1], *rows])


def latex(frame: pd.DataFrame, cols: dict, caption: str) -> str:
    """A booktabs table (``\\usepackage{booktabs}``): mean [CI] per cell, the best mean of a column bold."""

    def bold(column: pd.Series) -> list[str]:
        means = pd.Series([v[0] if isinstance(v, tuple) else math.nan for v in column], dtype=float)
        best = means.max() if cols[column.name].best == "max" else means.min()
        return ["textbf:--rwrap;" if m == best else "" for m in means]

    styler = (
        frame.style.hide(axis="index")
        .format_index(escape="latex", axis=1)
        .format({c: partial(cell, col=cols.get(c, Col()), tex=True) for c in frame}, escape="latex")
    )
    styler = styler.apply(bold, subset=[c for c, col in cols.items() if col.best])
    return styler.set_table_styles([{"selector": "small", "props": ":;"}]).to_latex(
        column_format="l" + "r" * (frame.shape[1] - 1),
        position="t",
        position_float="centering",
        hrules=True,
        caption=caption,
        environment="table",
    )


def estimate(row: Any, mean: str = "mean") -> tuple:
    return NONE if row is None else (row[mean], row.get("std", math.nan), row["ci_low"], row["ci_high"])


def glance(stats: pd.DataFrame, paired: pd.DataFrame, objective: Objective = ACCURACY) -> tuple[pd.DataFrame, dict]:
    """Every configuration (standard training first in its context) against standard training, in one row each."""
    acc = stats[stats["metric"] == headline_metric(objective)].set_index("config_id")
    flops = stats[stats["metric"] == "train_flops"].set_index("config_id")["mean"]
    by = {
        m: paired[(paired["metric"] == m) & paired["baseline_id"].notna()].set_index("config_id")
        for m in (headline_metric(objective), equal_flops(objective))
    }
    u = unit(objective)
    value, epochs = f"{u.name} ({u.unit})", f"vs standard, equal epochs ({u.diff_unit})"
    at_flops = f"vs standard, equal FLOPs ({u.diff_unit})"
    rows = []
    for cid, r in acc.iterrows():
        p, e = (by[m].loc[cid] if cid in by[m].index else None for m in by)
        std = r["strategy"] == "standard"
        rows.append(
            {
                "configuration": r["label"],
                "seeds": str(int(r["n"])),
                value: estimate(r),
                epochs: estimate(p, "mean_diff") if p is not None else "baseline" if std else "no baseline",
                "p (Holm)": p_text(p["p_holm"]) if p is not None else "",
                at_flops: estimate(e, "mean_diff") if e is not None else "",
                "p (Holm), FLOPs": p_text(e["p_holm"]) if e is not None else "",
                "FLOPs (% of standard)": (
                    100.0 if std else flops.get(cid) / flops.get(p["baseline_id"]) * 100,
                    *NONE[1:],
                )
                if std or p is not None
                else "",
            }
        )
    diff = Col(u.scale, u.digits, signed=True, best=objective.direction)
    return pd.DataFrame(rows), {
        value: Col(u.scale, u.digits, best=objective.direction),
        epochs: diff,
        at_flops: diff,
        "FLOPs (% of standard)": Col(1, 1, best="min"),
    }


PER_LOSS = (  # first for runs judged by loss (a text's: nats per character)
    ("final_test_loss", "final test loss (nats/char)", Col(1, 3, best="min")),
    ("test_loss_at_best_val", "test loss at best val epoch (nats/char)", Col(1, 3, best="min")),
    ("best_test_loss", "best test loss (nats/char)", Col(1, 3, best="min")),
)
PER_CONFIG = (
    ("final_test_acc", "final test acc (%)", Col(100, best="max")),
    ("test_acc_at_best_val", "test acc at best val epoch (%)", Col(100, best="max")),
    ("best_test_acc", "best test acc (%)", Col(100, best="max")),
    ("train_s", "train time (s)", Col(best="min")),
    ("train_flops", "train {unit}", Col(1, 3, best="min")),
    ("epochs_to_90pct", "epochs to 90%", Col(1, 1)),
    ("loss_std", "loss std", Col(1, 4)),
)


def per_config(stats: pd.DataFrame, objective: Objective = ACCURACY) -> tuple[pd.DataFrame, dict]:
    """mean ± sd [CI] of every metric some configuration has, one row per configuration."""
    scale, unit = flops_unit(stats.loc[stats["metric"] == "train_flops", "mean"])
    shown = [
        (m, name.format(unit=unit), Col(1 / scale, col.digits, best=col.best) if m == "train_flops" else col)
        for m, name, col in (PER_CONFIG if objective.measure == "acc" else (*PER_LOSS, *PER_CONFIG))
        if (stats.loc[stats["metric"] == m, "n"] > 0).any()
    ]
    rows = []
    for _, g in stats.groupby("config_id", sort=False):
        g, r = g.set_index("metric"), g.iloc[0]
        n = int(g.loc[headline_metric(objective), "n"])
        rows.append(
            {
                "configuration": r["label"],
                "completed seeds": f"{n} of {r['n_runs']} ({r['excluded']})" if r["n_excluded"] else str(n),
            }
            | {name: estimate(g.loc[m]) for m, name, _ in shown}
        )
    return pd.DataFrame(rows), {name: col for _, name, col in shown}


def latex_tables(result) -> list[tuple[str, str]]:
    """(name, booktabs text) of the tables a paper takes: at a glance, and per configuration."""
    return [
        (
            "glance",
            latex(
                *glance(result.stats, result.paired),
                "Each configuration and its paired difference from standard training (mean [CI]).",
            ),
        ),
        ("per_configuration", latex(*per_config(result.stats), "Per configuration: mean over seeds [CI].")),
    ]


QUANTITIES = {
    "final_test_acc": ("test accuracy, equal epochs (%)", 100, 2),  # name, scale (None: FLOPs), digits
    EQUAL_FLOPS: ("test accuracy, equal FLOPs (%)", 100, 2),
    "final_test_loss": ("test loss, equal epochs (nats/char)", 1, 3),
    equal_flops(c.LOSS): ("test loss, equal FLOPs (nats/char)", 1, 3),
    "train_s": ("train time (s)", 1, 2),
    "train_flops": ("train {unit}", None, 3),
}


def comparison(paired: pd.DataFrame, objective: Objective = ACCURACY) -> pd.DataFrame:
    """Every statistic of the paired comparisons, one row per quantity and configuration, in the quantity's unit
    (``objective``: which way is better; every quantity's difference is configuration minus standard)."""
    scale, unit = flops_unit(paired.loc[paired["metric"] == "train_flops", "mean_config"])
    rows = []
    for r in paired.sort_values("metric", key=lambda m: m.map(list(QUANTITIES).index), kind="stable").to_dict(
        "records"
    ):
        name, k, digits = QUANTITIES[r["metric"]]
        k = 1 / scale if k is None else k
        lo, hi = (number(r[c] * k, digits, True) for c in ("t_ci_low", "t_ci_high"))
        rows.append(
            {
                "configuration": r["label"],
                "quantity": name.format(unit=unit),
                "baseline": r["baseline_label"] if isinstance(r["baseline_label"], str) else "none",
                "pairs": str(int(r["n_pairs"])),
                "configuration mean": number(r["mean_config"] * k, digits),
                "standard mean": number(r["mean_baseline"] * k, digits),
                "difference [bootstrap CI]": cell(estimate(r, "mean_diff"), Col(k, digits, True)),
                "change (%)": number(
                    r["mean_diff"] / r["mean_baseline"] * 100 if r["mean_baseline"] else None, 1, True
                ),
                "t-interval": f"[{lo}, {hi}]",
                "sd of differences": number(r["sd_diff"] * k, digits),
                "d_z": number(r["d_z"]),
                "p (paired t)": p_text(r["p_ttest"]),
                "p (Holm)": p_text(r["p_holm"]),
                "p (Wilcoxon)": p_text(r["p_wilcoxon"]),
                "notes": r["note"],
            }
        )
    return pd.DataFrame(rows)


def blocks(
    stats: pd.DataFrame, paired: pd.DataFrame, configs: pd.DataFrame, where: dict, objective: Objective = ACCURACY
) -> pd.DataFrame:
    """Schedules by number of blocks K: the paired difference in the objective's final test value (accuracy in pp, a
    loss in its unit) from standard training, at what FLOPs."""
    u, main = unit_of(objective), headline_metric(objective)
    diff = paired[(paired["metric"] == main) & paired["baseline_id"].notna()].set_index("config_id")
    flops = stats[stats["metric"] == "train_flops"].set_index("config_id")["mean"]
    cfg = configs[configs["config_id"].isin(diff.index)]
    cfg = cfg[cfg.groupby("context_id")["n_blocks"].transform("nunique") > 1]
    cells = {
        (
            ", ".join(filter(None, [r["strategy_label"], where.get(r["context_id"])])),
            f"K={r['n_blocks']}",
        ): f"{number(diff.loc[r['config_id'], 'mean_diff'] * u.scale, u.digits, True)} {u.diff_unit} at "
        f"{number(flops[r['config_id']] / flops[diff.loc[r['config_id'], 'baseline_id']] * 100, 0)}% FLOPs"
        for r in cfg.to_dict("records")
    }
    ks = sorted({k for _, k in cells}, key=lambda k: int(k[2:]))
    return pd.DataFrame(
        [{"schedule": r} | {k: cells.get((r, k), DASH) for k in ks} for r in dict.fromkeys(r for r, _ in cells)]
    )


def _cost(x: Any, scale: float = 1.0) -> str:
    return DASH if is_missing(x) else "not reached" if math.isinf(x) else f"{x / scale:.3g}"


def target(frame: pd.DataFrame, objective: Objective = ACCURACY) -> pd.DataFrame:
    """Time to target per configuration (``speed.summary``), for reading."""
    scale, unit = flops_unit(frame["median_flops"].replace(math.inf, math.nan))
    u = unit_of(objective)
    name = "target (%)" if objective.measure == "acc" else f"target ({u.unit})"
    return pd.DataFrame(
        [
            {
                "configuration": r["label"],
                name: f"{number(r['target_acc'] * u.scale, 1 if objective.measure == 'acc' else 3)} ({r['target_on']})",
                "reached": f"{r['reached']} of {r['runs']}",
                f"median {unit} to target": _cost(r["median_flops"], scale),
                "median s to target": _cost(r["median_s"]),
                "vs standard: sooner / later / neither": " / ".join(
                    str(int(r[k])) for k in ("sooner", "later", "neither")
                )
                + f" of {int(r['pairs'])}"
                if r.get("pairs", 0) > 0
                else "",
                "median FLOPs ratio to standard": _cost(r.get("median_flops_ratio")),
            }
            for r in frame.to_dict("records")
        ]
    )


def tuning(grid: pd.DataFrame) -> pd.DataFrame:
    """The tuning grid per arm and tuned key: the mean score at each value, the chosen one bold."""
    rows = {}
    for r in grid.to_dict("records"):
        loss = c.metric_objective(r["metric"]).measure != "acc"  # a loss in its own unit, an accuracy in %
        text = number(r["score"] * (1 if loss else 100), 3 if loss else 2) + f" ({r['n_failed']} failed)" * bool(
            r["n_failed"]
        )
        rows.setdefault((r["arm"], r["key"]), {})[fmt_value(r["value"])] = f"**{text}**" if r["chosen"] else text
    return pd.DataFrame([{"arm": arm, "key": key} | cells for (arm, key), cells in rows.items()]).fillna("")
