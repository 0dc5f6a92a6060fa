"""The analysis's statistics against hand computations: summaries, paired tests, bootstrap intervals,
Holm, accuracy at equal FLOPs, and the warnings about missing or noisy runs."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from helpers import EPOCH1, EVERY1, EVERY4, FAST, STANDARD, by_label, curve_of, make_config, write_run
from scipy import stats as st

import analysis
from analysis.speed import judge_timing
from analysis.stats import context_names


def test_summary_statistics_equal_hand_computation(sweep):
    stats = analysis.summarize(analysis.load_runs([sweep]), boot=FAST)
    for label, accs in (
        ("standard", STANDARD),
        ("alternating/batch every 1", EVERY1),
        ("alternating/batch every 4", EVERY4),
        ("alternating/epoch every 1", EPOCH1),
    ):
        r = by_label(stats, label, "final_test_acc")
        vals = list(accs.values())
        n = len(vals)
        mean = sum(vals) / n
        sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
        assert r["n"] == n and r["mean"] == pytest.approx(mean) and r["std"] == pytest.approx(sd)
        assert r["ci_low"] <= r["mean"] <= r["ci_high"] and r["ci_low"] < r["ci_high"]
        assert r["ci_low"] >= min(vals) and r["ci_high"] <= max(vals)
        half = st.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
        assert (r["t_ci_low"], r["t_ci_high"]) == (pytest.approx(mean - half), pytest.approx(mean + half))
        best = by_label(stats, label, "best_test_acc")
        assert best["mean"] == pytest.approx(mean)  # the fixture's curves peak at the end
    time = by_label(stats, "alternating/batch every 1", "train_s")
    assert time["mean"] == pytest.approx(np.mean([3 * (0.7 + 0.01 * s) for s in range(6)]))
    flops = by_label(stats, "standard", "train_flops")
    assert flops["mean"] == 9e9 and flops["std"] == 0 and flops["ci_low"] == flops["ci_high"] == 9e9
    e90 = by_label(stats, "standard", "epochs_to_90pct")
    expected = [
        next(i + 1 for i, a in enumerate(curve_of(acc, 3, 0)[0]) if a >= 0.9 * acc) for acc in STANDARD.values()
    ]
    assert e90["mean"] == pytest.approx(np.mean(expected))
    loss_std = by_label(stats, "standard", "loss_std")
    assert loss_std["mean"] == pytest.approx(statistics.pstdev([1.0, 0.5, 1 / 3]))


def test_paired_comparison_equals_hand_computation(sweep):
    runs = analysis.load_runs([sweep])
    paired = analysis.paired_comparison(runs, boot=FAST)
    r = by_label(paired, "alternating/batch every 1", "final_test_acc")
    d = [EVERY1[s] - STANDARD[s] for s in range(5)]  # seed 5 has no partner: dropped
    n = len(d)
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    t = mean / (sd / math.sqrt(n))
    p = 2 * st.t.sf(abs(t), n - 1)
    assert r["baseline_label"] == "standard" and r["n_pairs"] == 5 and r["seeds"] == "0 1 2 3 4"
    assert r["seeds_only_config"] == "5" and r["seeds_only_baseline"] == ""
    assert r["mean_diff"] == pytest.approx(mean) and r["sd_diff"] == pytest.approx(sd)
    assert r["t"] == pytest.approx(t) and r["df"] == 4 and r["p_ttest"] == pytest.approx(p)
    assert r["d_z"] == pytest.approx(mean / sd)
    assert r["mean_config"] == pytest.approx(np.mean([EVERY1[s] for s in range(5)]))
    assert r["p_wilcoxon"] == pytest.approx(st.wilcoxon(d).pvalue)
    assert r["ci_low"] <= r["mean_diff"] <= r["ci_high"]
    acc = paired[paired["metric"] == "final_test_acc"]  # the Holm family: 3 comparisons of final accuracy
    assert len(acc) == 3 and acc["p_holm"].notna().all() and (acc["p_holm"] >= acc["p_ttest"]).all()
    smallest = acc["p_ttest"].min()
    assert acc.loc[acc["p_ttest"].idxmin(), "p_holm"] == pytest.approx(min(1.0, 3 * smallest))
    # FLOPs are deterministic: every difference is the same, so the t-test is undefined, not infinite
    f = by_label(paired, "alternating/batch every 1", "train_flops")
    assert f["mean_diff"] == pytest.approx(3 * 2e9 - 3 * 3e9) and f["sd_diff"] == 0
    assert math.isnan(f["p_ttest"]) and math.isnan(f["d_z"]) and "sd 0" in f["note"]
    # three pairs only: no Wilcoxon, with a note
    e = by_label(paired, "alternating/epoch every 1", "final_test_acc")
    assert e["n_pairs"] == 3 and math.isnan(e["p_wilcoxon"]) and "n < 5" in e["note"]
    assert not math.isnan(e["p_ttest"])
    warnings = analysis.collect_warnings(runs, analysis.summarize(runs, boot=FAST), paired)
    assert any("seed(s) 5 only in alternating/batch every 1" in w for w in warnings)
    assert any(w.startswith("Only 3 completed seeds (< 5): alternating/epoch every 1.") for w in warnings)


def test_every_interval_contains_its_mean(sweep):
    runs = analysis.load_runs([sweep])
    stats = analysis.summarize(runs, boot=FAST)
    paired = analysis.paired_comparison(runs, boot=FAST)
    finite = stats[stats["ci_low"].notna()]
    assert len(finite) == len(stats)
    assert ((finite["ci_low"] <= finite["mean"]) & (finite["mean"] <= finite["ci_high"])).all()
    p = paired[paired["ci_low"].notna()]
    assert len(p) == len(paired)
    assert ((p["ci_low"] <= p["mean_diff"] + 1e-12) & (p["mean_diff"] <= p["ci_high"] + 1e-12)).all()


def test_bootstrap_is_reproducible_and_method_selectable():
    vals = [0.9, 0.91, 0.93, 0.99, 0.92, 0.88]  # skewed: BCa and percentile differ
    a, b = analysis.bootstrap_ci(vals), analysis.bootstrap_ci(vals)
    assert a == b and a[0] < np.mean(vals) < a[1]
    bca = analysis.bootstrap_ci(vals, analysis.Bootstrap(method="BCa"))
    assert bca[0] < np.mean(vals) < bca[1] and bca != a
    assert all(math.isnan(x) for x in analysis.bootstrap_ci([0.9]))
    assert analysis.bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5)


def test_bootstrap_settings_are_validated():
    with pytest.raises(ValueError, match="method='bogus': allowed are percentile, BCa"):
        analysis.Bootstrap(method="bogus")
    with pytest.raises(ValueError, match="confidence=1.5"):
        analysis.Bootstrap(confidence=1.5)
    assert analysis.Bootstrap(method="bca").scipy_method == "BCa"


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01, 2 x 0.03, max(1 x 0.04, 0.06); NaN is not part of the family
    got = analysis.holm([0.01, 0.04, 0.03, float("nan")])
    assert got[:3] == pytest.approx([0.03, 0.06, 0.06]) and math.isnan(got[3])
    assert analysis.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_paired_tests_by_hand_exact_wilcoxon():
    d = np.array([0.011, 0.023, -0.004, 0.031, 0.017, 0.006])  # no ties, no zeros: the exact test applies
    b = np.array([0.90, 0.91, 0.92, 0.89, 0.93, 0.90])
    res = analysis.paired_test(b + d, b, FAST)
    ranks = st.rankdata(np.abs(d))
    w_plus = ranks[d > 0].sum()
    # every one of the 2^6 equally likely sign patterns under H0, counted by hand
    sums = [sum(r for r, keep in zip(range(1, 7), format(m, "06b")) if keep == "1") for m in range(64)]
    tail = min(sum(x >= w_plus for x in sums), sum(x <= w_plus for x in sums)) / 64
    assert res["p_wilcoxon"] == pytest.approx(min(1.0, 2 * tail)) == pytest.approx(0.0625)
    assert res["n_pairs"] == 6 and res["mean_diff"] == pytest.approx(d.mean()) and res["note"] == ""
    half = st.t.ppf(0.975, 5) * d.std(ddof=1) / math.sqrt(6)
    assert res["t_ci_low"] == pytest.approx(d.mean() - half) and res["t_ci_high"] == pytest.approx(d.mean() + half)
    zeros = analysis.paired_test(b, b, FAST)  # identical arms: nothing to test, nothing infinite
    assert zeros["mean_diff"] == 0 and math.isnan(zeros["p_ttest"]) and math.isnan(zeros["p_wilcoxon"])
    assert "all differences zero" in zeros["note"]


def test_differences_equal_on_paper_are_equal_to_the_tests():
    """Accuracies are k / n_test: a constant shift of 2 test images is no t = 1e14, and tied
    differences are ties for Wilcoxon (its p computed by hand on the counts)."""
    k = np.array([320, 325, 322, 330, 318])
    shift = analysis.paired_test((k + 2) / 360, k / 360, FAST)
    assert shift["sd_diff"] == 0 and math.isnan(shift["p_ttest"]) and math.isnan(shift["d_z"])
    assert "sd 0" in shift["note"]
    k = np.array([300, 310, 320, 330, 340, 350])
    steps = np.array([2, 2, -2, 3, 3, 2])
    ties = analysis.paired_test((k + steps) / 360, k / 360, FAST)
    assert ties["p_wilcoxon"] == pytest.approx(st.wilcoxon(steps).pvalue)


def test_a_constant_shift_is_named_in_the_verdict(tmp_path):
    """Every seed 2 test images better: no t-test applies (sd 0), and the verdict says so instead of
    leaving the configuration out."""
    for seed, k in enumerate([320, 325, 322]):
        write_run(tmp_path, make_config(seed), k / 360)
        write_run(tmp_path, make_config(seed, "alternating"), (k + 2) / 360)
    analysis.analyze([tmp_path], boot=FAST, figures=False)
    md = (tmp_path / "report.md").read_text()
    assert "differ from standard training by the same amount on every seed (alternating/batch every 1)" in md


def test_accuracy_at_equal_flops_by_hand(tmp_path):
    # curve_of gives test accuracies 0.8 f, 0.9 f, f after epochs 1-3 (f = final accuracy)
    std = {0: 0.90, 1: 0.92, 2: 0.88}
    cheap = {0: 0.85, 1: 0.88, 2: 0.86}  # 2.5 GFLOP an epoch: 7.5 in all, halfway between standard's 6 and 9
    dear = {0: 0.91, 1: 0.95, 2: 0.90}  # 4 GFLOP an epoch: at standard's 9 it is 1/4 of the way from 8 to 12
    tiny = {0: 0.80, 1: 0.81, 2: 0.82}  # 0.5 GFLOP an epoch: 1.5 in all, before standard's first epoch (3)
    for seed in range(3):
        write_run(tmp_path, make_config(seed), std[seed], flops_per_epoch=3e9)
        write_run(tmp_path, make_config(seed, "alternating", every=1), cheap[seed], flops_per_epoch=2.5e9)
        write_run(tmp_path, make_config(seed, "alternating", every=2), dear[seed], flops_per_epoch=4e9)
        write_run(tmp_path, make_config(seed, "alternating", every=4), tiny[seed], flops_per_epoch=0.5e9)
    loaded = analysis.load([tmp_path])
    paired = analysis.paired_comparison(loaded.runs, loaded.curves, boot=FAST)
    eq = paired[paired["metric"] == analysis.EQUAL_FLOPS].set_index("label")
    r = eq.loc["alternating/batch every 1"]
    assert r["mean_config"] == pytest.approx(np.mean(list(cheap.values())))
    assert r["mean_baseline"] == pytest.approx(np.mean([0.95 * v for v in std.values()]))
    assert r["mean_diff"] == pytest.approx(np.mean([cheap[s] - 0.95 * std[s] for s in range(3)]))
    r = eq.loc["alternating/batch every 2"]
    assert r["mean_config"] == pytest.approx(np.mean([0.925 * v for v in dear.values()]))
    assert r["mean_baseline"] == pytest.approx(np.mean(list(std.values())))
    r = eq.loc["alternating/batch every 4"]
    assert r["n_pairs"] == 0 and "seed(s) 0 1 2 without a value in both arms" in r["note"]
    # at equal epochs the same pairs compare final accuracies
    final = paired[paired["metric"] == "final_test_acc"].set_index("label").loc["alternating/batch every 1"]
    assert final["mean_diff"] == pytest.approx(np.mean([cheap[s] - std[s] for s in range(3)]))


def test_missing_and_noisy_runs_are_warned(sweep, tmp_path):
    runs = analysis.load_runs([sweep])  # standard and every 4 stop at seed 4, epoch every 1 at seed 2
    notes = analysis.collect_warnings(runs, analysis.summarize(runs, boot=FAST), analysis.paired_comparison(runs))
    missing = [w for w in notes if w.startswith("No run folder")]
    assert len(missing) == 2
    assert missing[0].startswith("No run folder for seed(s) 5 in 2 configuration(s) of 2026-11-24_10-00-00")
    assert missing[0].endswith(": alternating/batch every 4; standard.")
    assert missing[1].startswith("No run folder for seed(s) 3 4 5 in 1 configuration(s)")
    assert missing[1].endswith(": alternating/epoch every 1.")
    assert not any(w.startswith("Timing:") for w in notes)
    for seed, epoch_s in enumerate((0.1, 0.2, 3.0)):  # one configuration timed on a busy machine
        write_run(tmp_path / "busy", make_config(seed), 0.9, epoch_s=epoch_s)
    runs = judge_timing(analysis.load_runs([tmp_path / "busy"]))  # 2x and 15x from the median seed's throughput
    notes = analysis.collect_warnings(runs, analysis.summarize(runs, boot=FAST), analysis.paired_comparison(runs))
    # the third seed alone is too few to stand for the configuration's timing
    assert "Timing: the seconds of 3 of 3 completed runs cannot be compared (2 throughput, 1 too few; " in "\n".join(
        notes
    )


def test_frequency_axis_counts_optimizer_steps(sweep):
    """Every N batches is N steps and every N epochs N times the steps of an epoch (12 in the fixture),
    so both clocks share one log axis instead of "1" meaning two different things."""
    from analysis import figures

    res = analysis.compute([sweep], boot=FAST)
    data = figures.frequency_data(res)
    periods = data.groupby("line")["period"].agg(lambda p: sorted(set(p))).to_dict()
    assert periods == {"every N batches": [1, 4], "every N epochs (= N × 12 steps)": [12]}
    assert len(data) == len(EVERY1) + len(EVERY4) + len(EPOCH1)
    fig = figures.frequency(res, figures.WIDTHS["report"])
    assert fig.axes[0].get_xscale() == "log" and "optimizer steps" in fig.axes[0].get_xlabel()


def test_split_experiment_pairs_with_standard_of_the_same_depth(tmp_path):
    for seed in range(3):
        write_run(tmp_path, make_config(seed, depth=4), 0.9 + 0.01 * seed)
        write_run(tmp_path, make_config(seed, depth=2), 0.8 + 0.01 * seed)
        for split in (1, 2, 3):
            write_run(tmp_path, make_config(seed, "alternating", depth=4, split=split), 0.85 + 0.02 * seed)
        write_run(tmp_path, make_config(seed, "alternating", depth=6, split=3), 0.85)
    runs = analysis.load_runs([tmp_path])
    labels = list(analysis.configurations(runs)["label"])
    assert labels[:4] == [
        "standard, depth=2",
        "standard, depth=4",
        "alternating/batch every 1, depth=4, split=1",
        "alternating/batch every 1, depth=4, split=2",
    ]
    paired = analysis.paired_comparison(runs, boot=FAST)
    acc = paired[paired["metric"] == "final_test_acc"].set_index("label")
    for split in (1, 2, 3):
        row = acc.loc[f"alternating/batch every 1, depth=4, split={split}"]
        assert row["baseline_label"] == "standard, depth=4" and row["n_pairs"] == 3
        assert row["mean_diff"] == pytest.approx(np.mean([0.85 + 0.02 * s - 0.9 - 0.01 * s for s in range(3)]))
    orphan = acc.loc["alternating/batch every 1, depth=6, split=3"]
    assert orphan["n_pairs"] == 0 and "no standard baseline" in orphan["note"]
    notes = analysis.collect_warnings(runs, analysis.summarize(runs, boot=FAST), paired)
    assert any("depth=6" in w and "no standard run" in w for w in notes)


def test_contexts_told_apart_only_by_a_flop_budget_stay_apart(tmp_path):
    """Two FLOP budgets are two contexts (each alternating arm against the standard run of its own budget) though
    no config column but the budget differs: standard leads each, and each context has a name of its own."""
    for budget in (1e9, 2e9):
        for seed in range(3):
            for strategy in ("standard", "alternating"):
                cfg = make_config(seed, strategy)
                cfg["trainer"]["budget"] = budget
                write_run(tmp_path, cfg, 0.9, job=f"budget={budget:g}/{strategy}/seed={seed}")
    configs = analysis.configurations(analysis.load_runs([tmp_path]))
    assert list(configs["strategy"]) == ["standard", "alternating", "standard", "alternating"]
    assert configs["context_id"].iloc[0] == configs["context_id"].iloc[1] != configs["context_id"].iloc[2]
    names = context_names(configs)
    assert len(set(names.values())) == 2 and all(names.values())
