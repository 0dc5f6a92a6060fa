"""Runs judged by loss (a text's objective, lower is better), in hand-written run folders: the arm with the lowest
validation and test loss has the lowest accuracy, and the report, verdict, tuning table and time to target choose by
loss and speak in nats and bits per character; classification runs mixed in are refused in one line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import FAST, make_config, overrides_of, write_val_run

import analysis
from alternating_freeze import contract
from alternating_freeze.records import summarize_metrics

LN2 = math.log(2)
STD_LOSS = {s: 1.50 + 0.01 * s for s in range(5)}  # final test (and validation) loss of standard training per seed
# every=1: 0.10 lower loss (with a seed-to-seed wobble, so that the paired test has a spread), 5 points LOWER accuracy
# every=4: 0.08 higher loss, 5 points higher accuracy
ARMS = {
    "standard": {"every": 1, "loss": lambda s: STD_LOSS[s], "acc": lambda s: 0.60 + 0.01 * s},
    "every1": {"every": 1, "loss": lambda s: STD_LOSS[s] - 0.10 + 0.004 * (s % 2), "acc": lambda s: 0.55 + 0.01 * s},
    "every4": {"every": 4, "loss": lambda s: STD_LOSS[s] + 0.08 - 0.004 * (s % 2), "acc": lambda s: 0.65 + 0.01 * s},
}


def text_config(seed: int, arm: str) -> dict:
    strategy = "standard" if arm == "standard" else "alternating"
    cfg = make_config(seed, strategy=strategy, every=ARMS[arm]["every"], dataset="text")
    cfg["dataset"] |= {"test_fraction": 0.05, "val_fraction": 0.05}
    return cfg


def write_text_run(root: Path, seed: int, arm: str, epochs: int = 3) -> Path:
    """A run folder as a text run writes it: losses falling to the arm's final loss, summary.json by
    records.summarize_metrics with the text's objective (contract.LOSS)."""
    cfg = text_config(seed, arm)
    loss, acc = ARMS[arm]["loss"](seed), ARMS[arm]["acc"](seed)
    rows = [
        {
            "epoch": e + 1,
            "step": 100 * (e + 1),
            "trained": "all",
            "train_loss": loss + 0.3 * (epochs - 1 - e),
            "train_acc": acc,
            "val_loss": loss + 0.2 * (epochs - 1 - e),  # the last epoch is the best: validation loss = final
            "val_acc": acc - 0.02 * (epochs - 1 - e),
            "test_loss": loss + 0.2 * (epochs - 1 - e),
            "test_acc": acc - 0.02 * (epochs - 1 - e),
            "epoch_s": 1.0,
            "eval_s": 0.1,
            "elapsed_s": 1.1 * (e + 1),
            "train_flops": int(1e9 * (e + 1)),
            "epoch_cpu_s": 1.0,
            "threads": 1,
            "gflops_per_s": 1.0,
            "lr": 0.001,
            "block_lrs": "",
        }
        for e in range(epochs)
    ]
    run = root / ",".join(sorted(overrides_of(cfg)))
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    (run / contract.METRICS_FILE).write_bytes(contract.metrics_csv(rows))
    summary = {
        "status": "completed",
        "error": None,
        **summarize_metrics(rows, contract.LOSS),
        "total_s": 4.0,
        "seed": seed,
        "device": "cpu",
        "resolved": {"splits": [1], "n_blocks": 2, "num_threads": 1, "epochs": epochs, "vocabulary": "ab"},
        "config": cfg,
        "config_hash": contract.config_hash(cfg),
        "overrides": overrides_of(cfg),
    }
    contract.write_json(run / contract.SUMMARY_FILE, summary)
    return run


@pytest.fixture
def text_sweep(tmp_path):
    for arm in ARMS:
        for seed in range(5):
            write_text_run(tmp_path / "text", seed, arm)
    return tmp_path / "text"


