"""Every figure of the report (PNG and SVG at its width, PDF at a paper's), on ``matplotlib.figure.Figure``: no pyplot
state, no display. Bands and bars are seaborn's with ``errorbar=boot.interval``, the tables' bootstrap."""

from __future__ import annotations

import io
import sys
import textwrap
from functools import partial

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # seaborn imports pyplot: no display, unless a caller chose one
    matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.ticker import LogFormatter, MaxNLocator  # noqa: E402

from . import tuning  # noqa: E402
from .describe import family, flops_unit, fmt_value  # noqa: E402
from .paired import EQUAL_FLOPS  # noqa: E402
from .stats import context_names, t_interval  # noqa: E402

DPI = 150
# report: 7.5 in at 150 dpi = 1125 px, the report's 1150 px column, so a browser at 100% shows it unscaled;
# paper: 5.5 in, the text width of a single-column paper (NeurIPS, ICLR): the PDF goes in at natural size.
WIDTHS, FONTS = {"report": 7.5, "paper": 5.5}, {"report": 9.0, "paper": 8.0}  # fonts in points
STYLES = {
    kind: {
        "font.size": s,
        "axes.titlesize": s,
        "axes.labelsize": s,
        "xtick.labelsize": s - 1,
        "ytick.labelsize": s - 1,
        "legend.fontsize": s - 1.5,
        "lines.linewidth": 1.3,
        "svg.hashsalt": "alternating-freeze",
        "svg.fonttype": "path",
    }
    for kind, s in FONTS.items()
}
KINDS = {"report": ("png", "svg"), "paper": ("pdf",)}  # drawn at the report's width, and at a paper's
METADATA = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}  # same input, same bytes
FORMATS = tuple(METADATA)
STANDARD = "0.1"  # standard training: near-black and dashed, in every panel
POINTS = dict(markersize=3.5, capsize=0.05, err_kws={"linewidth": 1.2}, linewidth=1.2)
MAX_ROWS = 4  # more contexts than this share one row of panels
UNTIMED = "no run's timing can be trusted (see Speed)"
NO_PERIODS = "no switching-frequency variation (fewer than two switching periods)"
VIEWS = {"final_test_acc": "equal epochs", EQUAL_FLOPS: "equal training FLOPs"}


class Skip(Exception):
    """The data cannot support this figure; the message says why."""


def need(frame: pd.DataFrame, why: str) -> pd.DataFrame:
    if frame.empty:
        raise Skip(why)
    return frame


def grid(width: float, nrows: int, ncols: int, height: float = 0.0, **kw) -> tuple[Figure, np.ndarray]:
    """nrows x ncols panels, ``width`` inches wide, each 0.75 as high as wide (at most 2.8 in) unless ``height``."""
    height = height or min(width / ncols * 0.75, 2.8)
    fig = Figure(figsize=(width, height * nrows + 0.25), layout="constrained", dpi=DPI)
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kw)


def palette(names) -> dict:
    """Colour-blind-safe colours per name, standard training near-black."""
    names = list(dict.fromkeys(names))
    return {
        n: STANDARD if str(n).startswith("standard") else c
        for n, c in zip(names, sns.color_palette("colorblind", max(len(names), 1)))
    }


def points(res, data: pd.DataFrame, hue: str, names, **kw) -> None:
    """Mean and CI per x and ``hue``, a colour per one of ``names`` (the same in every panel)."""
    sns.pointplot(data, hue=hue, palette=palette(names), errorbar=res.boot.interval, **POINTS | kw)


def standard_line(ax, res, context_id: str) -> None:
    """Standard training's mean final test accuracy (dashed) and its CI (grey band) in this context, in %."""
    done = res.done
    acc = done.loc[(done["context_id"] == context_id) & (done["strategy"] == "standard"), "final_test_acc"]
    if len(acc) and np.isfinite(lo_hi := res.boot.interval(acc * 100)).all():
        ax.axhspan(*lo_hi, color="0.6", alpha=0.25, lw=0)
    if len(acc):
        ax.axhline(acc.mean() * 100, color=STANDARD, ls="--", lw=1, label="standard")


def ticks(ax, values) -> None:
    """Ticks at the values drawn, as written (a log axis would label powers only)."""
    values = sorted(set(values))
    ax.set_xticks(values, map(fmt_value, values), minor=False)
    ax.minorticks_off()


