"""The analysis (af-analyze) on run folders written here by hand, with known numbers.

The fixture follows the README's "Results on disk" contract exactly (``.hydra/config.yaml``,
``.hydra/overrides.yaml``, ``metrics.csv``, ``summary.json``, ``multirun.yaml``), so these tests need
neither torch nor the training code, and every statistic can be checked against a hand computation.
"""
from __future__ import annotations

import json
import logging
import math
import re
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib import image as mpimg
from omegaconf import OmegaConf
from scipy import stats as st

import analysis
from analysis.callback import AnalyzeCallback
from analysis.figures import FIGURES
from analysis.speed import judge_timing

ROOT = Path(__file__).resolve().parents[1]
FAST = analysis.Bootstrap(n_resamples=2000)  # the default is 9999; fewer keep the suite quick
METRICS_HEADER = "epoch,step,trained,train_loss,train_acc,test_loss,test_acc,epoch_s,eval_s,elapsed_s,train_flops"


# ---------------------------------------------------------------- writing run folders


def make_config(seed=0, strategy="standard", unit="batch", every=1, steps=None, depth=3, width=32, split=None,
                epochs=3, lr=0.001, dataset="digits", subset=None, optimizer_state="keep"):
    """The resolved config tree of one run, as Hydra composes it."""
    if strategy == "standard":
        strat = {"name": "standard"}
    else:
        strat = {"name": strategy, "unit": unit, "every": every, "start": "first", "steps": steps,
                 "optimizer_state": optimizer_state, "freeze_bn_stats": True}
    return {
        "seed": seed,
        "dataset": {"name": dataset, "root": "data", "download": False, "subset": subset, "test_fraction": 0.2,
                    "split_seed": 0, "standardize": False},
        "model": {"name": "mlp", "depth": depth, "width": width, "batchnorm": False, "dropout": 0.0, "split": split},
        "strategy": strat,
        "optimizer": {"name": "adam", "lr": lr, "betas": [0.9, 0.999], "eps": 1e-08, "weight_decay": 0.0,
                      "momentum": 0.0, "nesterov": False},
        "trainer": {"epochs": epochs, "batch_size": 128, "eval_batch_size": 8192, "device": "cpu",
                    "num_threads": 1, "checkpoint": True, "progress": "none"},
    }


def overrides_of(cfg):
    out = [f"seed={cfg['seed']}", f"strategy={cfg['strategy']['name']}"]
    if cfg["strategy"]["name"] != "standard":
        out += [f"strategy.unit={cfg['strategy']['unit']}", f"strategy.every={cfg['strategy']['every']}"]
    if cfg["model"]["depth"] != 3:
        out.append(f"model.depth={cfg['model']['depth']}")
    if cfg["model"]["split"] is not None:
        out.append(f"model.split={cfg['model']['split']}")
    return out


def curve_of(final_acc, epochs, seed):
    """Per-epoch test accuracy ending exactly at final_acc, and a falling train loss."""
    accs = [final_acc * (0.7 + 0.3 * (e + 1) / epochs) for e in range(epochs)]
    accs[-1] = final_acc
    losses = [1.0 / (e + 1) + 0.01 * seed for e in range(epochs)]
    return accs, losses


