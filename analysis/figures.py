"""Every figure of the report: PNG and SVG at the report's width, PDF at a paper's; titles are the report's
headings (``FIGURES``), never inside the image. Curves are small multiples: one panel per arm family
(alternating/batch, progressive/batch, ...) and context (e.g. depth), standard training dashed in each.
"""
from __future__ import annotations

import io
import textwrap
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from . import figures_compare as compare
from .describe import family, flops_unit
from .drawing import STANDARD, WIDTHS, Inputs, Skip, grid, need, palette, style
from .output import write_bytes

MAX_ROWS = 4  # more contexts than this share one row of panels
UNTIMED = "no run's timing can be trusted (see Speed)"


@dataclass
class FigureFile:
    name: str
    title: str
    facts: dict  # the numbers its caption (report.md.tmpl, "caption_<name>") names
    png: Path
    svg: Path
    pdf: Path


def _curves(inp: Inputs, width: float, y: str, ylabel: str, x: str = "epoch", xlabel: str = "epoch",
            scale: float = 100.0, logy: bool = False, timed: bool = False) -> Figure:
    """``y`` against ``x``: mean over seeds per epoch (at the seeds' mean ``x``), band: the CI of the mean."""
    c = inp.curves[inp.curves["in_stats"] & inp.curves["run_id"].isin(inp.done.loc[inp.done["timing_ok"] | (
        not timed), "run_id"])]
    c = need(c, UNTIMED if timed else "no per-epoch metrics of completed runs")
    c = c.iloc[np.argsort(c["config_id"].map({k: i for i, k in enumerate(inp.configs["config_id"])}), kind="stable")]
    ctx = inp.configs.set_index("config_id")["context_id"].reindex(c["config_id"]).to_numpy()
    xscale, unit = flops_unit(c[x]) if x == "train_flops" else (1.0, "")
    c = c.assign(value=c[y] * scale, ctx=ctx if len(set(ctx)) <= MAX_ROWS else "", family=c["label"].map(family),
                 shown=[inp.short(lab, k) for lab, k in zip(c["label"], ctx)],
                 x=c.groupby(["config_id", "epoch"])[x].transform("mean") / xscale)
    rows, cols = list(dict.fromkeys(c["ctx"])), list(dict.fromkeys(c.loc[c["strategy"] != "standard", "family"]))
    fig, axes = grid(width, len(rows), max(len(cols), 1), sharex=True, sharey=True)
    for (i, k), (j, fam) in ((a, b) for a in enumerate(rows) for b in enumerate(cols or ["standard"])):
        ax, here = axes[i, j], c[c["ctx"] == k]
        alt = here[(here["family"] == fam) & (here["strategy"] != "standard")]
        names = list(dict.fromkeys(alt["shown"]))  # what all lines of the panel share goes into its title
        common = [p for p in names[0].split(", ") if all(p in n.split(", ") for n in names)] if len(names) > 1 else []
        if len(alt):
            alt = alt.assign(shown=[", ".join(p for p in n.split(", ") if p not in common) for n in alt["shown"]])
            sns.lineplot(alt, x="x", y="value", hue="shown", hue_order=list(dict.fromkeys(alt["shown"])),
                         palette=palette(alt["shown"]), errorbar=inp.boot.interval, ax=ax)
        for shown, std in here[here["strategy"] == "standard"].groupby("shown", sort=False):
            sns.lineplot(std, x="x", y="value", color=STANDARD, ls="--", errorbar=inp.boot.interval, ax=ax, label=shown)
        room = int(width / len(axes[0]) * 72 / (0.55 * FontProperties(size=matplotlib.rcParams["axes.titlesize"])
                                                .get_size_in_points()))  # characters a title line has room for
        ax.set(title=textwrap.fill(" ".join([fam, *common]), room) * bool(cols), xlabel=xlabel.format(unit=unit),
               yscale="log" if logy else "linear")
        ax.set_ylabel("\n".join(filter(None, [inp.where.get(k), ylabel])) if j == 0 else "")
        ax.legend(frameon=False, loc="upper right" if logy else "lower right")
    return fig


def learning_curves(inp: Inputs, width: float) -> tuple[Figure, dict]:
    return _curves(inp, width, "test_acc", "test accuracy (%)"), {}


def loss_curves(inp: Inputs, width: float) -> tuple[Figure, dict]:
    return _curves(inp, width, "train_loss", "train loss", scale=1.0, logy=True), {}


def compute(inp: Inputs, width: float) -> tuple[Figure, dict]:
    return _curves(inp, width, "test_acc", "test accuracy (%)", "train_flops", "cumulative training {unit}"), {}


