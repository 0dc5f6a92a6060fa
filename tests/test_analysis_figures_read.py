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


def test_long_labels_are_wrapped_and_their_legends_fit_inside_the_figure():
    """A tuned GPT sweep's labels run to 100 characters: at a paper's width, two panels of four long-labelled lines
    each used to leave constrained layout no room (the panels collapsed, the legends were cut off). Wrapped and
    given room, every legend and every panel lies inside the figure and no line of a label is wider than its
    column; short labels keep their three columns on one line each."""
    import warnings

    from analysis.figures.style import grid, legend_below, make_room, text_width, wrapped

    long = "every 25, cosine warmup 0.1, K=4 splits=2,3,4, optimizer_state=reset, lr=0.003, and a longer tail"
    with sns.axes_style("whitegrid"), matplotlib.rc_context(figures.STYLES["paper"]):
        fig, axes = grid(figures.WIDTHS["paper"], 1, 2)
        extra = 0.0
        for ax in axes[0]:
            for i in range(4):
                ax.plot([0, 1], [i, i + 1], label=f"{long} {i}")
            extra = max(extra, legend_below(ax))
        make_room(fig, {0: extra})
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # constrained layout's "axes sizes collapsed to zero" fails the test
            fig.draw_without_rendering()  # with its layout, as savefig draws it
        inside = fig.bbox
        for ax in axes[0]:
            box, texts = ax.get_legend().get_window_extent(), ax.get_legend().get_texts()
            assert inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0, (box, inside)
            assert ax.get_window_extent().height > 0.3 * inside.height
            assert all("\n" in t.get_text() for t in texts)
            pt = texts[0].get_fontsize()
            assert max(text_width(t.get_text(), pt) for t in texts) < figures.WIDTHS["paper"] / 2 * 72
        assert wrapped(["short"], 5.5) == ["short"] and "\n" in wrapped([long], 5.5)[0]

        fig, axes = grid(figures.WIDTHS["report"], 1, 1)
        for i in range(3):
            axes[0, 0].plot([0, 1], [i, i], label=f"t_0 0.{i} linear")
        assert legend_below(axes[0, 0]) == 0.0
        fig.draw_without_rendering()
        texts = axes[0, 0].get_legend().get_texts()  # three columns: the labels side by side, on one line each
        assert len({round(t.get_window_extent().y0) for t in texts}) == 1 and not any(
            "\n" in t.get_text() for t in texts
        )