def write_run(sweep, cfg, final_acc=0.9, *, status="completed", epoch_s=0.5, flops_per_epoch=2e9,
              summary=True, epochs_done=None, error=None, job=None):
    """One run folder per the contract; returns it. ``summary=False``: killed or still running."""
    job = job or ",".join(sorted(overrides_of(cfg)))
    run = Path(sweep) / job
    (run / ".hydra").mkdir(parents=True, exist_ok=True)
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides_of(cfg)))
    epochs = cfg["trainer"]["epochs"] if epochs_done is None else epochs_done
    accs, losses = curve_of(final_acc, cfg["trainer"]["epochs"], cfg["seed"])
    accs, losses = accs[:epochs], losses[:epochs]
    if status == "diverged" and epochs:
        losses[-1] = float("nan")
    trained = "all" if cfg["strategy"]["name"] == "standard" else "first+second"
    rows, elapsed = [METRICS_HEADER], 0.0
    for e in range(epochs):
        elapsed += epoch_s + 0.05
        rows.append(f"{e + 1},{(e + 1) * 12},{trained},{losses[e]},{accs[e] - 0.01},{losses[e] + 0.1},{accs[e]},"
                    f"{epoch_s},0.05,{elapsed},{int(flops_per_epoch * (e + 1))}")
    if status != "failed" or epochs:
        (run / "metrics.csv").write_text("\n".join(rows) + "\n")
    if summary:
        finite = [x for x in losses if math.isfinite(x)]
        depth = cfg["model"]["depth"]
        s = {
            "status": status, "error": error if status != "diverged" else "loss became NaN or infinite",
            "epochs_completed": epochs,
            "final_test_acc": accs[-1] if accs else None, "best_test_acc": max(accs) if accs else None,
            "final_train_loss": losses[-1] if losses and math.isfinite(losses[-1]) else None,
            "epochs_to_90pct": next((i + 1 for i, a in enumerate(accs) if a >= 0.9 * accs[-1]), None) if accs else None,
            "loss_std": statistics.pstdev(finite) if len(finite) > 1 else None,
            "train_s": epoch_s * epochs, "eval_s": 0.05 * epochs, "total_s": elapsed + 1.0,
            "train_flops": int(flops_per_epoch * epochs), "train_gflops_per_s": 4.0,
            "seed": cfg["seed"], "device": "cpu",
            "resolved": {"split": cfg["model"]["split"] or depth // 2,
                         "steps": None if cfg["strategy"]["name"] == "standard" else
                         (cfg["strategy"]["steps"] or [cfg["strategy"]["every"]] * 2),
                         "device": "cpu", "num_threads": 1, "input_dim": 64, "num_classes": 10, "n_train": 1437,
                         "n_test": 360, "n_params": 5000},
            "config": cfg, "config_hash": "0123456789abcdef", "overrides": overrides_of(cfg),
            "versions": {"python": "3.11", "torch": "2.5", "alternating_freeze": "0.1.0"},
            "started_at": "2026-11-24T10:00:00+00:00", "finished_at": "2026-11-24T10:01:00+00:00",
        }
        if status == "failed":
            s = {k: s[k] for k in ("status", "error", "seed", "total_s", "config", "config_hash", "overrides",
                                   "versions", "started_at", "finished_at")}
            (run / "error.txt").write_text(f"Traceback (most recent call last):\n  ...\n{error}\n")
        (run / "summary.json").write_text(json.dumps(s, indent=2))
    return run


def write_multirun(sweep, task):
    tree = {"hydra": {"run": {"dir": "outputs/runs/${now:%Y-%m-%d_%H-%M-%S}"},
                      "sweep": {"dir": str(sweep), "subdir": "${hydra.job.override_dirname}"},
                      "sweeper": {"_target_": "hydra_plugins.af_arms_sweeper.arms_sweeper.ArmsSweeper",
                                  "max_batch_size": None, "params": {"seed": "range(5)"},
                                  "arms": {"standard": ["strategy=standard"],
                                           "batch": ["strategy=alternating", "strategy.every=1,4"]}},
                      "launcher": {"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"},
                      "overrides": {"hydra": [f"hydra.sweep.dir={sweep}", "hydra.mode=MULTIRUN"], "task": task},
                      "job": {"name": "train"}},
            **make_config()}
    Path(sweep).mkdir(parents=True, exist_ok=True)
    (Path(sweep) / "multirun.yaml").write_text(yaml.safe_dump(tree, sort_keys=False))


# Known final test accuracies per configuration and seed.
STANDARD = {0: 0.90, 1: 0.92, 2: 0.91, 3: 0.93, 4: 0.89}
EVERY1 = {0: 0.91, 1: 0.935, 2: 0.905, 3: 0.95, 4: 0.90, 5: 0.97}  # seed 5 has no standard partner
EVERY4 = {0: 0.88, 1: 0.915, 2: 0.90, 3: 0.925, 4: 0.87}
EPOCH1 = {0: 0.86, 1: 0.87, 2: 0.88}


