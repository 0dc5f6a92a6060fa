"""The look every figure shares: widths, fonts and styles (report and paper), colours, panels, axes and legends,
and ``Skip``, a figure's way of saying the data cannot support it."""

from __future__ import annotations

import textwrap

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath
from matplotlib.ticker import LogFormatter, MaxNLocator

from ..describe import family, fmt_value
from ..measures import headline_metric, unit

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
STANDARD = "0.1"  # standard training: near-black and dashed, in every panel
POINTS = dict(markersize=3.5, capsize=0.05, err_kws={"linewidth": 1.2}, linewidth=1.2)
MAX_ROWS = 4  # more contexts than this share one row of panels
UNTIMED = "no run's timing can be trusted (see Speed)"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")  # lines that coincide still show each marker


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


def final_value(res, runs: pd.DataFrame) -> pd.Series:
    """Each run's final test value of the objective, as the figures show it (an accuracy in %, a loss in its unit)."""
    return pd.to_numeric(runs[headline_metric(res.objective)], errors="coerce") * unit(res.objective).scale


def value_label(res) -> str:
    """The axis label of ``final_value``: "final test accuracy (%)", "final test loss (nats/char)"."""
    u = unit(res.objective)
    return f"final {u.name} ({u.unit})"


def standard_line(ax, res, context_id: str) -> None:
    """Standard training's mean ``final_value`` (dashed) and its CI (grey band) in this context."""
    done = res.done
    v = final_value(res, done[(done["context_id"] == context_id) & (done["strategy"] == "standard")]).dropna()
    if len(v) and np.isfinite(lo_hi := res.boot.interval(v)).all():
        ax.axhspan(*lo_hi, color="0.6", alpha=0.25, lw=0)
    if len(v):
        ax.axhline(v.mean(), color=STANDARD, ls="--", lw=1, label="standard")


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


def text_width(text: str, pt: float) -> float:
    """The width in points of the widest line of ``text`` at ``pt`` in the current font (measured, not estimated)."""
    font = FontProperties(size=pt)
    return max(TextToPath().get_text_width_height_descent(line, font, ismath=False)[0] for line in text.split("\n"))


def fit(label: str, points: float, pt: float) -> str:
    """``label`` wrapped at spaces until its widest line is at most ``points`` wide (a word longer stays whole)."""
    for chars in range(len(label), 9, -1):
        text = textwrap.fill(label, chars)
        if text_width(text, pt) <= points:
            return text
    return textwrap.fill(label, 10)


def legend_below(ax) -> float:
    """The panel's legend under it, outside the data, with each line's marker: as many columns (up to 3) as its
    column of the figure holds, a label wider than that wrapped. Returns the inches its lines need beyond the two
    rows a panel leaves room for (``make_room`` adds them): a legend with no room makes constrained layout collapse
    the panels and cut the legend off."""
    handles, labels = ax.get_legend_handles_labels()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    if not labels:
        return 0.0
    pt = FontProperties(size=matplotlib.rcParams["legend.fontsize"]).get_size_in_points()
    room = ax.get_figure().get_figwidth() / ax.get_subplotspec().get_gridspec().ncols * 72  # points
    handle = (2.5 + 0.8 + 2.0) * pt  # the handle, its gap to the text and the gap to the next column
    labels = [fit(str(label), room - handle, pt) for label in labels]
    widest = max(text_width(label, pt) for label in labels) + handle
    ncols = max(1, min(len(labels), 3, int(room // widest)))
    ax.legend(
        handles,
        labels,
        frameon=False,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.28),
        ncols=ncols,
        handlelength=2.5,
    )
    lines = [label.count("\n") + 1 for label in labels]
    rows = -(-len(labels) // ncols)  # matplotlib fills a column, then the next
    height = sum(max(lines[r::rows]) * 1.2 + 0.5 for r in range(rows))  # in font sizes: text, then the spacing
    return (height - 2 * 1.7 + 0.8) * pt / 72 if height > 2 * 1.7 else 0.0  # 0.8: a margin under the last line


def wrapped(labels, width: float) -> list[str]:
    """Configuration labels as y tick labels, wrapped to 45% of a ``width``-inch figure: a tuned GPT arm's label
    runs to 100 characters, wider than a paper's column, and would leave constrained layout no room."""
    pt = FontProperties(size=matplotlib.rcParams["ytick.labelsize"]).get_size_in_points()
    return [fit(str(label), width * 0.45 * 72, pt) for label in labels]


def tick_lines(labels: list) -> float:
    """Inches the wrapped lines of ``labels`` (``wrapped``) need beyond one line each."""
    pt = FontProperties(size=matplotlib.rcParams["ytick.labelsize"]).get_size_in_points()
    return sum(label.count("\n") for label in labels) * 1.2 * pt / 72


def make_room(fig: Figure, extra: dict) -> None:
    """Grow the figure by what the tallest legend of each row of panels needs (``legend_below``'s, per row), then
    as far as the laid-out legends still reach below it (the estimate leaves out the layout's own spacing)."""
    if not any(extra.values()):
        return
    fig.set_figheight(fig.get_figheight() + sum(extra.values()))
    for _ in range(4):
        fig.draw_without_rendering()  # constrained layout, as savefig runs it
        low = min(ax.get_legend().get_window_extent().y0 for ax in fig.axes if ax.get_legend()) / fig.dpi
        if low >= 0.04:
            return
        fig.set_figheight(fig.get_figheight() - low + 0.08)
