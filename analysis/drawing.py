"""What every figure shares: its inputs, two widths with fonts legible at 100%, a grid of panels, colours.

Built on ``matplotlib.figure.Figure``, not pyplot: nothing global is touched, no display needed. Every band
and bar comes from seaborn with ``errorbar=boot.interval``, the bootstrap of the tables.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # seaborn imports pyplot: no display, unless a caller chose one
    matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .describe import family  # noqa: E402
from .stats import Bootstrap, configurations, context_names  # noqa: E402

DPI = 150
# report: 7.5 in at 150 dpi = 1125 px, the report's 1150 px column, so a browser at 100% shows it unscaled;
# paper: 5.5 in, the text width of a single-column paper (NeurIPS, ICLR): the PDF goes in at natural size.
WIDTHS, FONTS = {"report": 7.5, "paper": 5.5}, {"report": 9.0, "paper": 8.0}  # fonts in points
STANDARD = "0.1"  # standard training: near-black and dashed, in every panel


class Skip(Exception):
    """The data cannot support this figure; the message says why."""


@dataclass
class Inputs:
    """The analysed tables a figure may draw on (``extra``: optional tables, e.g. the tuning grid)."""

    runs: pd.DataFrame
    curves: pd.DataFrame
    stats: pd.DataFrame
    paired: pd.DataFrame
    pairs: pd.DataFrame
    boot: Bootstrap
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        done = self.runs[self.runs["in_stats"]]
        self.done = done if "timing_ok" in done else done.assign(timing_ok=True)  # not judged: all seconds count
        configs = configurations(self.runs)
        self.configs = configs[configs["config_id"].isin(done["config_id"])].reset_index(drop=True)
        self.where = context_names(self.configs)  # context_id -> "depth=4"
        self.ci = f"{self.boot.confidence:.0%} {self.boot.scipy_method} bootstrap CI of the mean"

    def short(self, label: str, context_id: str) -> str:
        """A label inside its panel, without its family (the panel's title) and its context."""
        text = str(label)[len(family(label)):]
        for part in filter(None, self.where.get(context_id, "").split(", ")):
            text = text.replace(part, "")
        return text.strip(", ").replace(", , ", ", ") or family(label)


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
