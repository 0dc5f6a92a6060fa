"""The analysis end to end: figures and reports on whole sweeps (including degenerate ones), the af-analyze
command line, and the sweep-end callback."""

from __future__ import annotations

import logging
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import FAST, ROOT, by_label, make_config, write_run
from matplotlib import image as mpimg
from omegaconf import OmegaConf

import analysis
from analysis.callback import AnalyzeCallback
from analysis.figures import DPI, WIDTHS, heading
from analysis.figures.rates import SAME


def _check_report(out: Path, n_figures: int) -> str:
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert "# Alternating-freeze analysis" in md and "How to read the statistics" in md
    assert "Holm" in md and "d_z" in md and "bootstrap" in md
    assert not re.search(r"<link|<script|url\(|@import", page, re.I)
    srcs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", page, re.I)
    assert all(s.startswith("data:image/png;base64,") for s in srcs), srcs[:3]
    assert len(srcs) == n_figures
    return md


@pytest.mark.slow
def test_figures_and_reports_on_a_sweep(messy):
    result = analysis.analyze([messy], boot=FAST)
    assert result.out == messy
    assert dict(result.skipped) == {
        "blocks": "no setting has more than one number of blocks",
        "isolation": "not a tuned sweep (no tuning.json)",
        "learning_rates": SAME,
    }
    names = {f.name for f in result.figures}
    assert names == {
        "learning_curves",
        "loss_curves",
        "final_accuracy",
        "frequency",
        "compute",
        "compute_time",
        "paired_difference",
        "train_time",
    }
    for f in result.figures:
        img = mpimg.imread(f.png)  # the report's width: 7.5 in at 150 dpi, shown unscaled in its 1150 px column
        assert img.shape[1] == WIDTHS["report"] * DPI and img.shape[0] > 150 and img.std() > 0.01, f.name
        assert f.svg.read_text().lstrip().startswith("<?xml") and f.svg.stat().st_size > 5000
        assert f.pdf.read_bytes().startswith(b"%PDF") and f.title == heading(f.name, result.objective)
    for name in ("runs", "curves", "stats", "paired"):
        assert (messy / f"{name}.csv").stat().st_size > 100
    md = _check_report(messy, 8)
    assert md.startswith(
        "# Alternating-freeze analysis: digits, MLP depth 3 width 32, 3 epochs, 3-6 seeds per configuration\n"
    )
    for text in (
        "RuntimeError: CUDA out of memory",
        "corrupt",
        "incomplete",
        "diverged",
        "af-train --multirun",
        "experiment=frequency",
        "range(5)",
        "seed(s) 5 only",
    ):
        assert text in md, text


@pytest.mark.slow
def test_one_seed_gives_nan_not_a_crash(tmp_path):
    write_run(tmp_path, make_config(0), 0.9)
    write_run(tmp_path, make_config(0, "alternating", every=1), 0.92)
    write_run(tmp_path, make_config(0, "alternating", every=2), 0.91)
    result = analysis.analyze([tmp_path], boot=FAST)
    acc = result.stats[result.stats["metric"] == "final_test_acc"]
    assert (acc["n"] == 1).all() and acc["std"].isna().all() and acc["ci_low"].isna().all()
    p = by_label(result.paired, "alternating/batch every 1", "final_test_acc")
    assert p["n_pairs"] == 1 and p["mean_diff"] == pytest.approx(0.02) and math.isnan(p["p_ttest"])
    assert math.isnan(p["d_z"]) and math.isnan(p["ci_low"]) and "one pair" in p["note"]
    assert len(result.figures) == 6 and {"compute_time", "train_time"} <= dict(result.skipped).keys()
    md = _check_report(tmp_path, len(result.figures))
    assert "One completed seed only: every configuration (3)" in md and md.startswith(
        "# Alternating-freeze analysis: digits, MLP depth 3 width 32, 3 epochs, 1 seed per configuration\n"
    )


def test_one_strategy_skips_what_needs_two(tmp_path):
    for seed in range(3):
        write_run(tmp_path, make_config(seed), 0.9 + 0.01 * seed)
    result = analysis.analyze([tmp_path], boot=FAST)
    assert result.paired.empty
    skipped = dict(result.skipped)
    assert set(skipped) == {"frequency", "paired_difference", "blocks", "isolation", "learning_rates"}
    assert "switching" in skipped["frequency"] and "baseline" in skipped["paired_difference"]
    md = _check_report(tmp_path, 6)
    assert "Only standard training" in md and "Figures not drawn" in md


def test_several_sweeps_combined_default_out(sweep, tmp_path, monkeypatch):
    other = tmp_path / "split" / "2026-11-25_09-00-00"
    for seed in range(2):
        write_run(other, make_config(seed, depth=4), 0.95)
        write_run(other, make_config(seed, "alternating", depth=4, split=1), 0.94)
    monkeypatch.chdir(tmp_path)
    result = analysis.analyze([sweep, other], boot=FAST, figures=False)
    assert result.out == Path("outputs/analysis") and (tmp_path / "outputs/analysis/report.html").exists()
    assert result.runs["run_id"].str.startswith(("2026-11-24_10-00-00/", "2026-11-25_09-00-00/")).all()
    assert result.runs["run_id"].is_unique
    assert result.runs["config_id"].nunique() == 6
    depth4 = by_label(result.paired, "alternating/batch every 1, depth=4", "final_test_acc")
    assert depth4["baseline_label"] == "standard, depth=4" and depth4["n_pairs"] == 2