def short(label: str, where: str) -> str:
    """A label inside its panel, without its family (the panel's title) and its context (``where``)."""
    text = str(label)[len(family(label)) :]
    for part in filter(None, where.split(", ")):
        text = text.replace(part, "")
    return text.strip(", ").replace(", , ", ", ") or family(label)


def curves(
    res,
    width: float,
    y: str,
    ylabel: str,
    x: str = "epoch",
    xlabel: str = "epoch",
    scale: float = 100.0,
    logy: bool = False,
    timed: bool = False,
) -> Figure:
    """Mean over seeds of ``y`` against ``x`` per epoch, a panel per context and arm family, standard in each."""
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
        legend_below(ax)
    return fig


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")  # lines that coincide still show each marker


class PlainLog(LogFormatter):
    """A log axis' labels as plain numbers: 0.9 and 2, not 9e-01 or 2x10^0."""

    def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
        return f"{x:.3g}"


def readable_axes(ax, integer_x: bool, logy: bool, from_zero: bool) -> None:
    """Whole epochs on an epoch axis, plain numbers on a log axis (0.6, 2, not 6x10^-1), and a cumulative
    axis (FLOPs, seconds) from zero, so that a gap reads at its true size."""
    if integer_x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if logy:
        plain = PlainLog(labelOnlyBase=False, minor_thresholds=(2, 0.5))
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
    if from_zero:
        ax.set_xlim(left=0)


def legend_below(ax) -> None:
    """The panel's legend under it, outside the data, with each line's marker."""
    handles, labels = ax.get_legend_handles_labels()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    if labels:
        ax.legend(
            handles,
            labels,
            frameon=False,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.28),
            ncols=min(len(labels), 3),
            handlelength=2.5,
        )


def dots(res, width: float, metric: str, scale: float, xlabel: str, timed: bool = False) -> Figure:
    """Every run a grey dot, per configuration the mean and its CI."""
    data = res.done[res.done["timing_ok"] | (not timed)]
    data = need(
        data.assign(value=pd.to_numeric(data[metric], errors="coerce") * scale).dropna(subset=["value"]),
        UNTIMED if timed else f"no completed run has {metric}",
    )
    order = [lab for lab in res.configs["label"] if lab in set(data["label"])]
    fig, axes = grid(width, 1, 1, height=0.24 * len(order) + 0.7)
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
    if timed:  # seconds from zero: a 20% gap must not look like 80%
        axes[0, 0].set_xlim(left=0)
    return fig


def paired_difference(res, width: float) -> Figure:
    p = need(
        res.pairs[(res.pairs["left_out"] == "") & res.pairs["metric"].isin(list(VIEWS))],
        "no configuration has a standard baseline with matching seeds",
    )
    p = p.assign(
        label=p["config_id"].map(res.configs.set_index("config_id")["label"]),
        pp=p["diff"] * 100,
        view=p["metric"].map(VIEWS),
    )
    order, views = [lab for lab in res.configs["label"] if lab in set(p["label"])], list(dict.fromkeys(p["view"]))
    n = p[p["metric"] == "final_test_acc"].groupby("label").size()
    fig, axes = grid(width, 1, 1, height=0.3 * len(order) + 0.9)
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
    axes[0, 0].set(xlabel="difference from standard training in test accuracy (pp)", ylabel="")
    if n.nunique() > 1:
        axes[0, 0].set_yticks(range(len(order)), [f"{lab} (n={n.get(lab, 0)})" for lab in order])
    axes[0, 0].legend(frameon=False)
    return fig


def blocks_data(res) -> pd.DataFrame:
    """Completed runs where K varies: ``K``, ``schedule``, ``acc`` (%) and ``flops`` (% of standard training's)."""
    alt = res.done[res.done["strategy"] != "standard"]
    alt = alt[alt.groupby("context_id")["n_blocks"].transform("nunique") > 1]
    std = res.done[res.done["strategy"] == "standard"].groupby("context_id")["train_flops"].mean()
    return alt.assign(
        K=alt["n_blocks"].astype(int),
        schedule=alt["strategy_label"],
        acc=alt["final_test_acc"] * 100,
        flops=alt["train_flops"].astype(float) / alt["context_id"].map(std) * 100,
    )


