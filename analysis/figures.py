"""Figures from the analysed tables, each saved as PNG and SVG.

Titles and labels come from the data (``describe.context``), never from constants. A figure the
data cannot support raises ``Skip`` with the reason, which the report shows instead of the figure.
Figures are built on ``matplotlib.figure.Figure`` (not pyplot), so nothing global is touched and no
display is needed; pyplot, when seaborn imports it, gets the Agg backend unless a caller chose one.
"""
from __future__ import annotations

import math
import sys
import textwrap
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import matplotlib

if "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.ticker import (FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter,  # noqa: E402
                               NullLocator)

from .describe import context, flops_unit, fmt_value, is_missing  # noqa: E402
from .loading import config_columns, context_columns  # noqa: E402
from .paired import EQUAL_FLOPS  # noqa: E402
from .stats import Bootstrap, configurations, curve_summary  # noqa: E402

DPI = 150
MAX_FACETS = 5  # more groups of configurations than this share one panel


class Skip(Exception):
    """The data cannot support this figure; the message says why."""


@dataclass
class FigureFile:
    name: str
    title: str
    caption: str
    png: Path
    svg: Path


@dataclass
class Inputs:
    """What every figure may draw on."""

    runs: pd.DataFrame
    curves: pd.DataFrame
    stats: pd.DataFrame
    paired: pd.DataFrame
    boot: Bootstrap

    def __post_init__(self) -> None:
        self.done = self.runs[self.runs["in_stats"]]
        self.configs = configurations(self.runs)
        self.configs = self.configs[self.configs["config_id"].isin(self.done["config_id"])].reset_index(drop=True)
        self.ctx = context(self.done)
        self.colors = _palette(self.configs)
        self._curves: Optional[pd.DataFrame] = None
        self.ci = f"{self.boot.confidence:.0%} {'BCa' if self.boot.method.lower() == 'bca' else 'percentile'} " \
                  f"bootstrap CI of the mean"


    def curve_stats(self) -> pd.DataFrame:
        """Per configuration and epoch: mean and CI of test accuracy and train loss, mean cost."""
        if self._curves is None:
            self._curves = curve_summary(self.curves, self.boot)
        return self._curves


def _palette(configs: pd.DataFrame) -> dict[str, tuple]:
    labels = list(configs["label"])
    colors = sns.color_palette("tab10" if len(labels) <= 10 else "husl", max(len(labels), 1))
    pal = dict(zip(labels, colors))
    standard = list(configs.loc[configs["strategy"] == "standard", "label"])
    if len(standard) == 1:
        pal[standard[0]] = (0.15, 0.15, 0.15)
    return pal


def _style(cfg_strategy: str) -> str:
    return "--" if cfg_strategy == "standard" else "-"


def _new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained", dpi=DPI)


def _suptitle(fig: Figure, title: str, subtitle: str, legend_labels: Sequence[str] = ()) -> None:
    """Title and subtitle wrapped to the room they have: the whole width, or, next to a legend
    outside the axes, the width left of it (left-aligned), so that neither is clipped nor overlaps."""
    size = FontProperties(size="medium").get_size_in_points()
    room = fig.get_figwidth() * 72 - 20
    if legend_labels:
        small = FontProperties(size="small").get_size_in_points()
        room -= max(len(str(lab)) for lab in legend_labels) * 0.6 * small + 50
    chars = max(40, int(room / (0.58 * size)))
    text = "\n".join(textwrap.fill(line, chars) for line in (title, subtitle) if line)
    if legend_labels:
        fig.suptitle(text, x=0.01, ha="left", fontsize="medium")
    else:
        fig.suptitle(text, fontsize="medium")


def _legend(fig: Figure, axes, n: int) -> None:
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper", fontsize="small", frameon=False,
                   title="configuration", title_fontsize="small")


def _need_done(inp: Inputs) -> None:
    if inp.done.empty:
        raise Skip("no completed runs")


# ---------------------------------------------------------------- curves (per epoch)


@dataclass
class Panel:
    """One panel of a curve figure: ``y`` (a curve_summary metric) against ``x`` (a metric or "epoch")."""

    x: str
    y: str
    xlabel: str
    ylabel: str
    title: str
    xscale: float = 1.0
    yscale: float = 1.0
    logy: bool = False


