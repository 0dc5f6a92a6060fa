"""The analysis of a tuned sweep's tuning.json (version 2 and version 1): invalid trial scores count as failed
through contract.valid_score and are named, a choice near a boundary of the search space is warned about, and
the studies' disagreement is computed next to the seed variance by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from analysis import tuning


def v2(chosen_lr=0.01, scores=(0.9, 0.8)):
    trials = [
        {"values": {"optimizer.lr": lr}, "seed": 1000, "job": f"t{i}", "score": s, "study": i}
        for i, (lr, s) in enumerate(zip((chosen_lr, 0.002), scores))
    ]
    studies = [
        {"study": i, "chosen": t["values"], "score": t["score"], "final_jobs": [f"f{i}-0", f"f{i}-1"]}
        for i, t in enumerate(trials)
    ]
    return {
        "version": 2,
        "metric": "best_val_acc",
        "mode": "max",
        "method": "quasirandom",
        "studies": 2,
        "trials_per_study": 1,
        "halton_seed": 0,
        "tuning_seeds": [1000],
        "final_seeds": [0, 1],
        "grid": {"optimizer.lr": sorted({chosen_lr, 0.002})},
        "space": {"optimizer.lr": {"distribution": "log_uniform", "lo": 1e-4, "hi": 1e-1}},
        "arms": {
            "standard": {
                "chosen": studies[1]["chosen"],
                "trials": trials,
                "studies": studies,
                "median_study": 1,
                "final_jobs": studies[1]["final_jobs"],
            }
        },
    }


def test_a_version_2_file_has_the_documented_layout_and_a_version_1_file_still_reads():
    assert tuning.layout(v2())
    old = {
        "grid": {"optimizer.lr": [0.1, 1.0]},
        "arms": {
            "a": {
                "chosen": {"optimizer.lr": 0.1},
                "trials": [{"values": {"optimizer.lr": 0.1}, "score": 0.5}],
                "final_jobs": ["x"],
            }
        },
    }
    assert tuning.layout(old) and tuning.at_edge(old) == [("a", "optimizer.lr")] and tuning.near_boundary(old) == []
    assert "grid optimizer.lr" in tuning.protocol(old)


def test_the_boundary_warning_names_key_side_and_study_and_is_silent_inside():
    assert tuning.near_boundary(v2(chosen_lr=0.09)) == [("standard", 0, "optimizer.lr", "high")]
    (warning,) = [w for w in tuning.warnings(v2(chosen_lr=0.09)) if "outer 5%" in w]
    assert "standard study 0: optimizer.lr at the high end (0.09)" in warning
    assert tuning.near_boundary(v2(chosen_lr=0.01)) == []  # 0.002 and 0.01: inside on the log scale
    assert not [w for w in tuning.warnings(v2(chosen_lr=0.01)) if "outer 5%" in w]
    assert tuning.at_edge(v2(chosen_lr=0.09)) == []  # values tried are no grid: no edge warning


@pytest.mark.parametrize("bad", ["high", math.nan, 1.5, -0.2, True])
def test_an_invalid_score_counts_as_failed_and_is_named(bad):
    t = v2(scores=(bad, 0.8))
    grid = tuning.grid(t)
    assert grid.loc[grid["value"].eq(0.01), "n_failed"].item() == 1
    (warning,) = [w for w in tuning.warnings(t) if "not valid" in w]
    assert "standard: t0" in warning


def test_study_spread_next_to_seed_variance_equals_a_hand_computation(tmp_path):
    t = v2()
    final = {"f0-0": 0.90, "f0-1": 0.94, "f1-0": 0.80, "f1-1": 0.86}
    runs = pd.DataFrame(
        {"run_dir": [str((tmp_path / j).resolve()) for j in final], "final_test_acc": list(final.values())}
    )
    table = tuning.studies(t, runs, tmp_path)
    assert table["mean"].tolist() == pytest.approx([0.92, 0.83]) and table["median"].tolist() == [False, True]
    (row,) = tuning.spread(table).to_dict("records")
    assert row["study_sd"] == pytest.approx(np.std([0.92, 0.83], ddof=1))  # 0.0636
    assert row["seed_sd"] == pytest.approx(math.sqrt((np.var([0.90, 0.94], ddof=1) + np.var([0.80, 0.86], ddof=1)) / 2))
    assert math.isnan(tuning.between_study_sd([0.5])) and math.isnan(tuning.pooled_seed_sd([[0.5], [0.4]]))


def test_final_runs_of_other_studies_stay_out_of_the_verdict(tmp_path):
    class Sweep:
        path, tuning = tmp_path, v2()

    roles = tuning.roles([Sweep])
    assert roles[(tmp_path / "f1-0").resolve()] == ("standard", "final")  # the median study
    assert roles[(tmp_path / "f0-0").resolve()] == ("standard", "study") and "study" in tuning.OUTSIDE_VERDICT


def test_the_isolation_envelope_is_the_best_trial_per_bin_and_trial_points_mark_each_studys_choice():
    x, y = tuning.envelope([1, 2, 3, 9, 10], [0.5, 0.7, math.nan, 0.2, 0.4], bins=3)  # bins [1,4) [4,7) [7,10]
    assert x.tolist() == [2, 10] and y.tolist() == [0.7, 0.4]  # the NaN (failed) trial and the empty bin left out
    x, y = tuning.envelope([1e-4, 2e-4, 1e-2, 5e-2], [0.1, 0.3, 0.9, 0.8], bins=2, log=True)  # split at 2.2e-3
    assert x.tolist() == [2e-4, 1e-2] and y.tolist() == [0.3, 0.9]
    points = tuning.trial_points(v2(scores=(0.9, "bad")))
    assert points["chosen"].tolist() == [True, True] and points["study"].tolist() == [0, 1]
    assert points["score"].iloc[0] == 0.9 and math.isnan(points["score"].iloc[1])