def test_sweeps_of_the_same_name_keep_their_runs_apart(tmp_path):
    """hostA/sweep and hostB/sweep hold the same job names: each run keeps its own learning curve."""
    for host, lr, std, alt in (("hostA", 0.001, 0.91, 0.92), ("hostB", 0.01, 0.80, 0.70)):
        for seed in range(2):
            write_run(tmp_path / host / "sweep", make_config(seed, lr=lr), std, flops_per_epoch=3e9)
            write_run(tmp_path / host / "sweep", make_config(seed, "alternating", lr=lr), alt, flops_per_epoch=2e9)
    loaded = analysis.load([tmp_path / "hostA" / "sweep", tmp_path / "hostB" / "sweep"])
    assert loaded.runs["run_id"].is_unique and loaded.runs["run_id"].str.startswith(("hostA/", "hostB/")).all()
    paired = analysis.paired_comparison(loaded.runs, loaded.curves, boot=FAST)
    row = paired[(paired["metric"] == analysis.EQUAL_FLOPS) & paired["label"].str.contains("0.001")].iloc[0]
    # the alternating run's 6 GFLOP are standard's second epoch, where curve_of puts 0.9 x its final accuracy
    assert row["mean_config"] == pytest.approx(0.92) and row["mean_baseline"] == pytest.approx(0.9 * 0.91)


def test_a_sweep_where_every_run_failed_still_gets_a_report(tmp_path):
    for seed in range(2):
        write_run(tmp_path, make_config(seed), status="failed", epochs_done=0, error="ValueError: bad")
    result = analysis.analyze([tmp_path], boot=FAST)
    assert set(result.runs["status"]) == {"failed"} and not result.figures
    assert {reason for _, reason in result.skipped} == {"no completed runs"}
    md = _check_report(tmp_path, 0)
    assert "No completed runs" in md and "ValueError: bad" in md


def test_no_runs_is_an_error(tmp_path):
    with pytest.raises(analysis.NoRunsError):
        analysis.analyze([tmp_path])
    empty = analysis.load_runs([tmp_path])
    assert empty.empty and analysis.summarize(empty).empty and analysis.paired_comparison(empty).empty
    with pytest.raises(FileNotFoundError):
        analysis.load_runs([tmp_path / "missing"])


# ---------------------------------------------------------------- entry points


@pytest.mark.slow
def test_cli_writes_everything(sweep, tmp_path):
    out = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "analysis", str(sweep), "--out", str(out), "--resamples", "999"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "19 runs (19 completed)" in proc.stdout and "warning: " in proc.stdout
    for name in (
        "runs.csv",
        "curves.csv",
        "stats.csv",
        "paired.csv",
        "report.md",
        "report.html",
        "figures/final_accuracy.png",
        "figures/final_accuracy.svg",
    ):
        assert (out / name).exists(), name
    assert "af-analyze" in (out / "report.md").read_text()


@pytest.mark.slow
def test_cli_missing_folder_is_a_one_line_error(tmp_path):
    script = Path(sys.executable).parent / "af-analyze"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "analysis"]
    proc = subprocess.run([*cmd, str(tmp_path / "nope")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0 and "no such folder" in proc.stderr
    proc = subprocess.run(
        [*cmd, str(tmp_path), "--confidence", "95"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "af-analyze: error: --confidence=95.0: must lie strictly between 0 and 1"
    )


@pytest.mark.slow
def test_import_does_not_pull_in_training_code():
    """Only the results contract, which is the standard library's, is shared with the training package."""
    code = (
        "import sys, analysis, analysis.cli, analysis.callback, analysis.pipeline, analysis.figures, "
        "analysis.report; analysis.load_runs, analysis.summarize, analysis.analyze; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'alternating_freeze')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    import ast

    loaded = ast.literal_eval(proc.stdout.strip())  # the printed list of module names
    contract = [m for m in loaded if m.startswith("alternating_freeze.contract")]
    assert "alternating_freeze.contract" in contract and sorted(set(loaded) - set(contract)) == ["alternating_freeze"]


@pytest.mark.slow
def test_callback_analyses_the_sweep_and_never_raises(sweep, tmp_path, caplog):
    out = tmp_path / "cb"
    AnalyzeCallback(out=str(out)).on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    assert (out / "report.html").exists() and (out / "stats.csv").exists()
    AnalyzeCallback(enabled=False).on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "x")}}}))
    assert not (tmp_path / "x").exists()
    with caplog.at_level(logging.WARNING):
        AnalyzeCallback().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "gone")}}}))
        AnalyzeCallback().on_multirun_end(OmegaConf.create({}))
    assert sum("analysis of the sweep failed" in r.message for r in caplog.records) == 2
