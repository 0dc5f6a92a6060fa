"""Timings a reader can trust, with seconds injected into hand-written run folders: a load period that slowed
half the seeds of one configuration is flagged, the report falls back to FLOPs and does not blame the strategy;
batched and resumed runs never compare their seconds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import FAST, make_config, write_val_run

import analysis
from analysis import speed

EPOCH_S = 0.5  # every run's training seconds per epoch on a quiet machine


def write_timed(root, seed, strategy, slow=1.0, **summary):
    """A run whose wall seconds were stretched ``slow`` times by other work while its CPU seconds were not."""
    run = write_val_run(
        root,
        make_config(seed, strategy),
        [0.9] * 3,
        [0.90 + 0.01 * seed - 0.02 * (strategy != "standard")] * 3,
        flops=3e9 if strategy == "standard" else 2e9,
        epoch_s=EPOCH_S * slow,
    )
    data = json.loads((run / "summary.json").read_text())
    data |= {"train_cpu_s": EPOCH_S * 3} | summary
    (run / "summary.json").write_text(json.dumps(data))
    return run


@pytest.fixture
def loaded_machine(tmp_path):
    """Standard training first on a quiet machine, then alternating while a load period covered seeds 0-2."""
    for seed in range(6):
        write_timed(tmp_path, seed, "standard")
        write_timed(tmp_path, seed, "alternating", slow=4.0 if seed < 3 else 1.0)
    return tmp_path


@pytest.mark.slow
def test_a_load_period_is_flagged_and_the_report_falls_back_to_flops(loaded_machine):
    result = analysis.analyze([loaded_machine], boot=FAST)
    runs = result.runs.set_index(["strategy", "seed"])
    # throughput of the alternating seeds: 2 GFLOP/0.5 s quiet, a quarter of that loaded; the median of
    # three of each is 2.5 GFLOP/s, which the quiet ones exceed 1.6 times and the loaded ones fall short of 2.5 times
    speeds = np.array([6e9 / (3 * EPOCH_S * (4.0 if s < 3 else 1.0)) for s in range(6)])
    assert speed.departure(speeds) == pytest.approx([2.5] * 3 + [1.6] * 3)
    alt = runs.loc["alternating"]
    assert not alt["timing_ok"].any() and runs.loc["standard", "timing_ok"].all()
    assert all(
        "2.5x from its configuration's median" in f and "starved of CPU: 25% of wall time" in f
        for f in alt.loc[[0, 1, 2], "timing_flag"]
    )
    assert all(f.startswith("throughput 4 GFLOP/s, 1.6x") for f in alt.loc[[3, 4, 5], "timing_flag"])
    secs = result.paired[result.paired["metric"] == "train_s"].iloc[0]
    assert secs["n_pairs"] == 0 and np.isnan(secs["mean_diff"]) and "0 of 6 pairs have trusted timing" in secs["note"]
    flops = result.paired[result.paired["metric"] == "train_flops"].iloc[0]
    assert flops["mean_diff"] == pytest.approx(6e9 - 9e9) and flops["n_pairs"] == 6
    stats = result.stats.set_index(["label", "metric"])
    assert stats.loc[("alternating/batch every 1", "train_s"), "n"] == 0  # no trusted seconds to average
    assert stats.loc[("standard", "train_s"), "n"] == 6
    md = (loaded_machine / "report.md").read_text()
    section = md.split("## Speed")[1].split("\n## ")[0]
    assert "Wall-clock timing is unusable here" in section and "compares cost in FLOPs only" in section
    assert "1 of 1 configuration(s) spend fewer FLOPs than standard training (67-67% of its FLOPs)" in section
    assert "Timing: the seconds of 6 of 12 completed runs cannot be compared (6 throughput, 3 starved" in md
    assert "faster" not in section and "slower" not in section  # the load is not the strategy's
    comparison = md.split("## Paired comparison with standard training")[1]
    assert "| alternating/batch every 1 | train time (s) | standard | 0 | – | – | – |" in comparison
    skipped = dict(result.skipped)
    assert "compute_time" not in skipped  # standard's trusted runs are still drawn, alone
    assert "no run's timing can be trusted" not in skipped.get("train_time", "")


def test_seconds_compare_only_where_enough_pairs_are_trusted(tmp_path):
    for seed in range(6):
        write_timed(tmp_path, seed, "standard")
        write_timed(tmp_path, seed, "alternating", slow=6.0 if seed == 0 else 1.0)  # one loaded seed of six
    result = analysis.analyze([tmp_path], boot=FAST, figures=False)
    assert result.runs["timing_ok"].sum() == 11
    secs = result.paired[result.paired["metric"] == "train_s"].iloc[0]
    # five trusted pairs: alternating trains at 2/3 of standard's FLOPs in the same seconds (0.5 s an epoch)
    assert secs["n_pairs"] == 5 and secs["seeds"] == "1 2 3 4 5" and secs["mean_diff"] == pytest.approx(0)
    assert "1 pair(s) with untrusted timing left out" in secs["note"]
    assert "Wall-clock, where it can be trusted (1 of 1 configurations)" in (tmp_path / "report.md").read_text()
    assert [speed.timing_usable(n, 6) for n in (2, 3, 4)] == [False, False, True]
    assert [speed.timing_usable(n, 4) for n in (2, 3)] == [False, True]


def test_batched_and_resumed_runs_never_compare_their_seconds(tmp_path):
    for seed in range(4):
        write_timed(tmp_path, seed, "standard", **({"thread_counts": [1, 2]} if seed == 0 else {}))
        write_timed(tmp_path, seed, "alternating", batched_with=4)  # one process trained the four together
    result = analysis.analyze([tmp_path], boot=FAST, figures=False)
    runs = result.runs.set_index(["strategy", "seed"])
    assert runs.loc["alternating", "timing_flag"].str.startswith("trained in a batch of 4 runs").all()
    assert runs.loc[("standard", 0), "timing_flag"] == "ran under 1 and 2 threads (resumed under another count)"
    assert runs.loc["standard", "timing_ok"].tolist() == [False, True, True, True]
    assert any(
        w.startswith("1 run(s) ran under more than one thread count") and "(1,2 threads)" in w for w in result.warnings
    )
    assert result.paired.set_index("metric").loc["train_s", "n_pairs"] == 0


def test_cpu_share_and_departure_by_hand():
    assert speed.cpu_share(np.array([1.0, 0.5]), np.array([1.0, 1.0]), np.array([1, 2])) == pytest.approx([1, 0.25])
    assert speed.departure(np.array([1.0, 2.0, 4.0, np.nan])) == pytest.approx([2, 1, 2, np.nan], nan_ok=True)
    frame = pd.DataFrame(
        {
            "in_stats": [True],
            "config_id": ["a"],
            "train_flops": [1e9],
            "train_s": [1.0],
            "thread_counts": [None],
            "num_threads": [2],
            "train_cpu_s": [1.1],
        }
    )
    judged = speed.judge_timing(frame)  # 1.1 of 2 thread-seconds: 55%, starved
    assert judged["timing_flag"].iloc[0] == "starved of CPU: 55% of wall time x 2 thread(s) computing"
    four = pd.concat([frame] * 4, ignore_index=True).assign(train_cpu_s=[1.1, 1.1, 2.0, 2.0])  # two starved of four
    judged = speed.judge_timing(four)  # two trusted runs are too few to stand for the configuration
    assert not judged["timing_ok"].any()
    assert list(judged["timing_flag"][2:]) == ["too few trusted runs in its configuration (2 of 4)"] * 2
