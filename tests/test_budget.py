"""trainer.budget: the epochs a FLOP budget buys, replayed from the schedule, against hand computations."""

import pytest
import torch
from helpers import random_data

from alternating_freeze.budget import budget_epochs, schedule_flops
from alternating_freeze.epoch import TrainState
from alternating_freeze.errors import ConfigError
from alternating_freeze.loop import TrainerConfig, fit
from alternating_freeze.models import ModelConfig, build_model
from alternating_freeze.optim import OptimizerConfig, build_optimizer
from alternating_freeze.strategies import Run
from alternating_freeze.strategies.alternating import Alternating
from alternating_freeze.strategies.progressive import Progressive
from alternating_freeze.strategies.random_block import RandomBlock
from alternating_freeze.strategies.standard import Standard

N, BS = 256, 48  # 6 batches an epoch, the last one of 16


def model(splits=(2,)):
    torch.manual_seed(0)
    return build_model(ModelConfig(depth=4, width=16, splits=list(splits)), 20, 4)


@pytest.mark.parametrize(
    "make",
    [
        Standard,
        lambda: Alternating(every=2),
        lambda: Alternating(unit="epoch"),
        lambda: RandomBlock(),
        lambda: Progressive(t_0=0.4),
    ],
)
def test_replayed_flops_equal_what_training_counts(make):
    net, data = model((1, 2, 3)), random_data(n=N)
    run = Run(4, 6, 5, seed=3)
    state = TrainState()
    fit(
        model=net,
        data=data,
        strategy=make().bind(run),
        trainer=TrainerConfig(epochs=5, batch_size=BS),
        optimizer=build_optimizer(OptimizerConfig(), net.parameters()),
        gen=torch.Generator().manual_seed(0),
        state=state,
    )
    assert schedule_flops(net, make(), run, N, BS) == state.flops


def test_standard_budget_buys_standard_epochs_and_alternation_more():
    net = model()
    all_, first, second = (net.train_flops_per_sample(t) for t in ({0, 1}, {0}, {1}))
    run = Run(2, 6, 10, seed=0)
    assert budget_epochs(net, Standard(), run, N, BS, "standard") == (10, all_ * N * 10)
    # per epoch, alternating every epoch costs first*N, second*N, first*N, ...: count by hand
    budget, spent, epochs = all_ * N * 10, 0, 0
    while spent + (first if epochs % 2 == 0 else second) * N <= budget:
        spent += (first if epochs % 2 == 0 else second) * N
        epochs += 1
    strategy = Alternating(unit="epoch")
    assert budget_epochs(net, strategy, run, N, BS, "standard") == (epochs, budget) and epochs > 10
    assert strategy.run.epochs == epochs  # left bound to what it will train


def test_a_number_of_flops_and_one_that_buys_nothing():
    net = model()
    one_epoch = net.train_flops_per_sample({0, 1}) * N
    assert budget_epochs(net, Standard(), Run(2, 6, 10, 0), N, BS, str(3.5 * one_epoch))[0] == 3
    with pytest.raises(ConfigError, match="^trainer.budget='100': buys less than one epoch"):
        budget_epochs(net, Standard(), Run(2, 6, 10, 0), N, BS, "100")


@pytest.mark.parametrize("value", ["0", "-5", "many", "inf", "nan"])
def test_bad_budgets_are_refused_by_the_schema(value):
    with pytest.raises(ConfigError, match="^trainer.budget="):
        TrainerConfig(budget=value)
