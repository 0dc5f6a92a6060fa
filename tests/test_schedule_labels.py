"""A configuration's label names its learning-rate schedule where the rate is not constant, and the report's protocol
states every configuration's schedule in full; a constant rate (or none recorded: older runs) changes neither the
label nor the identity."""

import pytest
from helpers import FAST, make_config, write_run

import analysis
from alternating_freeze.contract import config_hash, configuration_id, configuration_label, schedule_label

COSINE = {"name": "cosine", "warmup": 0.1, "milestones": [0.5, 0.75], "gamma": 0.1, "min_lr": 0.0}
CONSTANT = COSINE | {"name": "constant", "warmup": 0.0}
EVERY_8 = {"name": "alternating", "unit": "batch", "every": 8, "steps": None, "order": "cyclic"}


@pytest.mark.parametrize(
    "scheduler, label, full",
    [
        (None, "", "constant"),
        (CONSTANT, "", "constant"),
        (CONSTANT | {"warmup": 4}, "constant warmup 4", "constant warmup 4"),
        (COSINE, "cosine warmup 0.1", "cosine warmup 0.1 min_lr 0"),
        (COSINE | {"name": "step", "warmup": 0.0}, "step", "step milestones 0.5:0.75 gamma 0.1"),
        (
            COSINE | {"name": "onecycle", "warmup": 0.0, "pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4},
            "onecycle",
            "onecycle pct_start 0.3 div_factor 25 final_div_factor 10000",
        ),
    ],
)
def test_a_schedule_is_named_by_its_name_and_warmup_and_in_full_by_its_options(scheduler, label, full):
    assert schedule_label(scheduler)[0] == label
    assert schedule_label(scheduler, full=True)[0] == full


def test_the_configuration_label_adds_a_schedule_that_is_not_constant():
    assert configuration_label({"strategy": EVERY_8, "scheduler": COSINE}) == (
        "alternating/batch every 8, cosine warmup 0.1",
        ("strategy.name", "strategy.unit", "strategy.every", "strategy.steps", "strategy.order")
        + ("scheduler.name", "scheduler.warmup"),
    )
    for old in ({"strategy": EVERY_8}, {"strategy": EVERY_8, "scheduler": CONSTANT}):
        assert configuration_label(old)[0] == "alternating/batch every 8"


def test_a_constant_schedule_keeps_the_identity_of_a_run_that_recorded_none():
    cfg = make_config(0, "alternating", every=8)
    assert config_hash(cfg | {"scheduler": CONSTANT}) == config_hash(cfg)
    assert configuration_id(cfg | {"scheduler": CONSTANT}) == configuration_id(cfg)
    assert configuration_id(cfg | {"scheduler": COSINE}) != configuration_id(cfg)


def test_labels_and_protocol_of_a_sweep_under_one_schedule(tmp_path):
    for seed in range(3):
        write_run(tmp_path, make_config(seed) | {"scheduler": COSINE}, 0.90)
        write_run(tmp_path, make_config(seed, "alternating", every=8) | {"scheduler": COSINE}, 0.91)
    result = analysis.analyze([tmp_path], tmp_path, boot=FAST, figures=False)
    assert set(result.configs["label"]) == {
        "standard, cosine warmup 0.1",
        "alternating/batch every 8, cosine warmup 0.1",
    }
    md = (tmp_path / "report.md").read_text()
    assert (
        "Learning-rate schedule (the `scheduler` group; constant where a run recorded none): cosine warmup 0.1 " in md
    )
    assert "min_lr 0 for every configuration." in md
    assert "config.scheduler.name=" not in md.split("## Runs")[0]  # the label says it, not a varying setting