def _facets(inp: Inputs) -> list[tuple[str, pd.DataFrame]]:
    """Configurations grouped by what their standard baseline shares (e.g. one group per depth), so
    that each group is read against its own baseline; one group when that would be too many."""
    ids = list(dict.fromkeys(inp.configs["context_id"]))
    if len(ids) == 1 or len(ids) > MAX_FACETS:
        return [("", inp.configs)]
    cols = [c for c in _context_cols(inp) if c in inp.configs and inp.configs[c].nunique() > 1]
    out = []
    for cid in ids:
        sub = inp.configs[inp.configs["context_id"] == cid]
        out.append((", ".join(f"{c}={fmt_value(sub.iloc[0][c])}" for c in cols), sub))
    return out


def _log_y(ax) -> None:
    """Log y axis labelled with plain numbers (0.2, 0.5, 1, 2; not 2×10^0 or 6e-01): at 1, 2 and 5
    per decade over a range of less than two decades, at powers of ten only over a wider one."""
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    lo, hi = ax.get_ylim()
    if lo > 0 and math.log10(hi / lo) < 2:
        ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.yaxis.set_minor_formatter(plain)
    else:
        ax.yaxis.set_minor_formatter(NullFormatter())


def _curve_figure(inp: Inputs, panels: list[Panel], title: str, subtitle: str) -> Figure:
    cs = inp.curve_stats()
    if cs.empty:
        raise Skip("no per-epoch metrics of completed runs")
    facets = _facets(inp)
    single = len(facets) == 1
    if single:
        fig = _new_figure(11, 4.4)
        grid = np.atleast_1d(fig.subplots(1, len(panels))).reshape(len(panels), 1)
    else:
        fig = _new_figure(max(11.0, 3.9 * len(facets)), 3.7 * len(panels) + 0.9)
        grid = fig.subplots(len(panels), len(facets), squeeze=False, sharey="row")
    for f, (ftitle, cfgs) in enumerate(facets):
        colors = inp.colors if single else _palette(cfgs)
        drop = [f", {part}" for part in ftitle.split(", ") if part]
        for cfg in cfgs.to_dict("records"):
            pv = cs[cs["config_id"] == cfg["config_id"]].pivot(index="epoch", columns="metric",
                                                               values=["mean", "ci_low", "ci_high"])
            if pv.empty:
                continue
            label = cfg["label"]
            for part in drop:
                label = label.replace(part, "")
            for p, spec in enumerate(panels):
                ax = grid[p, f]
                x = pv.index.to_numpy(dtype=float) if spec.x == "epoch" else pv[("mean", spec.x)] / spec.xscale
                y, lo, hi = (pv[(k, spec.y)] * spec.yscale for k in ("mean", "ci_low", "ci_high"))
                ax.plot(x, y, color=colors[cfg["label"]], ls=_style(cfg["strategy"]), lw=1.6,
                        marker="o" if len(pv) <= 25 else None, ms=2.5, label=label)
                ax.fill_between(x, lo, hi, color=colors[cfg["label"]], alpha=0.18, lw=0)
        for p, spec in enumerate(panels):
            ax = grid[p, f]
            ax.set_xlabel(spec.xlabel)
            if f == 0 or single:
                ax.set_ylabel(spec.ylabel)
            if spec.logy and (cs.loc[cs["metric"] == spec.y, "mean"] > 0).all():
                _log_y(ax)
            if spec.x == "epoch":
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(spec.title if single else (f"{ftitle}\n{spec.title}" if ftitle else spec.title),
                         fontsize="medium")
        if not single:
            grid[0, f].legend(fontsize="x-small", loc="best", frameon=True)
    labels = list(inp.configs["label"]) if single else []
    if single:
        _legend(fig, grid[:, 0], len(inp.configs))
    _suptitle(fig, title, subtitle, labels)
    return fig