def compute_time(inp: Inputs, width: float) -> tuple[Figure, dict]:
    return _curves(inp, width, "test_acc", "test accuracy (%)", "train_s_cum", "cumulative training seconds",
                   timed=True), {"left_out": int((~inp.done["timing_ok"]).sum())}


def _dots(inp: Inputs, width: float, metric: str, scale: float, xlabel: str, timed: bool = False) -> Figure:
    data = inp.done[inp.done["timing_ok"] | (not timed)]
    data = need(data.assign(value=pd.to_numeric(data[metric], errors="coerce") * scale).dropna(subset=["value"]),
                UNTIMED if timed else f"no completed run has {metric}")
    order = [lab for lab in inp.configs["label"] if lab in set(data["label"])]
    fig, axes = grid(width, 1, 1, height=0.24 * len(order) + 0.7)
    sns.stripplot(data, x="value", y="label", order=order, color="0.55", size=3.5, jitter=0.15, ax=axes[0, 0])
    sns.pointplot(data, x="value", y="label", order=order, errorbar=inp.boot.interval, color="black", linestyle="none",
                  marker="D", markersize=3.5, capsize=0.3, err_kws={"linewidth": 1.2}, ax=axes[0, 0])
    if (std := data[data["strategy"] == "standard"])["config_id"].nunique() == 1:
        axes[0, 0].axvline(std["value"].mean(), color=STANDARD, ls="--", lw=1, zorder=0)
    axes[0, 0].set(xlabel=xlabel, ylabel="")
    return fig


def final_accuracy(inp: Inputs, width: float) -> tuple[Figure, dict]:
    return _dots(inp, width, "final_test_acc", 100, "final test accuracy (%)"), {}


def train_time(inp: Inputs, width: float) -> tuple[Figure, dict]:
    return _dots(inp, width, "train_s", 1, "training seconds (evaluation excluded)", timed=True), {
        "left_out": int((~inp.done["timing_ok"]).sum())}


FIGURES: dict[str, tuple[str, Callable[[Inputs, float], tuple[Figure, dict]]]] = {  # name: (heading, drawing)
    "learning_curves": ("Learning curves", learning_curves), "loss_curves": ("Train loss", loss_curves),
    "final_accuracy": ("Final test accuracy per configuration", final_accuracy),
    "paired_difference": ("Paired difference from standard training", compare.paired_difference),
    "blocks": ("Accuracy and FLOPs against the number of blocks", compare.blocks),
    "frequency": ("Final test accuracy against switching frequency", compare.frequency),
    "isolation": ("Tuning: validation metric against each tuned setting", compare.isolation),
    "compute": ("Accuracy against training FLOPs", compute),
    "compute_time": ("Accuracy against training seconds", compute_time),
    "train_time": ("Training time per run", train_time)}
METADATA = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}  # same input, same bytes


def make_figures(inp: Inputs, out_dir: Path, names: Optional[list] = None) -> tuple[list, list]:
    """Every figure into ``out_dir``; (figures made, [(name, reason) for figures skipped]). A figure the data
    cannot support, or whose drawing fails, is skipped with its reason (and any older file of it removed)."""
    made, skipped = [], [(name, "no completed runs") for name in names or FIGURES if inp.done.empty]
    for name in [] if skipped else names or FIGURES:
        title, draw = FIGURES[name]
        try:
            files = {}
            for kind, formats in (("report", ("png", "svg")), ("paper", ("pdf",))):
                with ExitStack() as stack:
                    stack.enter_context(sns.axes_style("whitegrid"))
                    stack.enter_context(matplotlib.rc_context(style(kind)))
                    fig, facts = draw(inp, WIDTHS[kind])
                    for fmt in formats:
                        fig.savefig(buf := io.BytesIO(), format=fmt, dpi=fig.dpi, metadata=METADATA[fmt])
                        files[fmt] = buf.getvalue()
            made.append(FigureFile(name, title, facts, *(write_bytes(out_dir / f"{name}.{f}", files[f])
                                                           for f in ("png", "svg", "pdf"))))
        except Skip as e:
            skipped.append((name, str(e)))
        except OSError:
            raise  # a disk that cannot take a figure cannot take the report either
        except Exception as e:  # noqa: BLE001 - a plotting problem must not cost the report
            skipped.append((name, f"could not be drawn ({type(e).__name__}: {e})"))
    for name, fmt in ((n, f) for n, _ in skipped for f in ("png", "svg", "pdf")):
        (out_dir / f"{name}.{fmt}").unlink(missing_ok=True)
    return made, skipped
