"""Figures that compare configurations: each run's final value, the paired difference from standard training,
the final test value of the runs' objective (accuracy, or a text's loss) and FLOPs against the number of blocks,
and that value against switching frequency."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from alternating_freeze.contract import schedule_label

from ..columns import scheduler_options
from ..describe import fmt_value
from ..measures import equal_flops, headline_metric, unit
from ..paired import EQUAL_FLOPS
from ..stats import context_names, t_interval
from .style import (
    MARKERS,
    STANDARD,
    UNTIMED,
    final_value,
    grid,
    legend_below,
    make_room,
    need,
    palette,
    points,
    standard_line,
    tick_lines,
    ticks,
    value_label,
    wrapped,
)

NO_PERIODS = "no switching-frequency variation (fewer than two switching periods)"
VIEWS = {"final_test_acc": "equal epochs", EQUAL_FLOPS: "equal training FLOPs"}


def dots(res, width: float, metric: str | None, scale: float = 1.0, xlabel: str = "", timed: bool = False) -> Figure:
    """Every run a grey dot, per configuration the mean and its CI; ``metric=None``: the runs' objective's final
    test value (accuracy in %, a loss in its unit)."""
    if metric is None:
        u = unit(res.objective)
        metric, scale, xlabel = headline_metric(res.objective), u.scale, value_label(res)
    data = res.done[res.done["timing_ok"] | (not timed)]
    data = need(
        data.assign(value=pd.to_numeric(data[metric], errors="coerce") * scale).dropna(subset=["value"]),
        UNTIMED if timed else f"no completed run has {metric}",
    )
    order = [lab for lab in res.configs["label"] if lab in set(data["label"])]
    shown = wrapped(order, width)
    fig, axes = grid(width, 1, 1, height=0.24 * len(order) + 0.7 + tick_lines(shown))
    outside = np.random.get_state()  # seaborn jitters with numpy's global generator: seeded, same input same bytes
    np.random.seed(0)
    try:
        sns.stripplot(data, x="value", y="label", order=order, color="0.55", size=3.5, jitter=0.15, ax=axes[0, 0])
    finally:
        np.random.set_state(outside)
    sns.pointplot(
        data,
        x="value",
        y="label",
        order=order,
        errorbar=res.boot.interval,
        color="black",
        linestyle="none",
        marker="D",
        markersize=3.5,
        capsize=0.3,
        err_kws={"linewidth": 1.2},
        ax=axes[0, 0],
    )
    if (std := data[data["strategy"] == "standard"])["config_id"].nunique() == 1:
        axes[0, 0].axvline(std["value"].mean(), color=STANDARD, ls="--", lw=1, zorder=0)
    axes[0, 0].set(xlabel=xlabel, ylabel="")
    if shown != order:
        axes[0, 0].set_yticks(range(len(order)), shown)
    if timed:  # seconds from zero: a 20% gap must not look like 80%
        axes[0, 0].set_xlim(left=0)
    return fig


def paired_difference(res, width: float) -> Figure:
    """The paired difference in the runs' objective (accuracy in pp, a loss in its unit), at equal epochs and FLOPs."""
    main, u = headline_metric(res.objective), unit(res.objective)
    shown = {main: VIEWS["final_test_acc"], equal_flops(res.objective): VIEWS[EQUAL_FLOPS]}
    p = need(
        res.pairs[(res.pairs["left_out"] == "") & res.pairs["metric"].isin(list(shown))],
        "no configuration has a standard baseline with matching seeds",
    )
    p = p.assign(
        label=p["config_id"].map(res.configs.set_index("config_id")["label"]),
        pp=p["diff"] * u.scale,
        view=p["metric"].map(shown),
    )
    order, views = [lab for lab in res.configs["label"] if lab in set(p["label"])], list(dict.fromkeys(p["view"]))
    n = p[p["metric"] == main].groupby("label").size()
    texts = [f"{lab} (n={n.get(lab, 0)})" for lab in order] if n.nunique() > 1 else order
    shown = wrapped(texts, width)
    fig, axes = grid(width, 1, 1, height=0.3 * len(order) + 0.9 + tick_lines(shown))
    both = dict(x="pp", y="label", order=order, hue_order=views, dodge=0.45, linestyle="none", ax=axes[0, 0])
    sns.pointplot(
        p,
        hue="view",
        errorbar=lambda v: t_interval(v, res.boot.confidence),
        palette=["0.8"] * len(views),
        markersize=0,
        err_kws={"linewidth": 4.5},
        legend=False,
        **both,
    )
    points(res, p, "view", views, capsize=0.15, **both)
    axes[0, 0].axvline(0, color="0.3", lw=1, ls="--")
    axes[0, 0].set(xlabel=f"difference from standard training in {u.name} ({u.diff_unit})", ylabel="")
    if shown != order:
        axes[0, 0].set_yticks(range(len(order)), shown)
    axes[0, 0].legend(frameon=False)
    return fig


