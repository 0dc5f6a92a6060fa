"""The learning-rate figure: each block's rate at every step computed from a run's recorded config with the formulas
training uses (contract.rates), by hand for FreezeOut's alpha_i(t) = 0.5 alpha_i(0) (1 + cos(pi t / t_i)), and in the
report only where the configurations' schedules or per-block rates differ."""

import json
import math

import pytest
from helpers import FAST, make_config, write_run

import analysis
from alternating_freeze import contract
from analysis.figures.rates import SAME, sampled, table

LR, SPE, EPOCHS = 0.05, 12, 3  # 36 steps
SCALE, UNTIL = [2.0, 1.0], [18, 36]  # t_0 0.5, linear, 2 blocks: alpha_0(0) = alpha / 0.5
FREEZEOUT = {"name": "freezeout", "unit": "batch", "t_0": 0.5, "schedule": "linear", "scale_lr": True}
STEP = {"name": "step", "warmup": 0.0, "milestones": [0.5, 0.75], "gamma": 0.1, "min_lr": 0.0}


def freezeout_config(seed=0, scheduler=None):
    cfg = make_config(seed, epochs=EPOCHS, lr=LR) | {"strategy": FREEZEOUT}
    return cfg | ({"scheduler": scheduler} if scheduler else {})


RESOLVED = {"epochs": EPOCHS, "schedule": {"freeze_at": [0.5, 1.0], "train_until": UNTIL, "lr_scale": SCALE}}


def test_freezeouts_rates_are_the_hand_computed_cosines_and_zero_after_each_blocks_point():
    t = table(freezeout_config(), RESOLVED, SPE).set_index(["step", "block"])["lr"]
    assert len(t) == 2 * SPE * EPOCHS
    for step in (0, 5, 9, 17):  # block 0: alpha_0(0) = 0.05 / 0.5, to zero at t_0 = 18
        assert t[step, "0"] == pytest.approx(0.5 * (LR * 2) * (1 + math.cos(math.pi * step / 18)), rel=1e-12)
    for step in (0, 18, 30, 35):  # block 1: alpha, to zero at the end of the run
        assert t[step, "1"] == pytest.approx(0.5 * LR * (1 + math.cos(math.pi * step / 36)), rel=1e-12)
    assert all(t[step, "0"] == 0.0 for step in range(18, 36))
    assert t[0, "0"] == pytest.approx(0.1) and t[0, "1"] == pytest.approx(0.05)


def test_the_table_is_what_training_steps_with():
    """Under a step decay on top: the same numbers as schedule.Rates, which the optimizer gets at each step."""
    from alternating_freeze.schedule import Rates, SchedulerConfig
    from alternating_freeze.strategies import Run
    from alternating_freeze.strategies.freezeout import FreezeOut

    strategy = FreezeOut(t_0=0.5, schedule="linear").bind(Run(2, SPE, EPOCHS, 0))
    assert strategy.resolved()["train_until"] == UNTIL and strategy.resolved()["lr_scale"] == SCALE
    rates = Rates(SchedulerConfig(**{k: v for k, v in STEP.items()}), LR, SPE * EPOCHS, strategy, [0, 1])
    t = table(freezeout_config(scheduler=STEP), RESOLVED, SPE).set_index(["step", "block"])["lr"]
    for step in range(SPE * EPOCHS):
        assert [t[step, "0"], t[step, "1"]] == rates.at(step // SPE, step)
    plain = table(make_config(epochs=EPOCHS, lr=LR) | {"scheduler": STEP}, {"epochs": EPOCHS}, SPE)
    assert set(plain["block"]) == {"all"} and list(plain["lr"]) == [
        Rates(SchedulerConfig(**STEP), LR, 36).at(0, s) for s in range(36)
    ]


def test_a_long_run_is_sampled_keeping_each_blocks_freezing_point():
    steps = sampled(100_000, {"schedule": {"train_until": [51_234, 100_000]}}, 100, False)
    assert len(steps) <= 2002 and {51_233, 51_234} <= set(steps) and steps[0] == 0 and steps[-1] == 99_999


def freezeout_run(sweep, seed):
    """A FreezeOut run folder: written as a 2-block run, its config and resolved schedule FreezeOut's."""
    run = write_run(sweep, make_config(seed, "alternating", epochs=EPOCHS, lr=LR), 0.89, job=f"freezeout,seed={seed}")
    summary = json.loads((run / "summary.json").read_text())
    cfg = freezeout_config(seed)
    summary |= {"config": cfg, "config_hash": contract.config_hash(cfg)}
    summary["resolved"] |= RESOLVED | {"steps": None}
    (run / "summary.json").write_text(json.dumps(summary))


@pytest.mark.slow
def test_the_report_draws_the_rates_where_schedules_differ_and_not_otherwise(tmp_path):
    differ, same = tmp_path / "freezeout", tmp_path / "plain"
    for seed in range(2):
        write_run(differ, make_config(seed, epochs=EPOCHS, lr=LR) | {"scheduler": STEP}, 0.9)
        freezeout_run(differ, seed)
        write_run(same, make_config(seed, epochs=EPOCHS, lr=LR), 0.9)
        write_run(same, make_config(seed, "alternating", epochs=EPOCHS, lr=LR), 0.9)
    result = analysis.analyze([differ], boot=FAST)
    assert "learning_rates" in {f.name for f in result.figures}
    assert (
        "### Learning rate per block\n\n![Learning rate per block](figures/learning_rates.png)"
        in (differ / "report.md").read_text()
    )
    result = analysis.analyze([same], boot=FAST)
    assert "learning_rates" not in {f.name for f in result.figures}
    assert dict(result.skipped)["learning_rates"] == SAME
    assert "### Learning rate per block" not in (same / "report.md").read_text()


def test_the_frequency_figure_draws_one_line_per_schedule(tmp_path):
    """Alternating every 1 and 4 batches, each under a constant rate and under the step decay: four configurations,
    two lines (one per schedule, named by it), each with both periods and its own mean; one schedule, no name."""
    from analysis import figures

    acc = {(1, None): 0.90, (4, None): 0.92, (1, "step"): 0.94, (4, "step"): 0.96}
    for seed in range(3):
        write_run(tmp_path, make_config(seed, epochs=EPOCHS, lr=LR), 0.9)
        for (every, sched), a in acc.items():
            cfg = make_config(seed, "alternating", every=every, epochs=EPOCHS, lr=LR)
            write_run(tmp_path, cfg | ({"scheduler": STEP} if sched else {}), a, job=f"s{seed}-e{every}-{sched}")
    data = figures.frequency_data(analysis.compute([tmp_path], boot=FAST))
    means = data.groupby(["line", "period"])["value"].mean().to_dict()
    step = "every N batches, step milestones 0.5:0.75 gamma 0.1"
    assert means == pytest.approx(
        {
            ("every N batches, constant", 1.0): 90,
            ("every N batches, constant", 4.0): 92,
            (step, 1.0): 94,
            (step, 4.0): 96,
        }
    )
    only_constant = tmp_path / "constant"
    for seed in range(3):
        for every in (1, 4):
            write_run(only_constant, make_config(seed, "alternating", every=every, epochs=EPOCHS, lr=LR), 0.9)
    one = figures.frequency_data(analysis.compute([only_constant], boot=FAST))
    assert set(one["line"]) == {"every N batches"}