@pytest.fixture
def sweep(tmp_path):
    """A frequency sweep: standard, alternating every 1 and 4 batches, every 1 epoch."""
    root = tmp_path / "frequency" / "2026-11-24_10-00-00"
    write_multirun(root, ["experiment=frequency"])
    for seed, acc in STANDARD.items():
        write_run(root, make_config(seed), acc, epoch_s=1.0, flops_per_epoch=3e9)
    for seed, acc in EVERY1.items():
        write_run(root, make_config(seed, "alternating", every=1), acc, epoch_s=0.7 + 0.01 * seed)
    for seed, acc in EVERY4.items():
        write_run(root, make_config(seed, "alternating", every=4), acc, epoch_s=0.8)
    for seed, acc in EPOCH1.items():
        write_run(root, make_config(seed, "alternating", unit="epoch", every=1), acc, epoch_s=0.6)
    return root


@pytest.fixture
def messy(sweep):
    """The sweep plus every way a run can go wrong, all on seeds whose good runs exist elsewhere."""
    write_run(sweep, make_config(7, "alternating", every=4), 0.5, status="diverged", epochs_done=2)
    write_run(sweep, make_config(8, "alternating", every=4), status="failed", epochs_done=0,
              error="RuntimeError: CUDA out of memory")
    write_run(sweep, make_config(9), summary=False, epochs_done=1)  # killed after one epoch
    truncated = write_run(sweep, make_config(10), 0.99)
    text = (truncated / "metrics.csv").read_text()
    (truncated / "metrics.csv").write_text(text[: len(text) - 25])  # cut inside the last line
    garbage = write_run(sweep, make_config(11), 0.99)
    (garbage / "summary.json").write_text('{"status": "completed", "final_test_a')
    bare = Path(sweep) / "seed=12,strategy=standard"  # launched, killed before the first epoch
    (bare / ".hydra").mkdir(parents=True)
    (bare / ".hydra" / "config.yaml").write_text(yaml.safe_dump(make_config(12)))
    orphan = write_run(sweep, make_config(13), summary=False, job="orphan")  # metrics.csv only: no config
    (orphan / ".hydra" / "config.yaml").unlink()
    (orphan / ".hydra" / "overrides.yaml").unlink()
    binary = write_run(sweep, make_config(14), 0.99)
    (binary / "summary.json").write_bytes(b"\xff\xfe\x00garbage")
    empty = write_run(sweep, make_config(15), summary=False)
    (empty / "metrics.csv").write_text("")
    return sweep


def by_label(frame, label, metric):
    rows = frame[(frame["label"] == label) & (frame["metric"] == metric)]
    assert len(rows) == 1, (label, metric, frame["label"].unique())
    return rows.iloc[0]


# ---------------------------------------------------------------- loading


def test_runs_table_flattens_config_with_effective_values(sweep):
    runs = analysis.load_runs([sweep])
    assert len(runs) == 19 and set(runs["status"]) == {"completed"} and runs["in_stats"].all()
    for col in ("dataset", "subset", "depth", "width", "batchnorm", "dropout", "split", "strategy", "unit", "every",
                "steps", "start", "optimizer", "optimizer_state", "freeze_bn_stats", "lr", "weight_decay",
                "batch_size", "epochs", "seed", "label", "status", "run_dir", "final_test_acc", "train_flops"):
        assert col in runs.columns, col
    assert not {"device", "num_threads"} & set(runs.columns) - {"device", "num_threads"}
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


# ---------------------------------------------------------------- statistics


def test_summary_statistics_equal_hand_computation(sweep):
    stats = analysis.summarize(analysis.load_runs([sweep]), boot=FAST)
    for label, accs in (("standard", STANDARD), ("alternating/batch every 1", EVERY1),
                        ("alternating/batch every 4", EVERY4), ("alternating/epoch every 1", EPOCH1)):
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
    expected = [next(i + 1 for i, a in enumerate(curve_of(acc, 3, 0)[0]) if a >= 0.9 * acc)
                for acc in STANDARD.values()]
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
    assert "Timing: the seconds of 3 of 3 completed runs cannot be compared (2 throughput, 1 too few; " in \
        "\n".join(notes)


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
    assert labels[:4] == ["standard, depth=2", "standard, depth=4", "alternating/batch every 1, depth=4, split=1",
                          "alternating/batch every 1, depth=4, split=2"]
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