def learning_curves(inp: Inputs) -> tuple[Figure, str, str]:
    _need_done(inp)
    title = f"Learning curves: {inp.ctx['title']}"
    fig = _curve_figure(inp, [
        Panel("epoch", "test_acc", "epoch", "test accuracy (%)", "Test accuracy after each epoch", yscale=100.0),
        Panel("epoch", "train_loss", "epoch", "train loss (mean over the epoch)", "Train loss", logy=True),
    ], title, f"lines: mean over seeds; bands: {inp.ci}; standard training dashed")
    return fig, title, f"Mean over seeds per epoch, shaded {inp.ci}; standard training dashed."


# ---------------------------------------------------------------- per-configuration dot plots


def _dot_figure(inp: Inputs, metric: str, scale: float, xlabel: str, title: str) -> tuple[Figure, str, str]:
    """Dots per seed, mean and CI per configuration; returns (figure, title, caption sentence on the
    standard-training reference line, empty when none is drawn)."""
    _need_done(inp)
    labels = list(inp.configs["label"])
    data = inp.done[["label", metric, "seed"]].copy()
    data["value"] = pd.to_numeric(data[metric], errors="coerce") / scale
    data = data[np.isfinite(data["value"])]
    if data.empty:
        raise Skip(f"no completed run has {metric}")
    fig = _new_figure(9.5, max(2.6, 0.42 * len(labels) + 1.6))
    ax = fig.subplots()
    sns.stripplot(data=data, x="value", y="label", order=labels, hue="label", hue_order=labels,
                  palette=inp.colors, legend=False, jitter=0.12, size=5, alpha=0.75, ax=ax)
    st = inp.stats[inp.stats["metric"] == metric].set_index("label")
    for i, label in enumerate(labels):
        if label not in st.index or st.loc[label, "n"] == 0:
            continue
        r = st.loc[label]
        mean = r["mean"] / scale
        lo, hi = r["ci_low"] / scale, r["ci_high"] / scale
        err = None if is_missing(lo) else [[mean - lo], [hi - mean]]
        ax.errorbar([mean], [i + 0.3], xerr=err, fmt="D", color="black", ms=4.5, capsize=3, lw=1.2, zorder=5)
    standard = inp.configs[inp.configs["strategy"] == "standard"]
    reference = ""
    if len(standard) == 1 and standard.iloc[0]["label"] in st.index:
        ax.axvline(st.loc[standard.iloc[0]["label"], "mean"] / scale, color="0.4", ls="--", lw=1, zorder=0)
        reference = " The dashed line marks the standard-training mean."
    ax.set(xlabel=xlabel, ylabel="")
    ax.set_ylim(len(labels) - 0.4, -0.6)
    full = f"{title}: {inp.ctx['title']}"
    _suptitle(fig, full, f"dots: one seed each; diamond and bar: mean and {inp.ci}")
    return fig, full, reference


def final_accuracy(inp: Inputs) -> tuple[Figure, str, str]:
    fig, title, reference = _dot_figure(inp, "final_test_acc", 0.01, "final test accuracy (%)",
                                        "Final test accuracy per configuration")
    return fig, title, (f"Each dot is one seed's test accuracy after the last epoch; diamonds and bars are the mean "
                        f"and {inp.ci}.{reference}")


def train_time(inp: Inputs) -> tuple[Figure, str, str]:
    fig, title, reference = _dot_figure(inp, "train_s", 1.0, "training time (s, evaluation excluded)",
                                        "Training time per run")
    devices = ", ".join(sorted(map(str, inp.done["device"].dropna().unique()))) if "device" in inp.done else ""
    where = f"; device {devices}" if devices else ""
    return fig, title, (f"Each dot is one run's training seconds (summary.json train_s{where}); "
                        f"diamonds and bars are the mean and {inp.ci}.{reference} Wall-clock time is only "
                        f"comparable between runs on the same hardware and thread count, with nothing else running.")


# ---------------------------------------------------------------- switching frequency


def _steps_per_epoch(inp: Inputs) -> dict[str, float]:
    """config_id -> optimizer steps in one epoch (the ``step`` column after epoch 1, median over seeds)."""
    c = inp.curves
    if c.empty:
        return {}
    first = c[c["in_stats"].astype(bool) & (c["epoch"] == 1)]
    return pd.to_numeric(first["step"], errors="coerce").groupby(first["config_id"]).median().to_dict()


