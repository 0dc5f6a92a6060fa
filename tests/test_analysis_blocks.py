"""Networks in K blocks and the family of block schedules, in hand-written run folders: columns, labels,
reading order by number of blocks, the blocks figure's data and the report's schedules-by-K table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import FAST, make_config, write_run

import analysis
from alternating_freeze import contract
from analysis import figures, tables
from analysis.stats import context_names

HERE = Path(__file__).resolve().parent
SPLITS = {2: [2], 3: [1, 3], 4: [1, 2, 3]}  # depth 4
FLOPS = {"standard": 3e9, 2: 2.0e9, 3: 1.8e9, 4: 1.5e9}  # per epoch
ACC = {"standard": 0.95, "alternating": {2: 0.93, 3: 0.90, 4: 0.88}, "progressive": {2: 0.94, 3: 0.945, 4: 0.95}}


def write_blocks_run(root, seed, strategy, k=None, acc=0.9, flops=3e9, **strat):
    """A run of a K-block network (summary.json's ``resolved`` as training writes it now)."""
    base = make_config(seed, "standard" if strategy == "standard" else "alternating", depth=4)
    run = write_run(root, base, acc, flops_per_epoch=flops, job=f"{strategy}-{k}-{seed}-{json.dumps(strat)}")
    cfg = base | {"model": base["model"] | {"splits": SPLITS[k] if k else None}}
    if strategy != "standard":
        cfg["strategy"] = (
            {"name": strategy, "unit": "batch", "optimizer_state": "keep", "freeze_bn_stats": True}
            | (
                {"every": 1, "steps": None, "order": "cyclic", "start": None, "seed": None}
                if strategy == "alternating"
                else {"t_0": 0.5, "schedule": "linear"}
                if strategy == "progressive"
                else {"every": 1, "seed": None}
            )
            | strat
        )
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    summary = json.loads((run / "summary.json").read_text())
    splits = SPLITS[k or 2]
    steps = cfg["strategy"].get("steps") or [cfg["strategy"].get("every", 1)] * (len(splits) + 1)
    summary["config"], summary["config_hash"] = cfg, contract.config_hash(cfg)  # as training records it
    summary["resolved"] |= {
        "split": splits[0] if len(splits) == 1 else None,
        "splits": splits,
        "n_blocks": len(splits) + 1,
        "steps": None if strategy in ("standard", "progressive") else steps,
    }
    (run / "summary.json").write_text(json.dumps(summary))
    text = (
        (run / "metrics.csv")
        .read_text()
        .replace(",first+second,", "," + "+".join(map(str, range(len(splits) + 1))) + ",")
    )
    (run / "metrics.csv").write_text(text)
    return run


@pytest.fixture
def blocks(tmp_path):
    for seed in range(3):
        write_blocks_run(tmp_path, seed, "standard", acc=ACC["standard"] - 0.01 * seed, flops=FLOPS["standard"])
        for k in (4, 2, 3):  # written out of order: the reading order comes from K, not from the folders
            for strategy in ("alternating", "progressive"):
                write_blocks_run(tmp_path, seed, strategy, k, ACC[strategy][k] - 0.01 * seed, FLOPS[k])
    return tmp_path


def test_k_blocks_have_their_columns_labels_and_order(blocks):
    runs = analysis.load_runs([blocks])
    four = runs[(runs["n_blocks"] == 4) & (runs["strategy"] == "alternating")].iloc[0]
    assert (pd_na(four["split"]), four["splits"], four["steps"]) == (True, "1,2,3", "1:1:1:1")
    two = runs[(runs["n_blocks"] == 2) & (runs["strategy"] == "alternating")].iloc[0]
    assert (two["split"], pd_na(two["splits"]), two["steps"]) == (2, True, "1:1")
    labels = list(analysis.configurations(runs)["label"])
    assert labels == [
        "standard",
        "alternating/batch every 1, K=2 split=2",
        "alternating/batch every 1, K=3 splits=1,3",
        "alternating/batch every 1, K=4 splits=1,2,3",  # "1,2,3" sorts after "1,3": by K, not by text
        "progressive/batch linear t_0 0.5, K=2 split=2",
        "progressive/batch linear t_0 0.5, K=3 splits=1,3",
        "progressive/batch linear t_0 0.5, K=4 splits=1,2,3",
    ]
    curves = analysis.load_curves([blocks])
    assert set(curves.loc[curves["run_id"] == four["run_id"], "trained"]) == {"0+1+2+3"}
    paired = analysis.paired_comparison(runs, boot=FAST)
    assert set(paired["baseline_label"]) == {"standard"} and (paired["n_pairs"] == 3).all()  # K does not matter to it


def pd_na(value) -> bool:
    return bool(pd.isna(value))


@pytest.mark.slow
def test_blocks_figure_data_and_table_equal_hand_computation(blocks):
    res = analysis.compute([blocks], boot=FAST)
    stats, paired = res.stats, res.paired
    data = figures.blocks_data(res)
    mean = data.groupby(["schedule", "K"])[["value", "flops"]].mean()
    for k in (2, 3, 4):
        row = mean.loc[("alternating/batch every 1", k)]
        assert row["value"] == pytest.approx(np.mean([ACC["alternating"][k] - 0.01 * s for s in range(3)]) * 100)
        assert row["flops"] == pytest.approx(FLOPS[k] / FLOPS["standard"] * 100)
    configs = analysis.configurations(res.runs)
    table = tables.blocks(stats, paired, configs, context_names(configs)).set_index("schedule")
    assert list(table.columns) == ["K=2", "K=3", "K=4"]
    diff = (ACC["progressive"][4] - ACC["standard"]) * 100  # the same seed offset in both arms: it cancels
    assert table.loc["progressive/batch linear t_0 0.5", "K=4"] == f"{diff:+.2f} pp at 50% FLOPs"
    assert table.loc["alternating/batch every 1", "K=3"] == "-5.00 pp at 60% FLOPs"
    fig = figures.blocks(res, figures.WIDTHS["report"])
    assert [ax.get_ylabel() for ax in fig.axes[:2]] == ["final test accuracy (%)", "training FLOPs\n(% of standard)"]
    result = analysis.analyze([blocks], boot=FAST)
    assert "blocks" in {f.name for f in result.figures}
    assert "## Schedules and blocks" in (blocks / "report.md").read_text()


def test_schedules_are_named_by_what_they_do(tmp_path):
    for seed in range(2):
        write_blocks_run(tmp_path, seed, "standard", acc=0.95)
        write_blocks_run(tmp_path, seed, "alternating", 3, 0.9, order="reverse")
        write_blocks_run(tmp_path, seed, "alternating", 3, 0.9, steps=[5, 1, 1])
        write_blocks_run(tmp_path, seed, "random_block", 3, 0.9, every=2)
        write_blocks_run(tmp_path, seed, "lisa", 3, 0.9, every=4, count=1, always=[0, -1])
        write_blocks_run(tmp_path, seed, "progressive", 3, 0.9, schedule="cubic", t_0=0.8)
    labels = set(analysis.load_runs([tmp_path])["label"])
    assert labels == {
        "standard",
        "alternating/batch every 1 reverse",
        "alternating/batch steps 5:1:1",
        "random_block/batch every 2",
        "lisa/batch every 4 count 1 always 0:-1",
        "progressive/batch cubic t_0 0.8",
    }


def test_a_two_half_folder_means_what_it_meant(tmp_path):
    runs = analysis.load_runs([HERE / "fixtures" / "v0_sweep"])
    alt = runs[runs["strategy"] == "alternating"]
    assert set(alt["n_blocks"]) == {2} and set(alt["split"]) == {1} and alt["splits"].isna().all()
    assert set(alt["steps"]) == {"1:1"} and set(alt["selection"]) == {"test"}
    config = yaml.safe_load((HERE / "fixtures" / "v0_sweep" / "multirun.yaml").read_text())
    assert "splits" not in config.get("model", {})  # written before K blocks existed
