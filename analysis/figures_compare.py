"""Figures that compare configurations: paired differences, blocks, switching frequency, tuning. The data of
each comes from a function of its own (``*_data``), so that tests check it without reading pixels."""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from .describe import fmt_value
from .drawing import STANDARD, Inputs, grid, need, palette
from .paired import EQUAL_FLOPS
from .stats import t_interval

VIEWS = {"final_test_acc": "equal epochs", EQUAL_FLOPS: "equal training FLOPs"}
POINTS = dict(errorbar=None, markersize=3.5, capsize=0.05, err_kws={"linewidth": 1.2}, linewidth=1.2)


def _standard(ax, inp: Inputs, context_id: str) -> None:
    """Standard training's mean (dashed) and CI (grey band) in this context, in %."""
    acc = inp.done.loc[(inp.done["context_id"] == context_id) & (inp.done["strategy"] == "standard"), "final_test_acc"]
    if len(acc) and np.isfinite(lo_hi := inp.boot.interval(acc * 100)).all():
        ax.axhspan(*lo_hi, color="0.6", alpha=0.25, lw=0)
    if len(acc):
        ax.axhline(acc.mean() * 100, color=STANDARD, ls="--", lw=1, label="standard")


def paired_difference(inp: Inputs, width: float) -> tuple[Figure, dict]:
    p = need(inp.pairs[(inp.pairs["left_out"] == "") & inp.pairs["metric"].isin(list(VIEWS))],
             "no configuration has a standard baseline with matching seeds")
    p = p.assign(label=inp.configs.set_index("config_id")["label"].reindex(p["config_id"]).to_numpy(),
                 pp=p["diff"] * 100, view=p["metric"].map(VIEWS))
    order, views = [lab for lab in inp.configs["label"] if lab in set(p["label"])], list(dict.fromkeys(p["view"]))
    n = p[p["metric"] == "final_test_acc"].groupby("label").size()
    fig, axes = grid(width, 1, 1, height=0.3 * len(order) + 0.9)
    both = dict(data=p, x="pp", y="label", order=order, hue="view", hue_order=views, dodge=0.45, linestyle="none",
                ax=axes[0, 0])
    sns.pointplot(**both, errorbar=lambda v: t_interval(v, inp.boot.confidence), palette=["0.8"] * len(views),
                  markersize=0, err_kws={"linewidth": 4.5}, legend=False)
    sns.pointplot(**both, **POINTS | {"errorbar": inp.boot.interval, "capsize": 0.15}, palette=palette(views))
    axes[0, 0].axvline(0, color="0.3", lw=1, ls="--")
    axes[0, 0].set(xlabel="difference from standard training in test accuracy (pp)", ylabel="")
    if n.nunique() > 1:
        axes[0, 0].set_yticks(range(len(order)), [f"{lab} (n={n.get(lab, 0)})" for lab in order])
    axes[0, 0].legend(frameon=False)
    return fig, {"n": f"n={n.iloc[0]} paired seeds each" if n.nunique() == 1 else "n: seeds paired"}


def blocks_data(inp: Inputs) -> pd.DataFrame:
    """Completed runs of every context with more than one number of blocks: ``K``, ``schedule``, ``acc``
    (final test accuracy, %) and ``flops`` (training FLOPs, % of its standard training's mean)."""
    alt = inp.done[inp.done["strategy"] != "standard"]
    alt = alt[alt.groupby("context_id")["n_blocks"].transform("nunique") > 1]
    std = inp.done[inp.done["strategy"] == "standard"].groupby("context_id")["train_flops"].mean()
    return alt.assign(K=alt["n_blocks"].astype(int), schedule=alt["strategy_label"], acc=alt["final_test_acc"] * 100,
                      flops=alt["train_flops"].astype(float) / std.reindex(alt["context_id"]).to_numpy() * 100)


def blocks(inp: Inputs, width: float) -> tuple[Figure, dict]:
    d = need(blocks_data(inp), "no setting has more than one number of blocks")
    ctxs = list(dict.fromkeys(d["context_id"]))
    fig, axes = grid(width, 2, len(ctxs), height=2.3, sharex=True, sharey="row")
    for (j, k), (i, y) in ((a, b) for a in enumerate(ctxs) for b in enumerate(("acc", "flops"))):
        sns.pointplot(d[d["context_id"] == k], x="K", y=y, hue="schedule", palette=palette(d["schedule"]),
                      ax=axes[i, j], native_scale=True, dodge=0.2, legend=i + j == 0,
                      **POINTS | {"errorbar": inp.boot.interval})
        if i == 0:
            _standard(axes[i, j], inp, k)
        else:
            axes[i, j].axhline(100, color=STANDARD, ls="--", lw=1)
        axes[i, j].set(xticks=sorted(d["K"].unique()), xlabel="blocks (K)", title=inp.where.get(k, "") * (i == 0),
                       ylabel=("final test accuracy (%)", "training FLOPs\n(% of standard)")[i])
    handles, labels = axes[0, 0].get_legend_handles_labels()
    axes[0, 0].get_legend().remove()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3), frameon=False)
    return fig, {}