def _period_steps(line: pd.DataFrame, per_epoch: dict[str, float]) -> np.ndarray:
    """How many optimizer steps each half trains before a switch: ``every`` batches, or ``every``
    epochs times the steps in an epoch (NaN where that is unknown)."""
    every = line["every"].astype(float).to_numpy()
    if str(line["unit"].iloc[0]) == "batch":
        return every
    return every * np.array([per_epoch.get(cid, math.nan) for cid in line["config_id"]], dtype=float)


def frequency(inp: Inputs) -> tuple[Figure, str, str]:
    _need_done(inp)
    cfgs = inp.configs
    alt = cfgs[(cfgs["strategy"] == "alternating")] if "every" in cfgs else cfgs.iloc[0:0]
    if alt.empty:
        raise Skip("no alternating configurations")
    alt = alt[[is_missing(s) or set(str(s).split(":")) == {fmt_value(e)} for s, e in zip(alt["steps"], alt["every"])]]
    others = [c for c in ("order", "start", "optimizer_state", "freeze_bn_stats", "split", "splits")
              if c in alt and alt[c].nunique() > 1]
    acc = inp.stats[inp.stats["metric"] == "final_test_acc"].set_index("config_id")
    per_epoch = _steps_per_epoch(inp)
    panels = []
    for ctx_id, group in alt.groupby("context_id", sort=False):
        lines = []
        for key, line in group.groupby(["unit", *others], sort=True, dropna=False):
            line = line.assign(period=lambda f: _period_steps(f, per_epoch)).sort_values("every")
            line = line[np.isfinite(line["period"])]
            if len(line):
                lines.append((key if isinstance(key, tuple) else (key,), line))
        if len({p for _, line in lines for p in line["period"]}) >= 2:
            panels.append((ctx_id, lines))
    if not panels:
        raise Skip("no switching-frequency variation (alternating configurations with fewer than two switching "
                   "periods)")
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = _new_figure(max(9.5, 4.6 * ncols + 2.5), 4.2 * nrows + 0.8)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    ctx_cols = [c for c in _context_cols(inp) if c in cfgs and cfgs[c].nunique() > 1]
    markers = {"batch": "o", "epoch": "s"}
    line_colors = sns.color_palette("colorblind", 10)
    seen_lines: dict[str, tuple] = {}
    for ax, (ctx_id, lines) in zip(axes, panels):
        std = cfgs[(cfgs["strategy"] == "standard") & (cfgs["context_id"] == ctx_id)]
        if len(std) and std.iloc[0]["config_id"] in acc.index:
            r = acc.loc[std.iloc[0]["config_id"]]
            if not is_missing(r["ci_low"]):
                ax.axhspan(r["ci_low"] * 100, r["ci_high"] * 100, color="0.6", alpha=0.25, lw=0,
                           label=f"standard: mean and {inp.boot.confidence:.0%} CI")
            ax.axhline(r["mean"] * 100, color="0.25", ls="--", lw=1.2,
                       label="standard: mean" if not is_missing(r["ci_low"]) else "standard: mean (one seed, no CI)")
        xs_all = []
        for key, line in lines:
            unit = str(key[0])
            clock = "every N batches" if unit == "batch" else f"every N {unit}s"
            spe = sorted({per_epoch.get(cid) for cid in line["config_id"]} - {None})
            if unit != "batch" and len(spe) == 1:
                clock += f" (= N × {fmt_value(spe[0])} steps)"
            name = ", ".join([clock, *[f"{c}={fmt_value(v)}" for c, v in zip(others, key[1:])]])
            color = seen_lines.setdefault(name, line_colors[len(seen_lines) % len(line_colors)])
            r = acc.reindex(line["config_id"])
            x = line["period"].to_numpy(dtype=float)
            y = r["mean"].to_numpy(dtype=float) * 100
            lo = r["ci_low"].to_numpy(dtype=float) * 100
            hi = r["ci_high"].to_numpy(dtype=float) * 100
            err = np.vstack([y - lo, hi - y])
            err = np.where(np.isfinite(err), err, 0.0)
            ax.errorbar(x, y, yerr=err, marker=markers.get(unit, "^"), color=color, capsize=3, lw=1.5, ms=5,
                        label=name)
            xs_all.extend(x)
        ax.set_xscale("log", base=2)
        ticks = sorted(set(xs_all))
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([fmt_value(t) for t in ticks])
        ax.set(xlabel="optimizer steps each half trains before switching (log2 scale)",
               ylabel="final test accuracy (%)")
        row = cfgs[cfgs["context_id"] == ctx_id].iloc[0]
        if len(panels) > 1:
            ax.set_title(", ".join(f"{c}={fmt_value(row[c])}" for c in ctx_cols), fontsize="small")
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    handles, labels = {}, []
    for ax in axes[:len(panels)]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    fig.legend([handles[lab] for lab in labels], labels, loc="outside right upper", fontsize="small", frameon=False)
    title = f"Final test accuracy vs switching frequency: {inp.ctx['title']}"
    _suptitle(fig, title, f"points: mean over seeds, bars: {inp.ci}", labels)
    return fig, title, ("Alternating training's final test accuracy against how long each half trains before the "
                        "halves swap, in optimizer steps (log2 axis): every N batches is N steps, every N epochs is "
                        "N times the steps in an epoch, so both clocks share one axis. The grey band is standard "
                        "training's mean and CI for the same settings.")


