"""Paper-ready output: booktabs LaTeX tables that compile, figures at two widths (PNG/SVG for the report,
PDF for a paper), learning curves as small multiples with standard training in every panel."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from helpers import EVERY1, FAST, ROOT, STANDARD
from matplotlib import image as mpimg

import analysis
from analysis import figures, tables


def _rows(tex: str) -> list[list[str]]:
    body = tex.split("\\midrule\n", 1)[1].split("\n\\bottomrule", 1)[0]
    return [line.removesuffix(r" \\").split(" & ") for line in body.splitlines()]


def test_latex_tables_are_booktabs_with_the_best_mean_bold(sweep, tmp_path):
    result = analysis.analyze([sweep], tmp_path, boot=FAST, figures=False, latex=True)
    glance, per = (tmp_path / "tables" / name for name in ("glance.tex", "per_configuration.tex"))
    for path in (glance, per):
        tex = path.read_text()
        assert tex.startswith("\\begin{table}[t]") and tex.rstrip().endswith("\\end{table}")
        for rule in ("\\toprule", "\\midrule", "\\bottomrule"):
            assert tex.count(rule) == 1, (path.name, rule)
        columns = len(re.search(r"\\begin\{tabular\}\{(\w+)\}", tex)[1])
        header = tex.split("\\toprule\n", 1)[1].split("\n", 1)[0]
        assert len(header.split(" & ")) == columns and "\\%" in header and not re.search(r"(?<!\\)%", header)
        assert all(len(r) == columns for r in _rows(tex)) and len(_rows(tex)) == 4
    rows = {r[0]: r for r in _rows(glance.read_text())}
    assert list(rows) == [
        "standard",
        "alternating/batch every 1",
        "alternating/batch every 4",
        "alternating/epoch every 1",
    ]
    # test accuracy: the highest mean (every 1, 92.83 over its six seeds) is the one bold cell of its column
    best = np.mean(list(EVERY1.values())) * 100
    assert rows["alternating/batch every 1"][2].startswith(f"\\textbf{{{best:.2f}\\,{{\\scriptsize [")
    assert sum(r[2].startswith("\\textbf") for r in rows.values()) == 1
    assert rows["standard"][2].startswith(f"{np.mean(list(STANDARD.values())) * 100:.2f}\\,")
    assert rows["standard"][3] == "baseline"
    # FLOPs relative to standard: 2 of 3 GFLOP an epoch is 66.7% for every alternating arm, all bold (a tie)
    assert [rows[k][-1] for k in rows] == ["100.0", "\\textbf{66.7}", "\\textbf{66.7}", "\\textbf{66.7}"]
    assert result.files["latex"] == [glance, per] and "`tables/*.tex`" in (tmp_path / "report.md").read_text()
    if shutil.which("pdflatex"):  # the tables compile with booktabs (not every machine has LaTeX)
        (tmp_path / "doc.tex").write_text(
            "\\documentclass{article}\\usepackage{booktabs}\\usepackage[margin=1cm,"
            "landscape]{geometry}\\begin{document}\\input{tables/glance.tex}"
            "\\input{tables/per_configuration.tex}\\end{document}\n"
        )
        proc = subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout[-2000:]


def test_latex_escapes_what_latex_would_read_as_commands():
    text = tables.latex(pd.DataFrame({"configuration": ["random_block & 50% {x} #1 $5 ~ ^ \\"]}), {}, "caption")
    assert _rows(text) == [
        [
            r"random\_block \& 50\% \{x\} \#1 \$5 \textasciitilde \space \textasciicircum \space "
            r"\textbackslash "
        ]
    ]
    est = (0.9731, 0.0042, 0.9695, 0.9766)
    assert tables.cell(est, tables.Col(100)) == "97.31 ± 0.42 [96.95, 97.66]"
    assert tables.cell(est, tables.Col(100), tex=True) == "97.31\\,{\\scriptsize [96.95, 97.66]}"
    assert tables.cell((0.5, np.nan, np.nan, np.nan), tables.Col(100)) == "50.00"


@pytest.mark.slow
def test_cli_latex_option(sweep, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "analysis",
            str(sweep),
            "--out",
            str(tmp_path),
            "--latex",
            "--no-figures",
            "--resamples",
            "200",
            "-q",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    assert (tmp_path / "tables" / "glance.tex").read_text().count("\\toprule") == 1


def test_learning_curves_are_small_multiples_with_standard_in_every_panel(sweep):
    res = analysis.compute([sweep], boot=FAST)
    for width in figures.WIDTHS.values():
        fig = figures.FIGURES["learning_curves"][1](res, width)
        panels = [ax for ax in fig.axes if ax.get_visible()]
        assert (
            fig.get_suptitle() == ""
            and fig.get_figwidth() == width
            and [ax.get_title() for ax in panels] == ["alternating/batch", "alternating/epoch"]
        )
        legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in panels]
        assert legends == [["every 1", "every 4", "standard"], ["every 1", "standard"]]
        # the standard line is the same in both panels: its mean over the five seeds at the last epoch
        ends = [ax.get_lines()[-1].get_ydata()[-1] for ax in panels]
        assert ends == pytest.approx([np.mean(list(STANDARD.values())) * 100] * 2)


@pytest.mark.slow
def test_every_figure_has_one_width_per_kind_and_a_pdf(sweep, tmp_path):
    result = analysis.analyze([sweep], tmp_path, boot=FAST)
    for f in result.figures:
        assert mpimg.imread(f.png).shape[1] == figures.WIDTHS["report"] * figures.DPI, f.name
        head = f.pdf.read_bytes()
        box = re.search(rb"/MediaBox \[ *0 0 ([\d.]+) ([\d.]+) *\]", head)
        assert head.startswith(b"%PDF") and float(box[1]) == pytest.approx(figures.WIDTHS["paper"] * 72), f.name
    md = (tmp_path / "report.md").read_text()
    for f in result.figures:  # the title is the report's heading, once
        assert md.count(f"### {f.title}\n") == 1


@pytest.mark.slow
def test_the_same_runs_draw_the_same_bytes(sweep, tmp_path):
    """Figures are files a paper's repository keeps: a rerun of the analysis must not change them (the strip
    plots' jitter included, which seaborn draws from numpy's global generator)."""
    first = {
        f.name: (f.png.read_bytes(), f.svg.read_bytes())
        for f in analysis.analyze([sweep], tmp_path / "a", boot=FAST).figures
    }
    np.random.seed(12345)  # whatever state the caller left behind
    second = {
        f.name: (f.png.read_bytes(), f.svg.read_bytes())
        for f in analysis.analyze([sweep], tmp_path / "b", boot=FAST).figures
    }
    assert "final_accuracy" in first and first == second