@pytest.mark.slow
def test_the_verdict_chooses_by_loss_and_the_headline_speaks_in_nats_and_bits(text_sweep):
    result = analysis.analyze([text_sweep], boot=FAST)
    assert not [why for _, why in result.skipped if "could not be drawn" in why], result.skipped
    drawn = {f.name: f.title for f in result.figures}
    assert drawn["final_accuracy"] == "Final test loss per configuration" and "paired_difference" in drawn
    assert result.objective is contract.LOSS
    assert set(result.runs["objective"]) == {"val_loss"}
    paired = result.paired[result.paired["metric"] == "final_test_loss"].set_index("label")
    every1 = next(lab for lab in paired.index if lab.endswith("1"))
    # by hand: every=1's loss minus standard's, per seed -0.10 + 0.004 * (s % 2): mean -0.10 + 0.004 * 2 / 5
    assert paired.loc[every1, "mean_diff"] == pytest.approx(-0.0984)
    assert paired.loc[every1, "p_holm"] < 0.05
    md = (text_sweep / "report.md").read_text()
    head = next(line for line in md.splitlines() if line.startswith("**") and "standard training" in line)
    # the arm with the lowest loss wins although its accuracy is 5 points lower
    assert "1 of 2 configurations beat standard training in test loss" in head, head
    mean_std, mean_1 = sum(STD_LOSS.values()) / 5, sum(ARMS["every1"]["loss"](s) for s in range(5)) / 5
    assert f"the best, {every1}, has a final test loss of {mean_1:.3f} nats ({mean_1 / LN2:.3f} bits)" in head
    assert f"against standard training's {mean_std:.3f} nats ({mean_std / LN2:.3f} bits) per character" in head
    assert "0.098 nats (0.142 bits) per character lower (better)" in head
    assert "accuracy" not in head and " pp" not in head
    assert "Final test loss at equal epochs: of 2 configuration(s) compared" in md
    assert "1 lower (better) and 1 higher (worse) at Holm-adjusted p < 0.05" in md
    assert "| test loss (nats/char) |" in md and "final test loss (nats/char)" in md
    assert "Loss at equal FLOPs: of 2 configuration(s)" in md  # the Speed section's verdict


def test_the_frequency_figure_of_a_text_shows_its_loss(text_sweep):
    """Every 1 and every 4 batches: the figure plots each period's mean final test loss (not the next-character
    accuracy, which ranks them the other way) and standard training's mean loss as its dashed line."""
    from analysis import figures

    res = analysis.compute([text_sweep], boot=FAST)
    data = figures.frequency_data(res)
    by_hand = {e: sum(ARMS[f"every{e}"]["loss"](s) for s in range(5)) / 5 for e in (1, 4)}
    assert data.groupby("period")["value"].mean().to_dict() == pytest.approx({1.0: by_hand[1], 4.0: by_hand[4]})
    ax = figures.frequency(res, figures.WIDTHS["report"]).axes[0]
    assert ax.get_ylabel() == "final test loss (nats/char)"
    (dashed,) = [ln for ln in ax.get_lines() if ln.get_label() == "standard"]
    assert dashed.get_ydata()[0] == pytest.approx(sum(STD_LOSS.values()) / 5)
    assert figures.heading("frequency", res.objective) == "Final test loss against switching frequency"


def test_time_to_target_is_a_validation_loss_reached_from_above(text_sweep):
    result = analysis.analyze([text_sweep], boot=FAST, figures=False, target_fraction=1.0)
    target = result.target.set_index("label")
    # target: standard training's mean final validation loss / 1.0 = 1.52. Standard reaches it at its last epoch
    # in seeds 0-2 only (its own loss 1.50..1.54); every=1 (final 1.40..1.448) in each seed; every=4 never
    std = next(lab for lab in target.index if "standard" in lab)
    assert target.loc[std, "target_acc"] == pytest.approx(1.52)
    assert target.loc[std, "reached"] == 3
    assert (target["reached"] == 5).sum() == 1 and (target["reached"] == 0).sum() == 1
    md = (text_sweep / "report.md").read_text()
    assert "lower is better: reached at or below it" in md and "target (nats/char)" in md


def test_a_loss_target_given_in_nats_is_reached_at_or_below_it(text_sweep, capsys):
    """af-analyze --target-loss 1.7: a run's validation loss falls by 0.2 an epoch to its arm's final loss, so each
    run's FLOPs to the target are those of the first epoch at or below 1.7, computed by hand per run."""
    from analysis.cli import main

    assert main([str(text_sweep), "--target-loss", "1.7", "--no-figures", "-q", "--resamples", "99"]) == 0
    runs = analysis.load_runs([text_sweep]).set_index("run_id")
    reach = pd.read_csv(text_sweep / "runs.csv").set_index("run_id")
    for run_id, flops in reach["flops_to_target"].items():
        arm, seed = runs.loc[run_id, "strategy"], runs.loc[run_id, "seed"]
        every = runs.loc[run_id, "every"]
        final = ARMS["standard" if arm == "standard" else f"every{int(every)}"]["loss"](seed)
        epoch = next(e for e in (1, 2, 3) if final + 0.2 * (3 - e) <= 1.7 + 1e-12)  # first at or below, by hand
        assert flops == 1e9 * epoch, (run_id, flops, epoch)
    assert (reach["target_acc"] == 1.7).all()
    md = (text_sweep / "report.md").read_text()
    assert "1.700 nats (2.453 bits) per character (given; lower is better: reached at or below it)" in md
    # refused in one line: a loss for runs judged by accuracy is the other option's, and a target of no loss
    assert main([str(text_sweep), "--target", "0.9", "--no-figures", "-q"]) == 2
    assert (
        "--target=0.9 is an accuracy; these runs are judged by val_loss: use --target-loss" in capsys.readouterr().err
    )
    assert main([str(text_sweep), "--target-loss", "0", "-q"]) == 2
    assert "--target-loss=0.0: must be a positive number" in capsys.readouterr().err