def blocks_data(res) -> pd.DataFrame:
    """Completed runs where K varies: ``K``, ``schedule``, ``value`` (the objective's final test value, accuracy in
    %) and ``flops`` (% of standard training's)."""
    alt = res.done[res.done["strategy"] != "standard"]
    alt = alt[alt.groupby("context_id")["n_blocks"].transform("nunique") > 1]
    std = res.done[res.done["strategy"] == "standard"].groupby("context_id")["train_flops"].mean()
    return alt.assign(
        K=alt["n_blocks"].astype(int),
        schedule=alt["strategy_label"],
        value=final_value(res, alt),
        flops=alt["train_flops"].astype(float) / alt["context_id"].map(std) * 100,
    )


def blocks(res, width: float) -> Figure:
    d = need(blocks_data(res), "no setting has more than one number of blocks")
    ctxs, where = list(dict.fromkeys(d["context_id"])), context_names(res.configs)
    fig, axes = grid(width, 2, len(ctxs), height=2.3, sharex=True, sharey="row")
    for (j, k), (i, y) in ((a, b) for a in enumerate(ctxs) for b in enumerate(("value", "flops"))):
        points(
            res,
            d[d["context_id"] == k],
            "schedule",
            d["schedule"],
            x="K",
            y=y,
            ax=axes[i, j],
            native_scale=True,
            dodge=0.2,
            legend=i + j == 0,
        )
        if i == 0:
            standard_line(axes[i, j], res, k)
        else:
            axes[i, j].axhline(100, color=STANDARD, ls="--", lw=1)
        axes[i, j].set(
            xticks=sorted(d["K"].unique()),
            xlabel="blocks (K)",
            title=where.get(k, "") * (i == 0),
            ylabel=(value_label(res), "training FLOPs\n(% of standard)")[i],
        )
    handles, labels = axes[0, 0].get_legend_handles_labels()
    axes[0, 0].get_legend().remove()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3), frameon=False)
    return fig


def frequency_data(res) -> pd.DataFrame:
    """Balanced alternating runs with ``period``, optimizer steps per block visit (every N epochs: N x an epoch's)."""
    alt = need(res.done[res.done["strategy"] == "alternating"], NO_PERIODS)
    alt = alt[[pd.isna(s) or set(str(s).split(":")) == {fmt_value(e)} for s, e in zip(alt["steps"], alt["every"])]]
    first = res.curves[res.curves["in_stats"] & (res.curves["epoch"] == 1)]
    spe = alt["config_id"].map(first.groupby("config_id")["step"].median()).to_numpy(float)  # steps per epoch
    others = [
        c
        for c in ("order", "start", "optimizer_state", "freeze_bn_stats", "split", "splits")
        if c in alt and alt[c].nunique() > 1
    ]
    schedules = [schedule_label(scheduler_options(r), full=True)[0] for r in alt.to_dict("records")]
    line = [
        ", ".join(
            [
                "every N batches" if r["unit"] == "batch" else f"every N {r['unit']}s (= N × {fmt_value(s)} steps)",
                *(f"{c}={fmt_value(r[c])}" for c in others),
                *([sched] if len(set(schedules)) > 1 else []),  # one line per learning-rate schedule
            ]
        )
        for r, s, sched in zip(alt.to_dict("records"), spe, schedules)
    ]
    alt = alt.assign(
        line=line,
        value=final_value(res, alt),
        period=alt["every"].astype(float).to_numpy() * np.where(alt["unit"] == "batch", 1, spe),
    )
    alt = alt[np.isfinite(alt["period"])]
    return alt[alt.groupby("context_id")["period"].transform("nunique") > 1]


def frequency(res, width: float) -> Figure:
    """Mean final test value (accuracy, or a text's loss) and its CI per switching period, one line per clock (every N
    batches, every N epochs) on one axis of optimizer steps per block visit; standard training's mean and CI as a
    band."""
    d = need(frequency_data(res), NO_PERIODS)
    ctxs, where = list(dict.fromkeys(d["context_id"])), context_names(res.configs)
    fig, axes = grid(width, 1, len(ctxs), sharey=True)
    colours, extra = palette(d["line"]), 0.0
    for ax, k in zip(axes[0], ctxs):
        here = d[d["context_id"] == k]
        for (name, line), marker in zip(here.groupby("line", sort=False), MARKERS * len(colours)):
            per = line.groupby("period")["value"]
            xs = sorted(per.groups)
            mean = per.mean().loc[xs].to_numpy()
            lo_hi = np.array([res.boot.interval(per.get_group(x)) for x in xs], dtype=float).reshape(len(xs), 2)
            err = np.nan_to_num(np.abs(lo_hi - mean[:, None]).T)
            ax.errorbar(xs, mean, yerr=err, color=colours[name], marker=marker, ms=4, capsize=2, lw=1.2, label=name)
        standard_line(ax, res, k)
        ax.set_xscale("log", base=2)
        ticks(ax, here["period"])
        ax.set(
            xlabel="optimizer steps per block visit (log scale)",
            ylabel=value_label(res) * (ax is axes[0, 0]),
            title=where.get(k),
        )
        extra = max(extra, legend_below(ax))
    make_room(fig, {0: extra})
    return fig
