"""Learning curves: a metric against epochs, training FLOPs or seconds, a panel per context and arm family."""

from __future__ import annotations

import textwrap

import matplotlib
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from ..describe import family, flops_unit
from ..measures import curve
from ..measures import unit as unit_of
from ..stats import context_names
from .style import (
    MARKERS,
    MAX_ROWS,
    STANDARD,
    UNTIMED,
    grid,
    legend_below,
    make_room,
    need,
    palette,
    readable_axes,
    short,
)


def curves(
    res,
    width: float,
    y: str | None,
    ylabel: str = "",
    x: str = "epoch",
    xlabel: str = "epoch",
    scale: float = 100.0,
    logy: bool = False,
    timed: bool = False,
) -> Figure:
    """Mean over seeds of ``y`` against ``x`` per epoch, a panel per context and arm family, standard in each;
    ``y=None``: the test value of the runs' objective (accuracy in %, a loss in its unit)."""
    if y is None:
        u = unit_of(res.objective)
        y, ylabel, scale = curve(res.objective), f"{u.name} ({u.unit})", u.scale
    shown = res.done.loc[res.done["timing_ok"] | (not timed), "run_id"]
    c = need(
        res.curves[res.curves["in_stats"] & res.curves["run_id"].isin(shown)],
        UNTIMED if timed else "no per-epoch metrics of completed runs",
    )
    configs = res.configs.set_index("config_id")
    c = c.sort_values("config_id", key=lambda ids: ids.map({k: i for i, k in enumerate(configs.index)}), kind="stable")
    ctx, where = c["config_id"].map(configs["context_id"]), context_names(res.configs)
    xscale, unit = flops_unit(c[x]) if x == "train_flops" else (1.0, "")
    c = c.assign(
        value=c[y] * scale,
        ctx=ctx if ctx.nunique() <= MAX_ROWS else "",
        family=c["label"].map(family),
        shown=[short(lab, where.get(k, "")) for lab, k in zip(c["label"], ctx)],
        x=c.groupby(["config_id", "epoch"])[x].transform("mean") / xscale,
    )
    rows, cols = list(dict.fromkeys(c["ctx"])), list(dict.fromkeys(c.loc[c["strategy"] != "standard", "family"]))
    fig, axes = grid(width, len(rows), max(len(cols), 1), sharex=True, sharey=True)
    title_pt = FontProperties(size=matplotlib.rcParams["axes.titlesize"]).get_size_in_points()
    room = int(width / len(axes[0]) * 72 / (0.55 * title_pt))  # characters a title line has room for
    extra: dict = {}  # inches each row's legends need (make_room)
    for (i, k), (j, fam) in ((a, b) for a in enumerate(rows) for b in enumerate(cols or ["standard"])):
        ax, here = axes[i, j], c[c["ctx"] == k]
        alt = here[(here["family"] == fam) & (here["strategy"] != "standard")]
        names = list(dict.fromkeys(alt["shown"]))  # what all lines of the panel share goes into its title
        common = [p for p in names[0].split(", ") if all(p in n.split(", ") for n in names)] if len(names) > 1 else []
        if len(alt):
            alt = alt.assign(shown=[", ".join(p for p in n.split(", ") if p not in common) for n in alt["shown"]])
            order = list(dict.fromkeys(alt["shown"]))
            sns.lineplot(
                alt,
                x="x",
                y="value",
                hue="shown",
                hue_order=order,
                style="shown",
                style_order=order,
                markers=dict(zip(order, MARKERS * (len(order) // len(MARKERS) + 1))),
                dashes=False,
                markersize=4,
                palette=palette(alt["shown"]),
                errorbar=res.boot.interval,
                ax=ax,
            )
        for name, std in here[here["strategy"] == "standard"].groupby("shown", sort=False):
            sns.lineplot(std, x="x", y="value", color=STANDARD, ls="--", errorbar=res.boot.interval, ax=ax, label=name)
        ax.set(
            title=textwrap.fill(" ".join([fam, *common]), room) * bool(cols),
            xlabel=xlabel.format(unit=unit),
            yscale="log" if logy else "linear",
            ylabel="\n".join(filter(None, [where.get(k), ylabel])) * (j == 0),
        )
        readable_axes(ax, x == "epoch", logy, from_zero=x != "epoch")
        extra[i] = max(extra.get(i, 0.0), legend_below(ax))
    make_room(fig, extra)
    return fig
