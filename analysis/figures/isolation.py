"""The tuning figure: the validation metric against each tuned setting (a grid's isolation plot, or a
quasi-random search's trials)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from .. import tuning
from .style import grid, need, palette, ticks


def isolation(res, width: float) -> Figure:
    quasi = [s.tuning for s in res.sweeps if s.tuning and s.tuning.get("method") == "quasirandom"]
    if quasi:
        return isolation_trials(pd.concat([tuning.trial_points(t) for t in quasi], ignore_index=True), width)
    t = need(res.tuning, "not a tuned sweep (no tuning.json)")
    keys = list(dict.fromkeys(t["key"]))
    fig, axes = grid(width, 1, len(keys), sharey=True)
    for ax, key in zip(axes[0], keys):
        d = t[t["key"] == key].assign(value=lambda f: f["value"].astype(float), score=lambda f: f["score"] * 100)
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
        ax.set(xlabel=key, ylabel=f"mean {t['metric'].iloc[0]} (%)")
        ax.legend(frameon=False)
    return fig


def isolation_trials(t: pd.DataFrame, width: float) -> Figure:
    """A quasi-random search: per tuned key every trial's validation score against its value (failed trials as
    crosses at 0), a colour per arm, each study's chosen trial starred, the binned best (tuning.envelope) drawn."""
    keys = list(dict.fromkeys(need(t, "no trial with a numeric tuned value")["key"]))
    fig, axes = grid(width, 1, len(keys), sharey=True)
    pal = palette(t["arm"])
    for ax, key in zip(axes[0], keys):
        d = t[t["key"] == key]
        log = d["value"].min() > 0 and d["value"].max() / d["value"].min() >= 10
        for arm, a in d.groupby("arm", sort=False):
            ok = a[a["score"].notna()]
            ax.scatter(ok["value"], ok["score"] * 100, s=14, color=pal[arm], alpha=0.6, label=arm)
            failed = a[a["score"].isna()]
            ax.scatter(failed["value"], np.zeros(len(failed)), s=18, marker="x", color=pal[arm])
            x, y = tuning.envelope(a["value"], a["score"], log=log)
            ax.plot(x, y * 100, color=pal[arm], lw=1.2)
            star = a[a["chosen"] & a["score"].notna()]
            ax.scatter(star["value"], star["score"] * 100, s=90, marker="*", color=pal[arm], edgecolors="black",
                       linewidths=0.6, zorder=5)  # fmt: skip
        if log:
            ax.set_xscale("log")
        ax.set(xlabel=key, ylabel="")
    axes[0][0].set_ylabel("validation score (%)")
    axes[0][0].legend(frameon=False, fontsize="small")
    return fig
