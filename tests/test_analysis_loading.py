"""The analysis reads run folders into its tables: effective values from the config, and every way a run
can go wrong reported and kept out of the statistics (run folders from helpers.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import FAST, STANDARD, by_label, make_config, write_run

import analysis


def test_runs_table_flattens_config_with_effective_values(sweep):
    runs = analysis.load_runs([sweep])
    assert len(runs) == 19 and set(runs["status"]) == {"completed"} and runs["in_stats"].all()
    for col in (
        "dataset",
        "subset",
        "depth",
        "width",
        "batchnorm",
        "dropout",
        "split",
        "strategy",
        "unit",
        "every",
        "steps",
        "start",
        "optimizer",
        "optimizer_state",
        "freeze_bn_stats",
        "lr",
        "weight_decay",
        "batch_size",
        "epochs",
        "seed",
        "label",
        "status",
        "run_dir",
        "final_test_acc",
        "train_flops",
    ):
        assert col in runs.columns, col
    # where and how a run executed is recorded, but never makes a configuration of its own
    assert {"device", "num_threads"} <= set(runs.columns)
    assert not {"device", "num_threads"} & set(analysis.loading.key_columns(runs.columns))
    alt = runs[(runs["every"] == 4) & (runs["seed"] == 0)].iloc[0]
    assert alt["label"] == "alternating/batch every 4" and alt["steps"] == "4:4" and alt["split"] == 1
    std = runs[(runs["strategy"] == "standard") & (runs["seed"] == 0)].iloc[0]
    assert std["label"] == "standard" and std["final_test_acc"] == 0.90
    assert runs["label"].nunique() == runs["config_id"].nunique() == 4
    curves = analysis.load_curves([sweep])
    assert len(curves) == 19 * 3 and set(curves["epoch"]) == {1, 2, 3}
    one = curves[curves["run_id"] == std["run_id"]]
    assert list(one["train_s_cum"]) == [1.0, 2.0, 3.0] and one["test_acc"].iloc[-1] == 0.90


def test_config_yaml_alone_gives_effective_split_and_steps(tmp_path):
    cfg = make_config(0, "alternating", every=2, depth=4)
    write_run(tmp_path, cfg, summary=False, epochs_done=1)
    run = analysis.load_runs([tmp_path]).iloc[0]
    assert run["status"] == "incomplete" and run["split"] == 2 and run["steps"] == "2:2"
    assert "1 of 3 epochs" in run["error"] and not run["in_stats"]


def test_problem_runs_are_reported_and_excluded(messy):
    all_runs = analysis.load_runs([messy])
    orphan = all_runs[all_runs["job"] == "orphan"].iloc[0]
    assert orphan["status"] == "incomplete" and orphan["epochs_completed"] == 3 and pd.isna(orphan["config_id"])
    runs = all_runs[all_runs["job"] != "orphan"].set_index("seed")
    assert runs.loc[7, "status"] == "diverged" and "NaN" in runs.loc[7, "error"]
    assert runs.loc[8, "status"] == "failed" and runs.loc[8, "error"] == "RuntimeError: CUDA out of memory"
    assert runs.loc[9, "status"] == "incomplete" and runs.loc[12, "status"] == "incomplete"
    assert runs.loc[10, "status"] == "corrupt" and "metrics.csv" in runs.loc[10, "error"]
    assert runs.loc[11, "status"] == "corrupt" and "summary.json" in runs.loc[11, "error"]
    assert runs.loc[14, "status"] == "corrupt" and "UTF-8" in runs.loc[14, "error"]
    assert runs.loc[15, "status"] == "corrupt" and "empty" in runs.loc[15, "error"]
    assert not runs.loc[[7, 8, 9, 10, 11, 12, 14, 15], "in_stats"].any() and not orphan["in_stats"]
    stats = analysis.summarize(all_runs, boot=FAST)
    std = by_label(stats, "standard", "final_test_acc")
    assert std["n"] == 5 and std["mean"] == pytest.approx(np.mean(list(STANDARD.values())))
    assert std["n_runs"] == 11 and std["n_excluded"] == 6 and "4 corrupt" in std["excluded"]
    every4 = by_label(stats, "alternating/batch every 4", "final_test_acc")
    assert every4["n"] == 5 and "1 diverged" in every4["excluded"] and "1 failed" in every4["excluded"]


def test_a_completed_run_without_a_seed_is_reported_not_dropped(tmp_path):
    write_run(tmp_path, make_config(0), 0.9)
    run = write_run(tmp_path, make_config(1), 0.9)
    for name in (".hydra/config.yaml", "summary.json"):  # written by hand, or by another tool
        text = (run / name).read_text()
        (run / name).write_text(text.replace("seed: 1\n", "").replace('"seed": 1,', '"seed": null,'))
    runs = analysis.load_runs([tmp_path])
    seedless = runs[runs["seed"].isna()].iloc[0]
    assert seedless["status"] == "corrupt" and "no seed" in seedless["error"] and not seedless["in_stats"]


def test_duplicate_runs_count_once(sweep, tmp_path):
    again = tmp_path / "again"
    write_run(again, make_config(0), 0.5)  # the same configuration and seed in a second sweep folder
    runs = analysis.load_runs([sweep, again])
    dup = runs[(runs["strategy"] == "standard") & (runs["seed"] == 0)]
    assert len(dup) == 2 and dup["in_stats"].sum() == 1
    assert dup.loc[~dup["in_stats"], "note"].iloc[0].startswith("duplicate of")
    stats = analysis.summarize(runs, boot=FAST)
    assert by_label(stats, "standard", "final_test_acc")["n"] == 5


def test_a_run_from_before_a_key_was_added_is_the_same_configuration(tmp_path):
    """An old run folder has no trainer.precision; a new one has its neutral fp32: one configuration, paired."""
    for seed in range(3):
        write_run(tmp_path, make_config(seed), 0.9, job=f"old/seed={seed}")
        new = make_config(seed, "alternating")
        new["trainer"]["precision"], new["dataset"]["augment"] = "fp32", "none"
        write_run(tmp_path, new, 0.9, job=f"new/seed={seed}")
        newer = make_config(seed)
        newer["trainer"]["precision"] = "fp32"
        write_run(tmp_path, newer, 0.9, job=f"newer/seed={seed}")
    runs = analysis.load_runs([tmp_path])
    standard = runs[runs["strategy"] == "standard"]
    assert standard["config_id"].nunique() == 1 and len(standard) == 6
    assert runs["context_id"].nunique() == 1  # the alternating runs pair with both
