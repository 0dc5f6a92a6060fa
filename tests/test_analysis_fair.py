"""Fair comparison in hand-written run folders: selection on validation, time to target with censoring, equal
FLOP budgets, a tuned sweep's verdict at the tuned settings, its isolation-plot data and warnings, and the
report's headline sentence, each against a hand computation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from helpers import FAST, make_config, write_val_run

import analysis
from analysis import speed, tables, tuning

# ---------------------------------------------------------------- selection on validation


def test_selection_reads_validation_and_says_when_it_could_not(tmp_path, sweep):
    # best validation epoch 2 (0.95), where test accuracy is 0.80; the best test epoch is 3 (0.90)
    for seed in range(2):
        write_val_run(tmp_path / "val", make_config(seed), [0.7, 0.95, 0.9], [0.6, 0.80 + 0.02 * seed, 0.90])
    result = analysis.analyze([tmp_path / "val"], boot=FAST, figures=False)
    stats = result.stats.set_index("metric")
    assert stats.loc["test_acc_at_best_val", "mean"] == pytest.approx(0.81)
    assert stats.loc["best_test_acc", "mean"] == pytest.approx(0.90)
    md = (tmp_path / "val" / "report.md").read_text()
    assert "Selection (the best epoch, epochs to 90%, time to target) reads the validation split" in md
    assert "test acc at best val epoch (%)" in md
    old = analysis.analyze([sweep], boot=FAST, figures=False)  # no validation split anywhere
    md = (sweep / "report.md").read_text()
    assert "Selection used no validation data in any of these runs: they had no validation split" in md
    assert "test_acc_at_best_val" not in set(old.stats["metric"])


# ---------------------------------------------------------------- time to target

VAL = {  # per configuration and seed: validation accuracy after epochs 1-4
    "standard": {0: [0.6, 0.8, 0.9, 0.92], 1: [0.5, 0.85, 0.88, 0.9], 2: [0.7, 0.9, 0.92, 0.94]},
    "fast": {0: [0.85, 0.9, 0.91, 0.92], 1: [0.8, 0.9, 0.9, 0.9], 2: [0.4, 0.5, 0.6, 0.7]},  # seed 2 never gets there
    "slow": {0: [0.5, 0.6, 0.7, 0.8], 1: [0.5, 0.6, 0.87, 0.9], 2: [0.5, 0.6, 0.7, 0.75]},  # 1 of 3 gets there
}
FLOPS = {"standard": 3e9, "fast": 2e9, "slow": 1e9}


@pytest.fixture
def targets(tmp_path):
    for seed in range(3):
        for name, every in (("standard", None), ("fast", 1), ("slow", 2)):
            cfg = make_config(seed, "standard" if every is None else "alternating", every=every or 1)
            write_val_run(tmp_path, cfg, VAL[name][seed], [a - 0.05 for a in VAL[name][seed]], flops=FLOPS[name])
    return tmp_path


def test_time_to_target_counts_runs_that_never_reach_it(targets):
    result = analysis.analyze([targets], boot=FAST, figures=False)
    goal = 0.95 * np.mean([VAL["standard"][s][-1] for s in range(3)])  # 0.95 x 0.92 = 0.874
    runs = result.runs.set_index(["label", "seed"])
    first = {
        name: {s: next((e + 1 for e, a in enumerate(VAL[name][s]) if a >= goal), None) for s in range(3)}
        for name in VAL
    }  # hand: the first epoch at or above the target
    assert first == {"standard": {0: 3, 1: 3, 2: 2}, "fast": {0: 2, 1: 2, 2: None}, "slow": {0: None, 1: 4, 2: None}}
    labels = {"standard": "standard", "fast": "alternating/batch every 1", "slow": "alternating/batch every 2"}
    for name, label in labels.items():
        for s in range(3):
            cost = runs.loc[(label, s), "flops_to_target"]
            assert runs.loc[(label, s), "target_acc"] == pytest.approx(goal)
            assert cost == (first[name][s] * FLOPS[name] if first[name][s] else math.inf), (name, s)
    table = result.target.set_index("label")
    assert table.loc["standard", "median_flops"] == 9e9  # epochs 3, 3, 2 of 3 GFLOP: median 9
    fast = table.loc["alternating/batch every 1"]
    assert (fast["reached"], fast["median_flops"]) == (2, 4e9)  # 4, 4, inf: the censored run ranks last
    slow = table.loc["alternating/batch every 2"]
    assert (slow["reached"], slow["median_flops"]) == (1, math.inf)  # fewer than half got there: not reached
    # against standard, seed by seed: fast 4/9, 4/9 and only standard got there (ratio inf); slow inf, 4/9, inf
    assert (fast["sooner"], fast["later"], fast["neither"]) == (2, 1, 0)
    assert fast["median_flops_ratio"] == pytest.approx(4 / 9)
    assert (slow["sooner"], slow["later"], slow["neither"]) == (1, 2, 0)
    assert fast["same_epoch"] == slow["same_epoch"] == 0  # each sooner pair got there an epoch or more earlier
    assert not [w for w in result.warnings if "once an epoch" in w]
    md = (targets / "report.md").read_text()
    assert "| alternating/batch every 2 | 87.4 (val) | 1 of 3 | not reached |" in md
    assert (targets / "target.csv").exists()


def test_a_given_target_and_the_censored_median_by_hand(targets):
    result = analysis.analyze([targets], boot=FAST, figures=False, target_acc=0.9)
    table = result.target.set_index("label")
    assert table.loc["alternating/batch every 1", "reached"] == 2 and table.loc["standard", "reached"] == 3
    assert speed.censored_median(np.array([1.0, math.inf, 3.0, 2.0])) == 2.5
    assert speed.censored_median(np.array([1.0, math.inf, math.inf])) == math.inf
    assert speed.first_reach(np.array([0.1, 0.5, 0.4, 0.6]), np.array([1, 2, 3, 4]), 0.5) == 2
    assert (speed.cost_ratio(2, math.inf), speed.cost_ratio(math.inf, 2), speed.cost_ratio(2, 4)) == (0, math.inf, 0.5)
    assert math.isnan(speed.cost_ratio(math.inf, math.inf))


# ---------------------------------------------------------------- equal budget


def test_budget_runs_pair_with_standard_and_are_named(tmp_path):
    for seed in range(3):
        write_val_run(tmp_path, make_config(seed), [0.9] * 3, [0.90 + 0.01 * seed] * 3, budget="standard")
        write_val_run(
            tmp_path,
            make_config(seed, "alternating"),
            [0.9] * 4,
            [0.88 + 0.01 * seed] * 4,
            flops=2.25e9,
            budget="standard",
        )  # four epochs of 2.25 GFLOP: standard's 9
    result = analysis.analyze([tmp_path], boot=FAST, figures=False)
    acc = result.paired[result.paired["metric"] == "final_test_acc"].iloc[0]
    assert acc["label"] == "alternating/batch every 1, budget=standard" and acc["baseline_label"] == "standard"
    assert acc["n_pairs"] == 3 and acc["mean_diff"] == pytest.approx(-0.02)
    md = (tmp_path / "report.md").read_text()
    assert (
        "1 configuration(s) trained under a FLOP budget (trainer.budget) instead of an epoch count: "
        "alternating/batch every 1, budget=standard." in md
    )


def test_a_strategy_with_its_own_rates_pairs_with_the_standard_run_of_another_schedule(tmp_path):
    """FreezeOut (scheduler constant: absent from its config) against standard training under a step decay: no
    standard run shares its schedule, so it pairs with the only standard run of its context. Under two standard
    schedules in one context, each configuration pairs with the one that shares its schedule."""
    step = {"name": "step", "warmup": 0.0, "milestones": [0.5, 0.75], "gamma": 0.1}
    for seed in range(3):
        write_val_run(tmp_path, make_config(seed) | {"scheduler": step}, [0.9] * 3, [0.90 + 0.01 * seed] * 3)
        write_val_run(tmp_path, make_config(seed, "freezeout"), [0.9] * 3, [0.89 + 0.01 * seed] * 3)
    result = analysis.analyze([tmp_path], boot=FAST, figures=False)
    acc = result.paired[result.paired["metric"] == "final_test_acc"]
    assert len(acc) == 1 and acc.iloc[0]["baseline_label"].startswith("standard")
    assert acc.iloc[0]["n_pairs"] == 3 and acc.iloc[0]["mean_diff"] == pytest.approx(-0.01)
    md = (tmp_path / "report.md").read_text()
    assert "step milestones 0.5:0.75 gamma 0.1 for 'standard, step'; constant for 'freezeout/batch every 1'" in md
    for seed in range(3):  # a standard run under the freezeout runs' own (constant) schedule: that is the baseline
        write_val_run(tmp_path, make_config(seed), [0.9] * 3, [0.88 + 0.01 * seed] * 3)
    result = analysis.analyze([tmp_path], boot=FAST, figures=False)
    acc = result.paired[result.paired["metric"] == "final_test_acc"]
    assert list(acc["mean_diff"]) == [pytest.approx(0.01)]


# ---------------------------------------------------------------- a tuned sweep

GRID = [0.001, 0.003, 0.01]
SCORES = {
    "standard": {0.001: [0.90, 0.92], 0.003: [0.93, 0.95], 0.01: [0.80, None]},  # None: diverged
    "alt": {0.001: [0.85, 0.87], 0.003: [0.88, 0.90], 0.01: [0.91, 0.93]},  # best at the grid's end
    "broken": {lr: [None, None] for lr in GRID},
}
FINAL = {"standard": [0.95, 0.96, 0.94], "alt": [0.93, 0.95, 0.90]}  # test accuracy of the final seeds 0-2


@pytest.fixture
def tuned(tmp_path):
    arms = {}
    for arm, strategy in (("standard", "standard"), ("alt", "alternating"), ("broken", "alternating")):
        every = 4 if arm == "broken" else 1
        trials, finals = [], []
        for lr in GRID:
            for seed, score in zip((1000, 1001), SCORES[arm][lr]):
                cfg = make_config(seed, strategy, every=every, lr=lr)
                job = f"tuning/{arm}/lr={lr},seed={seed}"
                write_val_run(
                    tmp_path, cfg, [score or 0.1] * 3, [0.5] * 3, job=job, status="completed" if score else "diverged"
                )
                trials.append(
                    {
                        "values": {"optimizer.lr": lr},
                        "seed": seed,
                        "job": job,
                        "status": "completed" if score else "diverged",
                        "score": score,
                    }
                )
        means = {lr: np.mean([s for s in SCORES[arm][lr] if s]) for lr in GRID if any(SCORES[arm][lr])}
        chosen = max(means, key=means.get) if means else None
        for seed, acc in enumerate(FINAL.get(arm, [])):
            job = f"final/{arm}/seed={seed}"
            write_val_run(tmp_path, make_config(seed, strategy, every=every, lr=chosen), [0.9] * 3, [acc] * 3, job=job)
            finals.append(job)
        arms[arm] = {
            "overrides": [f"strategy={strategy}"],
            "trials": trials,
            "chosen": chosen and {"optimizer.lr": chosen},
            "at_edge": [],
            "all_failed": chosen is None,
            "final_jobs": finals,
        }
    (tmp_path / "tuning.json").write_text(
        json.dumps(
            {
                "version": 1,
                "metric": "best_val_acc",
                "mode": "max",
                "grid": {"optimizer.lr": GRID},
                "tuning_seeds": [1000, 1001],
                "final_seeds": [0, 1, 2],
                "trials_per_arm": 6,
                "arms": arms,
            }
        )
    )
    return tmp_path


@pytest.mark.slow
def test_a_tuned_sweep_compares_the_final_runs_at_their_tuned_settings(tuned):
    result = analysis.analyze([tuned], boot=FAST)
    runs = result.runs
    assert set(runs.loc[runs["role"] == "trial", "in_stats"]) == {False} and runs["role"].eq("trial").sum() == 18
    assert set(runs.loc[runs["in_stats"], "role"]) == {"final"} and runs["in_stats"].sum() == 6
    assert list(analysis.configurations(runs)["label"]) == ["standard, lr=0.003", "alternating/batch every 1, lr=0.01"]
    acc = result.paired[result.paired["metric"] == "final_test_acc"].iloc[0]  # at different learning rates, by seed
    assert acc["baseline_label"] == "standard, lr=0.003" and acc["n_pairs"] == 3
    assert acc["mean_diff"] == pytest.approx(np.mean(np.subtract(FINAL["alt"], FINAL["standard"])))
    md = (tuned / "report.md").read_text()
    assert md.split("\n")[2].startswith(
        "**No configuration beats standard training at tuned settings: at equal "
        "epochs the best, alternating/batch every 1, lr=0.01, is 2.33 pp lower"
    )
    assert (
        "every arm had the same budget of 6 trials, the grid optimizer.lr ∈ {0.001, 0.003, 0.01} (3 settings) on "
        "tuning seeds 1000 1001"
        in md
        and "Chosen: standard: optimizer.lr=0.003; alt: optimizer.lr=0.01; broken: none (every trial failed)." in md
    )
    assert "isolation" in {f.name for f in result.figures} and (tuned / "tuning.csv").exists()
    assert "No run folder for seed(s)" not in md  # trials use other seeds than the final runs: not missing runs
    # standard training leads its context in the at-a-glance table even where its tuned learning rate sorts last
    for seed, acc in enumerate(FINAL["standard"]):
        write_val_run(tuned, make_config(seed, lr=0.03), [0.9] * 3, [acc] * 3, job=f"final/standard/seed={seed}")
    again = analysis.analyze([tuned], boot=FAST, figures=False)
    assert list(tables.glance(again.stats, again.paired)[0]["configuration"]) == [
        "standard, lr=0.03",
        "alternating/batch every 1, lr=0.01",
    ]
    assert (
        "Tuning: 3 final run(s) did not run at their arm's recorded choice (tuning.json): final/standard/seed=0 "
        "(optimizer.lr=0.03, chosen 0.003); final/standard/seed=1" in " ".join(again.warnings)
    )
    assert not [w for w in result.warnings if "recorded choice" in w]  # the untouched sweep followed its protocol


def test_tuning_grid_edges_and_failures_by_hand(tuned):
    spec = json.loads((tuned / "tuning.json").read_text())
    grid = tuning.grid(spec).set_index(["arm", "value"])
    assert grid.loc[("standard", 0.003), "score"] == pytest.approx(0.94) and grid.loc[("standard", 0.003), "chosen"]
    assert (
        grid.loc[("standard", 0.01), "score"],
        grid.loc[("standard", 0.01), "n"],
        grid.loc[("standard", 0.01), "n_failed"],
    ) == (pytest.approx(0.80), 1, 1)
    assert grid.loc[("alt", 0.01), "score"] == pytest.approx(0.92) and grid.loc[("alt", 0.01), "chosen"]
    assert grid.loc["broken", "score"].isna().all() and not grid.loc["broken", "chosen"].any()
    assert tuning.at_edge(spec) == [("alt", "optimizer.lr")]
    notes = tuning.warnings(spec)
    assert notes[0].startswith("Tuning: the chosen value lies at the edge of its grid for alt (optimizer.lr=0.01)")
    assert notes[1].startswith("Tuning: every trial of broken diverged or failed")
    result = analysis.analyze([tuned], boot=FAST, figures=False)
    assert notes[0] in result.warnings and notes[1] in result.warnings


def test_an_untuned_sweep_says_so_and_its_headline_has_numbers(sweep):
    result = analysis.analyze([sweep], boot=FAST, figures=False)
    md = (sweep / "report.md").read_text()
    assert "The arms were not tuned: every configuration ran at the settings it was given (lr 0.001)" in md
    acc = result.paired[result.paired["metric"] == "final_test_acc"].set_index("label")
    best = acc.loc[acc["mean_diff"].idxmax()]  # every 1: +1, +1.5, -0.5, +2, +1 pp on the five paired seeds
    assert best.name == "alternating/batch every 1" and best["mean_diff"] == pytest.approx(0.01)
    head = md.split("\n")[2]  # at equal FLOPs (the fixture's curves) every alternating arm is clearly ahead
    assert head.startswith(
        "**0 of 3 configurations beat standard training at the settings given (not tuned) at equal "
        "epochs and 3 at equal FLOPs (Holm-adjusted p < 0.05): at equal epochs the best, "
        "alternating/batch every 1, is 1.00 pp higher ["
    )
    assert (
        "which these seeds cannot tell from no difference; at equal FLOPs the best, alternating/batch every 1, is "
        "10.10 pp higher [" in head
    )


def test_sooner_in_the_same_epoch_is_only_a_cheaper_epoch(tmp_path):
    """Both runs of a pair first reach the target in epoch 2 of 3; the alternating run's epochs cost a third: it is
    counted sooner (ratio 1/3), and the report warns that an epoch's evaluation cannot say which got there first."""
    for seed in range(3):
        write_val_run(tmp_path, make_config(seed), [0.5, 0.95, 0.95], [0.5, 0.9, 0.95], flops=3e9)  # target 0.9025
        alt = make_config(seed, "alternating")
        write_val_run(tmp_path, alt, [0.5, 0.95, 0.95 + 0.01 * seed], [0.5, 0.9, 0.95], flops=1e9)
    result = analysis.compute([tmp_path], boot=FAST)
    row = result.target.set_index("label").loc["alternating/batch every 1"]
    assert (row["sooner"], row["same_epoch"], row["median_flops_ratio"]) == (3, 3, pytest.approx(1 / 3))
    (warning,) = [w for w in result.warnings if "once an epoch" in w]
    assert "alternating/batch every 1 (3 of 3)" in warning
