"""The analysis on a real sweep: af-train writes the run folders, the experiment presets' callback
analyses them at the end, and one override turns that off.

Kept apart from the tests on hand-written run folders (helpers.py), which need neither torch nor
the training code; these tests run them (a 4-job sweep on digits takes a few seconds).
"""

from __future__ import annotations

import re
import subprocess

import pandas as pd
import pytest
from helpers import ROOT, af_train
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from matplotlib import image as mpimg

import alternating_freeze.config  # noqa: F401  registers the schemas the presets compose with
from analysis import figures

CONF = ROOT / "conf"
PRESETS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml") if p.stem != "charlm_pretrain")  # sweeps only


@pytest.mark.parametrize("name", PRESETS)
def test_presets_analyse_at_sweep_end_unless_turned_off(name):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        on = compose(config_name="train", overrides=[f"experiment={name}"], return_hydra_config=True)
        off = compose(
            config_name="train",
            overrides=[f"experiment={name}", "hydra.callbacks.analyze.enabled=false"],
            return_hydra_config=True,
        )
    assert on.hydra.callbacks.analyze._target_ == "analysis.callback.AnalyzeCallback"
    assert instantiate(on.hydra.callbacks.analyze).enabled is True
    assert instantiate(off.hydra.callbacks.analyze).enabled is False


@pytest.mark.slow
def test_real_tiny_sweep_gets_figures_and_reports(tmp_path, cli_env):
    """digits, 2 seeds x 2 strategies, 2 epochs, analysed by the callback as the presets do it."""
    sweep = tmp_path / "sweep"
    proc = subprocess.run(
        af_train(
            "-m",
            f"hydra.sweep.dir={sweep}",
            "seed=0,1",
            "strategy=standard,alternating",
            "trainer.epochs=2",
            "trainer.progress=none",
            "trainer.num_threads=1",
            "+hydra.callbacks.analyze._target_=analysis.callback.AnalyzeCallback",
        ),
        cwd=ROOT,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "analysis of 4 runs written to" in proc.stderr + proc.stdout

    runs = pd.read_csv(sweep / "runs.csv")
    assert len(runs) == 4 and set(runs["status"]) == {"completed"} and runs["in_stats"].all()
    assert sorted(runs["label"].unique()) == ["alternating/batch every 1", "standard"]
    assert len(pd.read_csv(sweep / "curves.csv")) == 4 * 2
    paired = pd.read_csv(sweep / "paired.csv")
    assert set(paired["metric"]) == {"final_test_acc", "test_acc_at_equal_flops", "train_s", "train_flops"}
    assert (paired.loc[paired["metric"] != "train_s", "n_pairs"] == 2).all()
    assert (paired.loc[paired["metric"] == "train_s", "n_pairs"] == 0).all()  # 2 pairs: too few to compare seconds

    drawn = {p.stem for p in (sweep / "figures").glob("*.png")}
    # one switching frequency, one number of blocks, no tuning: nothing to plot those against; two seeds are too
    # few to judge a configuration's timing, so no figure of seconds; one schedule for all: no learning-rate figure
    skipped = {"frequency", "blocks", "isolation", "compute_time", "train_time", "learning_rates"}
    assert drawn == set(figures.FIGURES) - skipped
    assert (
        {p.stem for p in (sweep / "figures").glob("*.svg")}
        == {p.stem for p in (sweep / "figures").glob("*.pdf")}
        == drawn
    )
    for name in drawn:  # one width, the report's column; the height follows the content
        height, width = mpimg.imread(sweep / "figures" / f"{name}.png").shape[:2]
        assert width == figures.WIDTHS["report"] * figures.DPI and 150 <= height <= 1200, (name, height, width)

    md = (sweep / "report.md").read_text()
    assert re.match(
        r"# Alternating-freeze analysis: digits, MLP depth \d+ width \d+, 2 epochs, 2 seeds per "
        r"configuration\n",
        md,
    ), md[:200]
    for text in (
        "## At a glance",
        "Only 2 completed seeds (< 5)",
        "frequency: no switching-frequency variation",
        "af-train --multirun",
        "seed=0,1",
        "Holm",
        "How to read the statistics",
    ):
        assert text in md, text
    page = (sweep / "report.html").read_text()
    assert len(re.findall(r'src="data:image/png;base64,', page)) == len(drawn)
    assert not re.search(r"<link|<script|url\(|@import", page, re.I)