def standard_tuned(text_sweep: Path, scores: dict, failed: tuple = ()) -> dict:
    """tuning.json of the text sweep as the chooser writes it: standard training's final runs at lr 0.01, one
    tuning seed per setting (``scores``: lr -> its trial's validation loss; ``failed``: lrs whose trial failed)."""
    jobs = sorted(p.name for p in text_sweep.iterdir() if p.is_dir() and "standard" in p.name)
    tuning = {
        "version": 2,
        "metric": "best_val_loss",
        "mode": "min",
        "grid": {"optimizer.lr": list(scores)},
        "tuning_seeds": [100],
        "final_seeds": [0, 1, 2, 3, 4],
        "arms": {
            "standard": {
                "overrides": ["strategy=standard"],
                "trials": [
                    {"values": {"optimizer.lr": lr}, "seed": 100, "job": f"t{i}", "score": score, "status": "completed"}
                    for i, (lr, score) in enumerate(scores.items())
                ],
                "scores": [
                    {"values": {"optimizer.lr": lr}, "mean": score, "n": 1, "n_failed": int(lr in failed), "study": 0}
                    for lr, score in scores.items()
                ],
                "chosen": {"optimizer.lr": 0.01},
                "final_jobs": jobs,
            }
        },
    }
    (text_sweep / contract.TUNING_FILE).write_text(json.dumps(tuning))
    return tuning


@pytest.mark.slow
def test_the_tuning_table_of_a_loss_marks_the_lowest(text_sweep):
    standard_tuned(text_sweep, {0.001: 1.9, 0.01: 1.7})
    result = analysis.analyze([text_sweep], boot=FAST)  # every figure drawn in loss, none failing
    assert not [why for _, why in result.skipped if "could not be drawn" in why], result.skipped
    assert {"learning_curves", "final_accuracy", "isolation", "compute"} <= {f.name for f in result.figures}
    grid = result.tuning.set_index("value")
    assert grid.loc[0.01, "score"] == 1.7 and grid.loc[0.01, "chosen"]
    md = (text_sweep / "report.md").read_text()
    assert "**1.700**" in md and "1.900" in md
    assert "best over the other keys' values), in nats per character, lower is better; bold" in md


def test_a_choice_the_tuning_seeds_cannot_separate_is_warned(text_sweep):
    """The chosen setting against the next best, their gap against one standard error of a difference of two
    single-seed scores: the final runs' validation-loss SD (1.50..1.54: 0.0158 by hand) x sqrt(2) = 0.0224."""

    def close(scores, failed=()):
        standard_tuned(text_sweep, scores, failed)
        return [w for w in analysis.compute([text_sweep], boot=FAST).warnings if "could not tell" in w]

    assert close({0.001: 1.9, 0.01: 1.7}) == []  # 0.2 apart: far beyond it
    (warning,) = close({0.001: 1.72, 0.01: 1.7})  # 0.02 apart: within it
    se = pd.Series([STD_LOSS[s] for s in range(5)]).std() * math.sqrt(2)
    assert "Tuning on 1 seed could not tell" in warning and f"standard error {se:.2g}" in warning
    assert "standard: optimizer.lr=0.01 1.7000 against optimizer.lr=0.001 1.7200" in warning
    # a setting one of whose trials failed scored the worst for the chooser: no contender, no close call
    assert close({0.001: 1.72, 0.01: 1.7}, failed=(0.001,)) == []


def test_runs_of_both_objectives_are_refused_in_one_line(text_sweep, tmp_path, capsys):
    write_val_run(tmp_path / "digits", make_config(0), [0.7, 0.8], [0.7, 0.8])
    from analysis.cli import main
    from analysis.measures import MixedObjectives

    with pytest.raises(MixedObjectives):
        analysis.compute([text_sweep, tmp_path / "digits"], boot=FAST)

    assert main([str(text_sweep), str(tmp_path / "digits"), "--no-figures", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "15 by val_loss, 1 by val_acc" in err and "separate af-analyze calls" in err


def test_a_gpt_is_described_by_its_own_sizes():
    """A GPT's config also carries the shared model schema's depth and width, which it does not use: the report's
    first line names its layers, heads, width and context instead."""
    from analysis.verdicts import context

    runs = pd.DataFrame(
        {
            "dataset": "text",
            "model": "gpt",
            "depth": 3,
            "width": 128,
            "batchnorm": False,
            "epochs": 5,
            "model.n_layer": 4,
            "model.n_head": 4,
            "model.n_embd": [64, 128],
            "model.block_size": 64,
            "config_id": ["a", "b"],
            "seed": 0,
        }
    )
    assert context(runs) == "text, GPT 4 layers, 4 heads, width 64/128, context 64, 5 epochs, 1 seed per configuration"
    assert context(runs.assign(model="mlp")).startswith("text, MLP depth 3 width 128, 5 epochs")
