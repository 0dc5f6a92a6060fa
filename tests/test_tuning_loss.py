"""Tuning on a loss (a text's objective): the lowest mean validation loss is chosen, a failed trial counts as the
worst (an infinite loss, written to tuning.json as null, never as non-standard JSON), and tune.metric=auto reads
the objective the tasks declare."""

import json
import math

import pytest

from alternating_freeze import tuning
from alternating_freeze.contract import read_summary, valid_score, write_json
from alternating_freeze.errors import ConfigError

GRID = {"optimizer.lr": ["0.001", "0.01", "0.1"]}


def trial(tmp_path, lr, seed, status="completed", loss=None, acc=None):
    job = f"lr={lr},seed={seed}"
    (tmp_path / job).mkdir()
    if status is not None:
        summary = {"status": status, "objective": "val_loss", "best_val_loss": loss, "best_val_acc": acc}
        write_json(tmp_path / job / "summary.json", summary)
    return tuning.Trial({"optimizer.lr": lr}, str(seed), [], job)


def test_the_lowest_mean_validation_loss_is_chosen_and_a_failed_trial_counts_as_the_worst(tmp_path):
    trials = [
        trial(tmp_path, "0.001", 0, loss=2.0, acc=0.50),
        trial(tmp_path, "0.001", 1, loss=1.8, acc=0.52),
        trial(tmp_path, "0.01", 0, loss=1.2, acc=0.40),  # the lowest loss, the lowest accuracy
        trial(tmp_path, "0.01", 1, loss=1.4, acc=0.41),
        trial(tmp_path, "0.1", 0, loss=0.5, acc=0.60),  # the lowest loss of all, but its other seed diverged
        trial(tmp_path, "0.1", 1, "diverged"),
    ]
    arm = tuning.choose(trials, tmp_path, "best_val_loss", GRID)
    means = {p["values"]["optimizer.lr"]: (p["mean"], p["n_failed"]) for p in arm["scores"]}
    # by hand: (2.0 + 1.8) / 2 = 1.9; (1.2 + 1.4) / 2 = 1.3; (0.5 + inf) / 2 = inf
    assert means == {"0.001": (pytest.approx(1.9), 0), "0.01": (pytest.approx(1.3), 0), "0.1": (math.inf, 1)}
    assert arm["chosen"] == {"optimizer.lr": "0.01"} and arm["at_edge"] == []
    by_accuracy = tuning.choose(trials, tmp_path, "best_val_acc", GRID)
    assert by_accuracy["chosen"] == {"optimizer.lr": "0.001"}  # (0.50 + 0.52) / 2 > (0.60 + 0) / 2 > 0.405


def test_tuning_json_of_a_loss_is_standard_json_with_the_direction(tmp_path):
    trials = [trial(tmp_path, lr, 0, "failed") for lr in GRID["optimizer.lr"]]
    arm = tuning.choose(trials, tmp_path, "best_val_loss", GRID)
    assert arm["all_failed"] and arm["studies"][0]["score"] == math.inf
    conf = tuning.TuneConf(metric="best_val_loss")
    tuning.write(tmp_path, conf, GRID, ["100"], ["0"], {"all": {**arm, "overrides": [], "final_jobs": []}})
    text = (tmp_path / "tuning.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    data = json.loads(text)
    assert (data["metric"], data["mode"], data["arms"]["all"]["studies"][0]["score"]) == ("best_val_loss", "min", None)
    assert read_summary(tmp_path / "lr=0.1,seed=0")["status"] == "failed"


def test_auto_reads_the_objective_the_tasks_declare():
    assert tuning.TuneConf().metric == "auto"
    assert tuning.resolve_metric("auto", ["val_loss", "val_loss"]) == "best_val_loss"
    assert tuning.resolve_metric("auto", ["val_acc"]) == "best_val_acc"
    assert tuning.resolve_metric("final_val_loss", ["val_acc"]) == "final_val_loss"  # named outright: as named
    with pytest.raises(ConfigError, match="hydra.sweeper.tune.metric.*val_acc and val_loss"):
        tuning.resolve_metric("auto", ["val_acc", "val_loss"])
    conf = tuning.TuneConf(metric="best_val_bpc")
    with pytest.raises(ConfigError, match="auto, best_val_acc, best_val_loss, final_val_acc, final_val_loss"):
        tuning.check(conf, GRID, ["100"], ["0"])


@pytest.mark.parametrize(
    "metric, value, ok",
    [
        ("best_val_loss", 3.2, True),
        ("best_val_loss", 0.0, True),
        ("best_val_loss", -0.1, False),
        ("best_val_loss", math.inf, False),
        ("best_val_loss", True, False),
        ("final_val_acc", 1.2, False),
        ("final_val_acc", 0.7, True),
    ],
)
def test_a_valid_score_follows_its_objective(metric, value, ok):
    assert valid_score(metric, value) is ok


@pytest.mark.slow
def test_a_tuned_text_sweep_chooses_the_lowest_validation_loss(tmp_path):
    """tune.metric=auto on dataset=text through the real command line: tuning.json says best_val_loss and min, and
    the choice is the rate whose trial had the lowest best_val_loss (one tuning seed: the trial's own value)."""
    from helpers import TINY_GPT, cli_env, run_sweep

    sweep = tmp_path / "tuned"
    run_sweep(
        sweep,
        "experiment=frequency_tuned",
        *TINY_GPT,
        "hydra.callbacks.analyze.enabled=false",
        'hydra.sweeper.arms.standard=["strategy=standard"]',
        "~hydra.sweeper.arms.batch",
        "~hydra.sweeper.arms.epoch",
        'hydra.sweeper.tune.grid={optimizer.lr:"1e-3,1e-2"}',
        'hydra.sweeper.tune.seeds="100"',
        "hydra.sweeper.tune.metric=auto",
        'hydra.sweeper.params.seed="0"',
        env=cli_env(),
    )
    data = json.loads((sweep / "tuning.json").read_text())
    assert (data["metric"], data["mode"]) == ("best_val_loss", "min")
    trials = data["arms"]["standard"]["trials"]
    losses = {t["values"]["optimizer.lr"]: read_summary(sweep / t["job"])["best_val_loss"] for t in trials}
    assert [t["score"] for t in trials] == [losses[t["values"]["optimizer.lr"]] for t in trials]
    assert data["arms"]["standard"]["chosen"] == {"optimizer.lr": min(losses, key=losses.get)}
