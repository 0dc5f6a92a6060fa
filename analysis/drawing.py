"""What every figure shares: two widths with fonts legible at 100%, a grid of panels, colours, standard training.

Built on ``matplotlib.figure.Figure``, not pyplot: nothing global is touched, no display needed. Every band
and bar comes from seaborn with ``errorbar=boot.interval``, the bootstrap of the tables.
"""
from __future__ import annotations

import sys

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # seaborn imports pyplot: no display, unless a caller chose one
    matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

DPI = 150
# report: 7.5 in at 150 dpi = 1125 px, the report's 1150 px column, so a browser at 100% shows it unscaled;
# paper: 5.5 in, the text width of a single-column paper (NeurIPS, ICLR): the PDF goes in at natural size.
WIDTHS, FONTS = {"report": 7.5, "paper": 5.5}, {"report": 9.0, "paper": 8.0}  # fonts in points
STANDARD = "0.1"  # standard training: near-black and dashed, in every panel
POINTS = dict(errorbar=None, markersize=3.5, capsize=0.05, err_kws={"linewidth": 1.2}, linewidth=1.2)


class Skip(Exception):
    """The data cannot support this figure; the message says why."""


def style(kind: str) -> dict:
    size = FONTS[kind]
    return {"font.size": size, "axes.titlesize": size, "axes.labelsize": size, "xtick.labelsize": size - 1,
            "ytick.labelsize": size - 1, "legend.fontsize": size - 1.5, "lines.linewidth": 1.3,
            "svg.hashsalt": "alternating-freeze", "svg.fonttype": "path"}


def grid(width: float, nrows: int, ncols: int, height: float = 0.0, **kw) -> tuple[Figure, np.ndarray]:
    """nrows x ncols panels, ``width`` inches wide, each 0.75 as high as wide (at most 2.8 in) unless ``height``."""
    fig = Figure(figsize=(width, (height or min(width / ncols * 0.75, 2.8)) * nrows + 0.25), layout="constrained",
                 dpi=DPI)
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kw)


def palette(names) -> dict:
    """Colour-blind-safe colours per name, standard training near-black."""
    names = list(dict.fromkeys(names))
    return {n: STANDARD if str(n).startswith("standard") else c
            for n, c in zip(names, sns.color_palette("colorblind", max(len(names), 1)))}


def need(frame: pd.DataFrame, why: str) -> pd.DataFrame:
    if frame.empty:
        raise Skip(why)
    return frame


def standard_line(ax, res, context_id: str) -> None:
    """Standard training's mean final test accuracy (dashed) and its CI (grey band) in this context, in %."""
    done = res.done
    acc = done.loc[(done["context_id"] == context_id) & (done["strategy"] == "standard"), "final_test_acc"]
    if len(acc) and np.isfinite(lo_hi := res.boot.interval(acc * 100)).all():
        ax.axhspan(*lo_hi, color="0.6", alpha=0.25, lw=0)
    if len(acc):
        ax.axhline(acc.mean() * 100, color=STANDARD, ls="--", lw=1, label="standard")