def frequency_data(inp: Inputs) -> pd.DataFrame:
    """Completed balanced alternating runs with ``period`` (optimizer steps a block trains per visit: ``every``
    batches, or ``every`` epochs x an epoch's steps) and ``line``, in contexts with two periods or more."""
    alt = inp.done[(inp.done["strategy"] == "alternating")]
    alt = alt[[pd.isna(s) or set(str(s).split(":")) == {fmt_value(e)} for s, e in zip(alt["steps"], alt["every"])]] \
        if len(alt) else alt
    first = inp.curves[inp.curves["in_stats"] & (inp.curves["epoch"] == 1)]
    spe = first.groupby("config_id")["step"].median().reindex(alt["config_id"]).to_numpy()
    others = [c for c in ("order", "start", "optimizer_state", "freeze_bn_stats", "split", "splits") if
              c in alt and alt[c].nunique() > 1]
    line = [", ".join(["every N batches" if r["unit"] == "batch" else f"every N {r['unit']}s (= N × {fmt_value(s)} "
                       f"steps)", *(f"{c}={fmt_value(r[c])}" for c in others)])
            for r, s in zip(alt.to_dict("records"), spe)]
    alt = alt.assign(line=line, acc=alt["final_test_acc"] * 100, period=alt["every"].astype(float).to_numpy()
                     * np.where(alt["unit"] == "batch", 1, spe)) if len(alt) else alt.assign(period=[], line=[], acc=[])
    alt = alt[np.isfinite(alt["period"])]
    return alt[alt.groupby("context_id")["period"].transform("nunique") > 1]


def frequency(inp: Inputs, width: float) -> tuple[Figure, dict]:
    d = need(frequency_data(inp), "no switching-frequency variation (fewer than two switching periods)")
    ctxs = list(dict.fromkeys(d["context_id"]))
    fig, axes = grid(width, 1, len(ctxs), sharey=True)
    for ax, k in zip(axes[0], ctxs):
        sns.pointplot(d[d["context_id"] == k], x="period", y="acc", hue="line", palette=palette(d["line"]), ax=ax,
                      native_scale=True, log_scale=(2, False), **POINTS | {"errorbar": inp.boot.interval})
        _standard(ax, inp, k)
        ticks = sorted(d.loc[d["context_id"] == k, "period"].unique())
        ax.set_xticks(ticks, map(fmt_value, ticks), minor=False)
        ax.minorticks_off()
        ax.set(xlabel="optimizer steps per block visit (log2)", ylabel="final test accuracy (%)",
               title=inp.where.get(k))
        ax.legend(frameon=False)
    return fig, {}


def isolation(inp: Inputs, width: float) -> tuple[Figure, dict]:
    t = need(inp.extra.get("tuning", pd.DataFrame()), "not a tuned sweep (no tuning.json)")
    keys = list(dict.fromkeys(t["key"]))
    fig, axes = grid(width, 1, len(keys), sharey=True)
    for ax, key in zip(axes[0], keys):
        d = t[t["key"] == key].assign(value=lambda f: f["value"].astype(float), score=lambda f: f["score"] * 100)
        sns.lineplot(d, x="value", y="score", hue="arm", palette=(pal := palette(d["arm"])), marker="o", errorbar=None,
                     ax=ax)
        chosen = d[d["chosen"]]
        ax.scatter(chosen["value"], chosen["score"], s=90, marker="*", c=[pal[a] for a in chosen["arm"]],
                   edgecolors="black", linewidths=0.6, zorder=5, label="chosen")
        for r in d[d["n_failed"] > 0].dropna(subset=["score"]).to_dict("records"):
            ax.annotate(f"{r['n_failed']} failed", (r["value"], r["score"]), textcoords="offset points", xytext=(4, 4),
                        fontsize="small")
        if d["value"].min() > 0 and d["value"].max() / d["value"].min() >= 10:
            ax.set_xscale("log")
        ax.set_xticks(sorted(d["value"].unique()), map(fmt_value, sorted(d["value"].unique())), minor=False)
        ax.minorticks_off()
        ax.set(xlabel=key, ylabel=f"mean {t['metric'].iloc[0]} (%)")
        ax.legend(frameon=False)
    return fig, {}