# ---------------------------------------------------------------- figures and reports


def _check_report(out: Path, n_figures: int) -> str:
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert "# Alternating-freeze analysis" in md and "How to read the statistics" in md
    assert "Holm" in md and "d_z" in md and "bootstrap" in md
    assert not re.search(r"<link|<script|url\(|@import", page, re.I)
    srcs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", page, re.I)
    assert all(s.startswith("data:image/png;base64,") for s in srcs), srcs[:3]
    assert len(srcs) == n_figures
    return md


def test_figures_and_reports_on_a_sweep(messy):
    result = analysis.analyze([messy], boot=FAST)
    assert result.out == messy
    assert dict(result.skipped) == {"blocks": "no setting has more than one number of blocks",
                                    "isolation": "not a tuned sweep (no tuning.json)"}
    names = {f.name for f in result.figures}
    assert names == {"learning_curves", "loss_curves", "final_accuracy", "frequency", "compute", "compute_time",
                     "paired_difference", "train_time"}
    for f in result.figures:
        img = mpimg.imread(f.png)  # the report's width: 7.5 in at 150 dpi, shown unscaled in its 1150 px column
        assert img.shape[1] == 1125 and img.shape[0] > 150 and img.std() > 0.01, f.name
        assert f.svg.read_text().lstrip().startswith("<?xml") and f.svg.stat().st_size > 5000
        assert f.pdf.read_bytes().startswith(b"%PDF") and f.title == FIGURES[f.name][0]
    for name in ("runs", "curves", "stats", "paired"):
        assert (messy / f"{name}.csv").stat().st_size > 100
    md = _check_report(messy, 8)
    assert md.startswith("# Alternating-freeze analysis: digits, MLP depth 3 width 32, 3 epochs, 3-6 seeds per "
                         "configuration\n")
    for text in ("RuntimeError: CUDA out of memory", "corrupt", "incomplete", "diverged",
                 "af-train --multirun", "experiment=frequency", "range(5)", "seed(s) 5 only"):
        assert text in md, text
    assert result.seconds["total"] < 60


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
        "# Alternating-freeze analysis: digits, MLP depth 3 width 32, 3 epochs, 1 seed per configuration\n")


def test_one_strategy_skips_what_needs_two(tmp_path):
    for seed in range(3):
        write_run(tmp_path, make_config(seed), 0.9 + 0.01 * seed)
    result = analysis.analyze([tmp_path], boot=FAST)
    assert result.paired.empty
    skipped = dict(result.skipped)
    assert set(skipped) == {"frequency", "paired_difference", "blocks", "isolation"}
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


def test_cli_writes_everything(sweep, tmp_path):
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "analysis", str(sweep), "--out", str(out), "--resamples", "999"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "19 runs (19 completed)" in proc.stdout and "warning: " in proc.stdout
    for name in ("runs.csv", "curves.csv", "stats.csv", "paired.csv", "report.md", "report.html",
                 "figures/final_accuracy.png", "figures/final_accuracy.svg"):
        assert (out / name).exists(), name
    assert "af-analyze" in (out / "report.md").read_text()


def test_cli_missing_folder_is_a_one_line_error(tmp_path):
    script = Path(sys.executable).parent / "af-analyze"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "analysis"]
    proc = subprocess.run([*cmd, str(tmp_path / "nope")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0 and "no such folder" in proc.stderr
    proc = subprocess.run([*cmd, str(tmp_path), "--confidence", "95"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "af-analyze: error: --confidence=95.0: must lie strictly between 0 and 1")


def test_import_does_not_pull_in_training_code():
    """Only the results contract, which is the standard library's, is shared with the training package."""
    code = ("import sys, analysis, analysis.cli, analysis.callback, analysis.pipeline, analysis.figures, "
            "analysis.report; analysis.load_runs, analysis.summarize, analysis.analyze; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'alternating_freeze')))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['alternating_freeze', 'alternating_freeze.contract']"


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
