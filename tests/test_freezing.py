"""Freezing must be real: frozen parameters do not change, get no gradient, and cost no backward work."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from alternating_freeze.data import Data
from alternating_freeze.loop import TrainerConfig, TrainState, fit
from alternating_freeze.models import ModelConfig, build_model
from alternating_freeze.optim import OptimizerConfig, build_optimizer
from alternating_freeze.strategies import ALL, FIRST, SECOND, Alternating, Standard


def random_data(n=256, d=20, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return Data(x, y, x[:64], y[:64], classes, "random")


def half_state(model, half):
    """Parameters and buffers (BatchNorm running statistics) of one half, copied."""
    return {k: v.detach().clone() for k, v in getattr(model, half).state_dict().items()}


def assert_identical(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} changed"


def run_epochs(opt_cfg, strategy, epochs=3, batchnorm=True):
    """Train with the real loop; snapshot both halves and the optimizer after every epoch."""
    torch.manual_seed(0)
    data = random_data()
    model = build_model(ModelConfig(depth=4, width=16, batchnorm=batchnorm, dropout=0.1), data.input_dim, 4)
    optimizer = build_optimizer(opt_cfg, model.parameters())
    snaps = [{h: half_state(model, h) for h in ("first", "second")}]
    optimizers = []

    def on_epoch(state, opt):
        snaps.append({h: half_state(model, h) for h in ("first", "second")})
        optimizers.append(opt)

    status = fit(model, data, strategy, optimizer, lambda: build_optimizer(opt_cfg, model.parameters()),
                 TrainerConfig(epochs=epochs, batch_size=32), torch.Generator().manual_seed(0), TrainState(), on_epoch)
    assert status == "completed"
    return model, snaps, optimizers


OPTIMIZERS = {
    "adam": OptimizerConfig(name="adam"),
    "adamw": OptimizerConfig(name="adamw", weight_decay=0.1),
    "sgd_momentum": OptimizerConfig(name="sgd", lr=0.05, momentum=0.9, weight_decay=0.01),
}


@pytest.mark.parametrize("opt", OPTIMIZERS)
@pytest.mark.parametrize("state", ["keep", "reset"])
def test_frozen_half_is_bit_identical_across_its_frozen_epoch(opt, state):
    # epoch 1 trains the first half, epoch 2 the second, epoch 3 the first again: by epoch 2 the
    # first half has Adam moments / SGD momentum / decay that would move it if it were not frozen.
    strategy = Alternating(unit="epoch", every=1, optimizer_state=state)
    _, snaps, _ = run_epochs(OPTIMIZERS[opt], strategy)
    assert_identical(snaps[0]["second"], snaps[1]["second"])  # frozen in epoch 1
    assert_identical(snaps[1]["first"], snaps[2]["first"])  # frozen in epoch 2
    assert_identical(snaps[2]["second"], snaps[3]["second"])  # frozen in epoch 3
    for before, after, half in [(0, 1, "first"), (1, 2, "second"), (2, 3, "first")]:
        assert not torch.equal(snaps[before][half]["0.0.weight"], snaps[after][half]["0.0.weight"])


def test_frozen_batchnorm_statistics_move_only_when_asked():
    for freeze, moves in [(True, False), (False, True)]:
        _, snaps, _ = run_epochs(OPTIMIZERS["adam"], Alternating(unit="epoch", freeze_bn_stats=freeze), epochs=1)
        before, after = snaps[0]["second"]["0.1.running_mean"], snaps[1]["second"]["0.1.running_mean"]
        assert torch.equal(before, after) is not moves


def test_frozen_batchnorm_still_normalises_with_batch_statistics():
    """Freezing changes what learns, not the function a training step computes; eval is untouched."""
    data = random_data()
    model = build_model(ModelConfig(depth=4, width=16, batchnorm=True), data.input_dim, 4)
    model.train()
    x = data.x_train[:32]
    with torch.no_grad():
        model.second[0][1].running_mean.fill_(5.0)  # running statistics far from the batch's
        trained = model(x)
        model.set_trainable(FIRST, freeze_bn_stats=True)
        before = half_state(model, "second")
        frozen = model(x)
    assert torch.equal(trained, frozen)  # batch statistics in both cases
    assert_identical(before, half_state(model, "second"))  # but the running ones did not move
    model.eval()
    with torch.no_grad():
        assert not torch.allclose(model(x), frozen)  # evaluation uses the running statistics
    model.set_trainable(ALL)
    assert all(m.track_running_stats for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d))


def test_keep_carries_optimizer_state_across_switches_and_reset_drops_it():
    model, _, keep = run_epochs(OPTIMIZERS["adam"], Alternating(unit="epoch", optimizer_state="keep"))
    assert keep[0] is keep[1] is keep[2]
    assert set(keep[2].state) == set(model.parameters())  # both halves have moments
    model, _, reset = run_epochs(OPTIMIZERS["adam"], Alternating(unit="epoch", optimizer_state="reset"))
    assert reset[0] is not reset[1] and reset[1] is not reset[2]
    # after the last switch only the half trained since (the first) has state
    assert set(reset[2].state) == set(model.first.parameters())


def test_frozen_parameters_get_no_gradient():
    data = random_data()
    model = build_model(ModelConfig(depth=4, width=16, batchnorm=True), data.input_dim, 4)
    for trainable, frozen in [(FIRST, "second"), (SECOND, "first")]:
        model.set_trainable(trainable)
        F.cross_entropy(model(data.x_train[:32]), data.y_train[:32]).backward()
        for p in getattr(model, frozen).parameters():
            assert p.grad is None and not p.requires_grad
        trained = "first" if frozen == "second" else "second"
        assert all(p.grad is not None for p in getattr(model, trained).parameters())
        model.zero_grad(set_to_none=True)


def counted_flops(model, x, y):
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def test_flop_model_matches_torch_counter_and_the_notebook_network():
    # The reference notebook's 784-256-256-256-10 network at batch 128 (numbers from torch's FlopCounterMode).
    model = build_model(ModelConfig(depth=4, width=256), 784, 10)
    x, y = torch.randn(128, 784), torch.randint(0, 10, (128,))
    expected_mflop = {ALL: 205.4, FIRST: 188.0, SECOND: 103.7}  # FIRST trains = second half frozen
    for trainable, mflop in expected_mflop.items():
        model.set_trainable(trainable)
        counted = counted_flops(model, x, y)
        assert counted == model.train_flops_per_sample(trainable) * 128
        assert round(counted / 1e6, 1) == mflop


def test_first_half_frozen_runs_no_backward_through_it():
    model = build_model(ModelConfig(depth=4, width=32, batchnorm=True), 20, 4)
    model.set_trainable(SECOND)
    calls = []
    for m in model.first.modules():
        m.register_full_backward_hook(lambda *a: calls.append(1))
    out = model(torch.randn(8, 20))
    assert out.requires_grad
    F.cross_entropy(out, torch.randint(0, 4, (8,))).backward()
    assert calls == []
    # and the autograd graph never reaches a first-half parameter
    seen, stack = set(), [out.grad_fn]
    first_params = {id(p) for p in model.first.parameters()}
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        assert id(getattr(node, "variable", None)) not in first_params
        stack.extend(n for n, _ in node.next_functions)


def test_standard_trains_everything_every_step():
    _, snaps, _ = run_epochs(OPTIMIZERS["sgd_momentum"], Standard(), epochs=1)
    for half in ("first", "second"):
        assert not torch.equal(snaps[0][half]["0.0.weight"], snaps[1][half]["0.0.weight"])