def _context_cols(inp: Inputs) -> list[str]:
    return context_columns(config_columns(inp.runs))


# ---------------------------------------------------------------- equal compute


def compute(inp: Inputs) -> tuple[Figure, str, str]:
    _need_done(inp)
    cs = inp.curve_stats()
    scale, unit = flops_unit(cs.loc[cs["metric"] == "train_flops", "mean"].to_numpy())
    title = f"Accuracy against training cost: {inp.ctx['title']}"
    fig = _curve_figure(inp, [
        Panel("train_s_cum", "test_acc", "cumulative training time (s, evaluation excluded)", "test accuracy (%)",
              "Accuracy vs wall-clock training time", yscale=100.0),
        Panel("train_flops", "test_acc", f"cumulative training {unit} (forward + backward matmuls)",
              "test accuracy (%)", "Accuracy vs training FLOPs", xscale=scale, yscale=100.0),
    ], title, f"one point per epoch at the seeds' mean cost; bands: {inp.ci} (accuracy)")
    return fig, title, ("The equal-compute view: test accuracy after each epoch plotted at the cumulative training "
                        "seconds and FLOPs spent so far (means over seeds). A frozen half needs no weight gradients, "
                        "so an alternating epoch costs fewer FLOPs (whether also fewer seconds depends on the "
                        "hardware); compare curves at equal x.")


# ---------------------------------------------------------------- paired differences


