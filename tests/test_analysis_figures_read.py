"""Figures that read right, checked on the drawn matplotlib objects: whole epochs, plain log ticks, time from
zero, legends outside the data, the frequency lines unbroken and told apart by marker."""

from __future__ import annotations

import matplotlib
import seaborn as sns
from helpers import FAST

import analysis
from analysis import figures


def draw(res, name):
    with sns.axes_style("whitegrid"), matplotlib.rc_context(figures.STYLES["report"]):
        fig = figures.FIGURES[name][1](res, figures.WIDTHS["report"])
    fig.canvas.draw()
    return fig


def test_curves_have_whole_epochs_plain_loss_ticks_and_legends_below(sweep):
    res = analysis.compute([sweep], boot=FAST)
    for name in ("learning_curves", "loss_curves"):
        fig = draw(res, name)
        for ax in fig.axes:
            if not ax.get_legend():
                continue
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert all(float(t).is_integer() for t in ticks), ticks
            legend = ax.get_legend().get_window_extent()
            assert legend.y1 <= ax.get_window_extent().y0  # under the panel, not over the lines
    loss = draw(res, "loss_curves").axes[0]
    labels = [t.get_text() for t in loss.get_yticklabels(minor=False) + loss.get_yticklabels(minor=True)]
    assert not any("10^" in s or "times" in s or "e-" in s for s in labels), labels


def test_cumulative_axes_start_at_zero(sweep):
    res = analysis.compute([sweep], boot=FAST)
    assert all(ax.get_xlim()[0] == 0 for ax in draw(res, "compute").axes if ax.get_legend())


def test_frequency_draws_each_clock_as_one_unbroken_line_with_its_marker(sweep):
    res = analysis.compute([sweep], boot=FAST)
    ax = draw(res, "frequency").axes[0]
    data = figures.frequency_data(res)
    lines = {c.get_label(): c.lines[0] for c in ax.containers}  # ax.errorbar: (data line, caps, bars)
    for name, group in data.groupby("line"):
        assert sorted(lines[name].get_xdata()) == sorted(set(group["period"]))  # every period on its own line
    assert len({ln.get_marker() for ln in lines.values()}) == len(lines) == len(set(data["line"]))
    assert ax.get_legend().get_window_extent().y1 <= ax.get_window_extent().y0