def blocks(res, width: float) -> Figure:
    d = need(blocks_data(res), "no setting has more than one number of blocks")
    ctxs, where = list(dict.fromkeys(d["context_id"])), context_names(res.configs)
    fig, axes = grid(width, 2, len(ctxs), height=2.3, sharex=True, sharey="row")
    for (j, k), (i, y) in ((a, b) for a in enumerate(ctxs) for b in enumerate(("acc", "flops"))):
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
            ylabel=("final test accuracy (%)", "training FLOPs\n(% of standard)")[i],
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
    line = [
        ", ".join(
            [
                "every N batches" if r["unit"] == "batch" else f"every N {r['unit']}s (= N × {fmt_value(s)} steps)",
                *(f"{c}={fmt_value(r[c])}" for c in others),
            ]
        )
        for r, s in zip(alt.to_dict("records"), spe)
    ]
    alt = alt.assign(
        line=line,
        acc=alt["final_test_acc"] * 100,
        period=alt["every"].astype(float).to_numpy() * np.where(alt["unit"] == "batch", 1, spe),
    )
    alt = alt[np.isfinite(alt["period"])]
    return alt[alt.groupby("context_id")["period"].transform("nunique") > 1]


def frequency(res, width: float) -> Figure:
    """Mean final accuracy and its CI per switching period, one line per clock (every N batches, every N epochs)
    on one axis of optimizer steps per block visit; standard training's mean and CI as a band."""
    d = need(frequency_data(res), NO_PERIODS)
    ctxs, where = list(dict.fromkeys(d["context_id"])), context_names(res.configs)
    fig, axes = grid(width, 1, len(ctxs), sharey=True)
    colours = palette(d["line"])
    for ax, k in zip(axes[0], ctxs):
        here = d[d["context_id"] == k]
        for (name, line), marker in zip(here.groupby("line", sort=False), MARKERS * len(colours)):
            per = line.groupby("period")["acc"]
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
            ylabel="final test accuracy (%)" * (ax is axes[0, 0]),
            title=where.get(k),
        )
        legend_below(ax)
    return fig


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


ACCURACY, SECONDS = "test accuracy (%)", "training seconds (evaluation excluded)"
FIGURES = {  # name: (the report's heading, drawing(result, width))
    "learning_curves": ("Learning curves", partial(curves, y="test_acc", ylabel=ACCURACY)),
    "loss_curves": ("Train loss", partial(curves, y="train_loss", ylabel="train loss", scale=1.0, logy=True)),
    "final_accuracy": (
        "Final test accuracy per configuration",
        partial(dots, metric="final_test_acc", scale=100, xlabel="final test accuracy (%)"),
    ),
    "paired_difference": ("Paired difference from standard training", paired_difference),
    "blocks": ("Accuracy and FLOPs against the number of blocks", blocks),
    "frequency": ("Final test accuracy against switching frequency", frequency),
    "isolation": ("Tuning: validation metric against each tuned setting", isolation),
    "compute": (
        "Accuracy against training FLOPs",
        partial(curves, y="test_acc", ylabel=ACCURACY, x="train_flops", xlabel="cumulative training {unit}"),
    ),
    "compute_time": (
        "Accuracy against training seconds",
        partial(
            curves, y="test_acc", ylabel=ACCURACY, x="train_s_cum", xlabel="cumulative training seconds", timed=True
        ),
    ),
    "train_time": ("Training time per run", partial(dots, metric="train_s", scale=1, xlabel=SECONDS, timed=True)),
}


def render(res) -> tuple[dict, list]:
    """{name: {format: bytes}}, and (name, why) of each figure skipped: a plotting problem must not cost the report."""
    if res.done.empty:
        return {}, [(name, "no completed runs") for name in FIGURES]
    drawn, skipped = {}, []
    for name, (_, draw) in FIGURES.items():
        try:
            files = {}
            for kind, formats in KINDS.items():
                with sns.axes_style("whitegrid"), matplotlib.rc_context(STYLES[kind]):
                    fig = draw(res, WIDTHS[kind])
                    for fmt in formats:
                        fig.savefig(buf := io.BytesIO(), format=fmt, dpi=fig.dpi, metadata=METADATA[fmt])
                        files[fmt] = buf.getvalue()
            drawn[name] = files
        except Skip as e:
            skipped.append((name, str(e)))
        except Exception as e:  # noqa: BLE001
            skipped.append((name, f"could not be drawn ({type(e).__name__}: {e})"))
    return drawn, skipped