def paired_difference(inp: Inputs) -> tuple[Figure, str, str]:
    p = inp.paired[inp.paired["n_pairs"].fillna(0) > 0] if len(inp.paired) else inp.paired
    if p.empty:
        raise Skip("no configuration has a standard baseline with matching seeds")
    order = [lab for lab in inp.configs["label"] if lab in set(p["label"])]
    panels = [m for m in ("final_test_acc", EQUAL_FLOPS, "train_s", "train_flops")
              if m in set(p["metric"]) and (p.loc[p["metric"] == m, "n_pairs"] > 0).any()]
    fscale, funit = flops_unit(np.abs(p.loc[p["metric"] == "train_flops", "mean_diff"].to_numpy())) \
        if "train_flops" in panels else (1.0, "FLOP")
    spec = {"final_test_acc": (100.0, "final test accuracy (percentage points)", "Final test accuracy"),
            EQUAL_FLOPS: (100.0, "test accuracy (percentage points)", "Test accuracy at equal FLOPs"),
            "train_s": (1.0, "training time (s)", "Training time"),
            "train_flops": (1 / fscale, f"training {funit}", "Training FLOPs")}
    fig = _new_figure(3.6 * len(panels) + 3.0, max(2.6, 0.42 * len(order) + 1.8))
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    for ax, metric in zip(axes, panels):
        mult, xlabel, name = spec[metric]
        d = p[p["metric"] == metric].set_index("label").reindex(order)
        y = np.arange(len(order))
        x = d["mean_diff"].to_numpy(dtype=float) * mult
        lo, hi = d["ci_low"].to_numpy(dtype=float) * mult, d["ci_high"].to_numpy(dtype=float) * mult
        err = np.where(np.isfinite(np.vstack([x - lo, hi - x])), np.vstack([x - lo, hi - x]), 0.0)
        tlo, thi = d["t_ci_low"].to_numpy(dtype=float) * mult, d["t_ci_high"].to_numpy(dtype=float) * mult
        ax.hlines(y, tlo, thi, color="0.55", lw=5, alpha=0.35, zorder=1,
                  label=f"{inp.boot.confidence:.0%} t-interval" if metric == panels[0] else None)
        colors = [inp.colors.get(lab, "black") for lab in order]
        for yi, xi, e0, e1, c in zip(y, x, err[0], err[1], colors):
            ax.errorbar([xi], [yi], xerr=[[e0], [e1]], fmt="o", color=c, capsize=3, ms=5, lw=1.4, zorder=3)
        ax.axvline(0, color="0.3", lw=1, ls="--")
        ax.set(xlabel=f"difference in {xlabel}", title=name)
    n = p[p["metric"] == panels[0]].set_index("label")["n_pairs"]
    axes[0].set_yticks(range(len(order)), [f"{lab} (n={int(n.get(lab, 0))})" for lab in order])
    axes[0].set_ylim(len(order) - 0.5, -0.5)
    title = f"Paired difference from standard training: {inp.ctx['title']}"
    _suptitle(fig, title, f"configuration minus standard, matched seeds; points: mean difference; bars: "
                          f"{inp.ci.replace('of the mean', 'of the mean difference')}; grey: t-interval")
    return fig, title, ("Mean paired difference (configuration minus standard training, same seed and settings) with "
                        "its bootstrap CI (coloured bar) and the classical t-interval (wide grey bar, wider at small "
                        "n); an interval that crosses the dashed zero line is compatible with no difference. n is "
                        "the number of seeds paired. Final test accuracy compares equal epochs; accuracy at equal "
                        "FLOPs compares both runs at the training FLOPs of the cheaper one (the other's accuracy "
                        "read off its learning curve).")


FIGURES: dict[str, Callable[[Inputs], tuple[Figure, str, str]]] = {
    "learning_curves": learning_curves,
    "final_accuracy": final_accuracy,
    "frequency": frequency,
    "compute": compute,
    "paired_difference": paired_difference,
    "train_time": train_time,
}


def make_figures(runs: pd.DataFrame, curves: pd.DataFrame, stats: pd.DataFrame, paired: pd.DataFrame,
                 out_dir: Path, boot: Bootstrap, names: Optional[list[str]] = None
                 ) -> tuple[list[FigureFile], list[tuple[str, str]]]:
    """Draw every figure into ``out_dir`` (``<name>.png`` and ``<name>.svg``).

    Returns (figures made, [(name, reason) for figures skipped]). A figure the data cannot support
    is skipped with its reason; so is one whose drawing fails (the reason names the error), so
    that the report is still written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    inp = Inputs(runs, curves, stats, paired, boot)
    made, skipped = [], []
    for name in names or list(FIGURES):
        with ExitStack() as stack:
            stack.enter_context(sns.axes_style("whitegrid"))
            stack.enter_context(sns.plotting_context("notebook", font_scale=0.85))
            stack.enter_context(matplotlib.rc_context({"svg.hashsalt": "alternating-freeze", "svg.fonttype": "path"}))
            try:
                fig, title, caption = FIGURES[name](inp)
                png, svg = out_dir / f"{name}.png", out_dir / f"{name}.svg"
                fig.savefig(png, dpi=DPI, metadata={"Software": None})
                fig.savefig(svg, metadata={"Date": None})
            except Skip as e:
                skipped.append((name, str(e)))
                continue
            except Exception as e:  # a plotting problem must not cost the report
                skipped.append((name, f"could not be drawn ({type(e).__name__}: {e})"))
                continue
            made.append(FigureFile(name, title, caption, png, svg))
    return made, skipped
