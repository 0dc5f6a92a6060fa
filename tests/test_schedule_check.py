"""Arms that cannot do what they say: a schedule that never trains some block within the run is refused
before anything trains (budget.schedule_problem, replayed from the strategy itself)."""

import subprocess

import pytest
from helpers import ROOT, af_train

from alternating_freeze.budget import check_schedule, first_epochs, schedule_problem
from alternating_freeze.data import DatasetConfig, load_dataset, train_count
from alternating_freeze.errors import ConfigError
from alternating_freeze.strategies import Run
from alternating_freeze.strategies.alternating import Alternating
from alternating_freeze.strategies.progressive import Progressive
from alternating_freeze.strategies.random_block import RandomBlock
from alternating_freeze.strategies.standard import Standard


def run_af(env, *args) -> subprocess.CompletedProcess:
    """af-train with ``args`` in a subprocess, its output captured."""
    return subprocess.run(af_train(*args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


N, BS = 1293, 128  # digits' default training split: 11 batches an epoch


def problem(strategy, epochs, n_blocks=2, seed=0):
    return schedule_problem(strategy, Run(n_blocks, -(-N // BS), epochs, seed), N, BS)


@pytest.mark.parametrize(
    "strategy, short, enough",
    [
        (Alternating(unit="epoch", every=2), 2, 3),  # block 1 first trains in epoch 3
        (Alternating(unit="epoch", every=4), 4, 5),
        (Alternating(unit="batch", every=32), 2, 3),  # 22 steps in 2 epochs; step 32 is in epoch 3
        (Alternating(unit="epoch", steps=[3, 1]), 3, 4),
    ],
)
def test_a_switching_period_longer_than_the_run_is_refused(strategy, short, enough):
    said = problem(strategy, short)
    assert said is not None and "trains only block 0" in said and f"trainer.epochs>={enough}" in said
    assert problem(strategy, enough) is None


@pytest.mark.parametrize(
    "strategy", [Standard(), Progressive(t_0=0.1), Alternating(every=1), Alternating(unit="epoch")]
)
def test_schedules_that_train_every_block_pass(strategy):
    assert problem(strategy, 2) is None
    assert problem(strategy, 1, n_blocks=2) is None or isinstance(strategy, Alternating) and strategy.unit == "epoch"


def test_a_block_never_drawn_is_named():
    strategy = RandomBlock(every=1000)  # one draw in the whole run: one block of four
    said = problem(strategy, 3, n_blocks=4)
    assert said is not None and "never trains" in said


def test_the_first_epoch_of_each_block_and_the_binding_left_as_it_was():
    strategy = Alternating(unit="epoch", steps=[2, 3], order="reverse")
    run = Run(2, 11, 4, 0)
    assert first_epochs(strategy, run, N, BS) == {1: 1, 0: 4}
    assert strategy.run == run


def test_check_schedule_is_one_line_naming_strategy_and_the_way_out():
    with pytest.raises(ConfigError) as e:
        check_schedule(Alternating(unit="epoch", every=2), Run(2, 11, 2, 0), N, BS, "alternating/epoch every 2")
    text = str(e.value)
    assert "\n" not in text and text.startswith("trainer.epochs=2: too short for strategy alternating/epoch every 2")
    assert "trainer.allow_untrained=true" in text


@pytest.mark.parametrize(
    "keys", [{}, {"val_fraction": 0.0}, {"subset": 500, "val_fraction": 0.25}, {"test_fraction": 0.5}]
)
def test_train_count_is_what_loading_leaves(keys):
    opt = DatasetConfig(**keys)
    assert train_count(opt) == len(load_dataset(opt).y_train)


@pytest.mark.slow
def test_a_sweep_with_arms_that_never_switch_refuses_before_any_job(tmp_path, cli_env):
    proc = run_af(cli_env, "-m", "experiment=frequency", "trainer.epochs=2", f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: trainer.epochs=2: too short: arm 'batch strategy.every=32'")
    assert "'epoch strategy.every=2'" in lines[0] and "trainer.allow_untrained=true" in lines[0]
    assert not list(tmp_path.glob("*/summary.json"))


@pytest.mark.slow
def test_a_single_run_that_never_switches_says_one_plain_line(tmp_path, cli_env):
    proc = run_af(
        cli_env,
        "strategy=alternating",
        "strategy.unit=epoch",
        "strategy.every=2",
        "trainer.epochs=2",
        f"hydra.run.dir={tmp_path}",
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and proc.stderr.startswith(
        "error: trainer.epochs=2"
    )
    ok = run_af(
        cli_env,
        "strategy=alternating",
        "strategy.unit=epoch",
        "strategy.every=2",
        "trainer.epochs=2",
        "trainer.allow_untrained=true",
        f"hydra.run.dir={tmp_path / 'ok'}",
    )
    assert ok.returncode == 0, ok.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, said",
    [
        (  # a warmup longer than an arm's run: the whole sweep, before any job (each job would refuse it at build)
            ["-m", "experiment=frequency_tuned", "scheduler=cosine", "scheduler.warmup=500"],
            "error: scheduler.warmup=500.0: fewer steps than the run's 220 (arm 'standard')",
        ),
        (
            ["scheduler=exponential"],
            "error: scheduler='exponential': allowed: constant, cosine, linear, onecycle, step",
        ),
    ],
)
def test_a_bad_schedule_on_the_command_line_is_one_line_before_any_job(tmp_path, cli_env, args, said):
    proc = run_af(cli_env, *args, f"hydra.sweep.dir={tmp_path}", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [said]
    assert not list(tmp_path.rglob("summary.json")) and not list(tmp_path.rglob("metrics.csv"))
