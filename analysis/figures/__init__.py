"""Every figure of the report (PNG and SVG at its width, PDF at a paper's), on ``matplotlib.figure.Figure``: no pyplot
state, no display. Bands and bars are seaborn's with ``errorbar=boot.interval``, the tables' bootstrap.

This module chooses matplotlib's backend before seaborn is imported, so it is the way in: ``style`` (the look
every figure shares), ``curves``, ``comparisons``, ``isolation`` and ``rates`` (the drawings) are its modules. ``FIGURES``
lists them in the report's order; ``render`` draws each in every format. The data behind two figures
(``blocks_data``, ``frequency_data``) and ``DPI`` are re-exported here for readers of the figures."""

from __future__ import annotations

import io
import sys
from functools import partial

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # seaborn imports pyplot: no display, unless a caller chose one
    matplotlib.use("Agg")
import seaborn as sns  # noqa: E402

from .comparisons import blocks, dots, frequency, paired_difference  # noqa: E402
from .comparisons import blocks_data as blocks_data  # noqa: E402
from .comparisons import frequency_data as frequency_data  # noqa: E402
from .curves import curves  # noqa: E402
from .isolation import isolation  # noqa: E402
from .rates import rates  # noqa: E402
from .style import DPI as DPI  # noqa: E402
from .style import STYLES, WIDTHS, Skip  # noqa: E402

KINDS = {"report": ("png", "svg"), "paper": ("pdf",)}  # drawn at the report's width, and at a paper's
METADATA = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}  # same input, same bytes
FORMATS = tuple(METADATA)
SECONDS = "training seconds (evaluation excluded)"
# A drawing given y=None (curves) or metric=None (dots) draws the runs' objective (measures.curve, headline_metric);
# {measure} in a heading is its name (accuracy, loss): pipeline writes the heading with it.
FIGURES = {  # name: (the report's heading, drawing(result, width))
    "learning_curves": ("Learning curves", partial(curves, y=None)),
    "loss_curves": ("Train loss", partial(curves, y="train_loss", ylabel="train loss", scale=1.0, logy=True)),
    "final_accuracy": ("Final test {measure} per configuration", partial(dots, metric=None)),
    "paired_difference": ("Paired difference from standard training", paired_difference),
    "blocks": ("{Measure} and FLOPs against the number of blocks", blocks),
    "frequency": ("Final test {measure} against switching frequency", frequency),
    "isolation": ("Tuning: validation metric against each tuned setting", isolation),
    "learning_rates": ("Learning rate per block", rates),
    "compute": (
        "{Measure} against training FLOPs",
        partial(curves, y=None, x="train_flops", xlabel="cumulative training {unit}"),
    ),
    "compute_time": (
        "{Measure} against training seconds",
        partial(curves, y=None, x="train_s_cum", xlabel="cumulative training seconds", timed=True),
    ),
    "train_time": ("Training time per run", partial(dots, metric="train_s", scale=1, xlabel=SECONDS, timed=True)),
}


def heading(name: str, objective) -> str:
    """A figure's heading in the report, its {measure} the objective's name."""
    return FIGURES[name][0].format(measure=objective.words, Measure=objective.words.capitalize())


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
