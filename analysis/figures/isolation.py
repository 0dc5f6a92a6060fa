"""The tuning figure: the validation metric against each tuned setting (a grid's isolation plot, or a
quasi-random search's trials)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from alternating_freeze.contract import ACCURACY, Objective, metric_objective

from .. import tuning
from ..measures import unit
from .style import grid, need, palette, ticks


def isolation(res, width: float) -> Figure:
    """The validation metric the tuning chose by (an accuracy in %, a loss in its unit) against each tuned value."""
    quasi = [s.tuning for s in res.sweeps if s.tuning and s.tuning.get("method") == "quasirandom"]
    if quasi:
        objective = metric_objective(quasi[0].get("metric", ""))
        return isolation_trials(pd.concat([tuning.trial_points(t) for t in quasi], ignore_index=True), width, objective)
    t = need(res.tuning, "not a tuned sweep (no tuning.json)")
    keys, u = list(dict.fromkeys(t["key"])), unit(metric_objective(t["metric"].iloc[0]))
    scale = 100 if u.unit == "%" else 1
    fig, axes = grid(width, 1, len(keys), sharey=True)
    for ax, key in zip(axes[0], keys):
        d = t[t["key"] == key].assign(value=lambda f: f["value"].astype(float), score=lambda f: f["score"] * scale)
        sns.lineplot(
            d, x="value", y="score", hue="arm", palette=(pal := palette(d["arm"])), marker="o", errorbar=None, ax=ax
        )
        chosen = d[d["chosen"]]
        ax.scatter(
            chosen["value"],
            chosen["score"],
            s=90,
            marker="*",
            c=[pal[a] for a in chosen["arm"]],
            edgecolors="black",
            linewidths=0.6,
            zorder=5,
            label="chosen",
        )
        for r in d[d["n_failed"] > 0].dropna(subset=["score"]).to_dict("records"):
            ax.annotate(
                f"{r['n_failed']} failed",
                (r["value"], r["score"]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize="small",
            )
        if d["value"].min() > 0 and d["value"].max() / d["value"].min() >= 10:
            ax.set_xscale("log")
        ticks(ax, d["value"])
        ax.set(xlabel=key, ylabel=f"mean {t['metric'].iloc[0]} ({u.unit})")
        ax.legend(frameon=False)
    return fig


def isolation_trials(t: pd.DataFrame, width: float, objective: Objective = ACCURACY) -> Figure:
    """A quasi-random search: per tuned key every trial's validation score against its value (failed trials as
    crosses at the worst end: 0, or a loss's highest), a colour per arm, each study's chosen trial starred, the
    binned best (tuning.envelope; of a loss the lowest) drawn."""
    keys = list(dict.fromkeys(need(t, "no trial with a numeric tuned value")["key"]))
    fig, axes = grid(width, 1, len(keys), sharey=True)
    pal, sign, u = palette(t["arm"]), objective.sign, unit(objective)
    scale, worst = (100, 0.0) if u.unit == "%" else (1, t["score"].max())
    for ax, key in zip(axes[0], keys):
        d = t[t["key"] == key]
        log = d["value"].min() > 0 and d["value"].max() / d["value"].min() >= 10
        for arm, a in d.groupby("arm", sort=False):
            ok = a[a["score"].notna()]
            ax.scatter(ok["value"], ok["score"] * scale, s=14, color=pal[arm], alpha=0.6, label=arm)
            failed = a[a["score"].isna()]
            ax.scatter(failed["value"], np.full(len(failed), worst), s=18, marker="x", color=pal[arm])
            x, y = tuning.envelope(a["value"], sign * a["score"], log=log)  # the envelope of the best either way
            ax.plot(x, sign * y * scale, color=pal[arm], lw=1.2)
            star = a[a["chosen"] & a["score"].notna()]
            ax.scatter(star["value"], star["score"] * scale, s=90, marker="*", color=pal[arm], edgecolors="black",
                       linewidths=0.6, zorder=5)  # fmt: skip
        if log:
            ax.set_xscale("log")
        ax.set(xlabel=key, ylabel="")
    axes[0][0].set_ylabel(f"validation score ({u.unit})")
    axes[0][0].legend(frameon=False, fontsize="small")
    return fig
