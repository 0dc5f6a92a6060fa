"""Freezing must be real: frozen blocks do not change, get no gradient, and cost no backward work."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from helpers import Recorder, block_state, changed, random_data
from torch.utils.flop_counter import FlopCounterMode

from alternating_freeze.epoch import TrainState
from alternating_freeze.loop import TrainerConfig, fit
from alternating_freeze.models import ModelConfig, build_model
from alternating_freeze.optim import OptimizerConfig, build_optimizer
from alternating_freeze.strategies import Run
from alternating_freeze.strategies.alternating import Alternating
from alternating_freeze.strategies.lisa import Lisa
from alternating_freeze.strategies.progressive import Progressive
from alternating_freeze.strategies.random_block import RandomBlock
from alternating_freeze.strategies.standard import Standard

SPLITS = {2: [2], 3: [1, 3], 4: [1, 2, 3]}  # depth-4 networks in 2, 3 and 4 blocks


def train(opt_cfg, strategy, n_blocks, epochs=3, batchnorm=True, dropout=0.1):
    torch.manual_seed(0)
    data = random_data()
    model = build_model(
        ModelConfig(depth=4, width=16, batchnorm=batchnorm, dropout=dropout, splits=SPLITS[n_blocks]), data.input_dim, 4
    )
    trainer = TrainerConfig(epochs=epochs, batch_size=32)
    strategy.bind(Run(n_blocks, 256 // 32, epochs, seed=0))
    rec = Recorder(strategy, model)
    state = TrainState()
    optimizer = fit(
        model=model,
        data=data,
        strategy=rec,
        optimizer=build_optimizer(opt_cfg, model.parameters()),
        trainer=trainer,
        gen=torch.Generator().manual_seed(0),
        state=state,
    )
    assert state.status == "completed" and state.step == epochs * 8
    rec.snaps.append([block_state(model, b) for b in range(n_blocks)])
    return model, rec, optimizer


OPTIMIZERS = {
    "adam": OptimizerConfig(name="adam"),
    "adamw": OptimizerConfig(name="adamw", weight_decay=0.1),
    "sgd_momentum": OptimizerConfig(name="sgd", lr=0.05, momentum=0.9, weight_decay=0.01),
}
STRATEGIES = {
    "cyclic_batch": lambda: Alternating(),
    "cyclic_epoch_reset": lambda: Alternating(unit="epoch", optimizer_state="reset"),
    "pingpong_steps": lambda: Alternating(order="pingpong", every=3),
    "random_order": lambda: Alternating(order="random", every=2, optimizer_state="reset"),
    "random_block": lambda: RandomBlock(),
    "progressive": lambda: Progressive(t_0=0.3),
    # first and last block always, one of the two middle ones drawn (K=4 only: count < the middle blocks)
    "lisa": lambda: Lisa(count=1),
    "lisa_every_reset": lambda: Lisa(count=1, every=3, optimizer_state="reset"),
}
CASES = [(s, o, k) for s in STRATEGIES for o in OPTIMIZERS for k in ([4] if s.startswith("lisa") else [2, 3, 4])]


@pytest.mark.parametrize("strategy, opt, n_blocks", CASES)
def test_frozen_blocks_are_bit_identical_at_every_frozen_step(strategy, opt, n_blocks):
    # Adam moments, AdamW decay, SGD momentum and BatchNorm statistics would all move a frozen block
    # that is not excluded from the update entirely.
    _, rec, _ = train(OPTIMIZERS[opt], STRATEGIES[strategy](), n_blocks, epochs=4)
    trained = set()
    for step, trainable in enumerate(rec.sets):
        before, after = rec.snaps[step], rec.snaps[step + 1]
        for b in range(n_blocks):
            if b in trainable:
                assert changed(before[b], after[b]), f"step {step}: block {b} trained but did not change"
                trained.add(b)
            else:
                assert not changed(before[b], after[b]), f"step {step}: frozen block {b} changed"
    assert len(set(rec.sets)) > 1  # the schedule did switch
    assert trained == set(range(n_blocks)) or strategy == "progressive"


def test_frozen_batchnorm_statistics_move_only_when_asked():
    for freeze, moves in [(True, False), (False, True)]:
        _, rec, _ = train(OPTIMIZERS["adam"], Alternating(unit="epoch", freeze_bn_stats=freeze), 2, epochs=3)
        before, after = rec.snaps[0][1], rec.snaps[8][1]  # block 1 is frozen for the first epoch's 8 steps
        assert bool(changed(before, after)) is moves
        assert all("running" in k or "num_batches" in k for k in changed(before, after))


def test_frozen_batchnorm_still_normalises_with_batch_statistics():
    """Freezing changes what learns, not the function a training step computes; eval is untouched."""
    data = random_data()
    model = build_model(ModelConfig(depth=4, width=16, batchnorm=True), data.input_dim, 4)
    model.train()
    x = data.x_train[:32]
    with torch.no_grad():
        model.blocks[1][0][1].running_mean.fill_(5.0)  # running statistics far from the batch's
        trained = model(x)
        model.set_trainable({0}, freeze_bn_stats=True)
        before = block_state(model, 1)
        frozen = model(x)
    assert torch.equal(trained, frozen)  # batch statistics in both cases
    assert not changed(before, block_state(model, 1))  # but the running ones did not move
    model.eval()
    with torch.no_grad():
        assert not torch.allclose(model(x), frozen)  # evaluation uses the running statistics
    model.set_trainable({0, 1})
    assert all(m.track_running_stats for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d))


def test_keep_carries_optimizer_state_across_switches_and_reset_drops_it():
    model, _, keep = train(OPTIMIZERS["adam"], Alternating(unit="epoch", optimizer_state="keep"), 3)
    assert set(keep.state) == set(model.parameters())  # every block has moments
    model, _, reset = train(OPTIMIZERS["adam"], Alternating(unit="epoch", optimizer_state="reset"), 3)
    # after the last switch (epoch 3 trains block 2) only block 2 has state, and only this epoch's 8 steps
    assert set(reset.state) == set(model.blocks[2].parameters())
    assert all(s["step"].item() == 8 for s in reset.state.values())


def test_frozen_parameters_get_no_gradient():
    data = random_data()
    model = build_model(ModelConfig(depth=4, width=16, batchnorm=True, splits=[1, 2, 3]), data.input_dim, 4)
    for trainable in ({0}, {3}, {1, 3}, {2}):
        model.set_trainable(trainable)
        F.cross_entropy(model(data.x_train[:32]), data.y_train[:32]).backward()
        for b in range(4):
            for p in model.blocks[b].parameters():
                assert (p.grad is not None) is (b in trainable) and p.requires_grad is (b in trainable)
        model.zero_grad(set_to_none=True)


def counted_flops(model, x, y):
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def test_flop_model_matches_the_notebook_network():
    # The reference notebook's 784-256-256-256-10 network at batch 128 (numbers from torch's FlopCounterMode).
    model = build_model(ModelConfig(depth=4, width=256), 784, 10)
    x, y = torch.randn(128, 784), torch.randint(0, 10, (128,))
    for trainable, mflop in {(0, 1): 205.4, (0,): 188.0, (1,): 103.7}.items():  # (0,) = second half frozen
        model.set_trainable(trainable)
        assert round(counted_flops(model, x, y) / 1e6, 1) == mflop


@pytest.mark.parametrize("n_blocks", [2, 3, 4])
def test_flop_model_matches_torch_counter_for_every_trainable_set(n_blocks):
    model = build_model(ModelConfig(depth=4, width=24, batchnorm=True, splits=SPLITS[n_blocks]), 20, 4)
    x, y = torch.randn(16, 20), torch.randint(0, 4, (16,))
    for k in range(1, n_blocks + 1):
        for trainable in itertools.combinations(range(n_blocks), k):
            model.set_trainable(trainable)
            assert counted_flops(model, x, y) == model.train_flops_per_sample(trainable) * 16, trainable


@pytest.mark.parametrize("trainable, silent", [({1}, {0}), ({2}, {0, 1}), ({1, 3}, {0}), ({3}, {0, 1, 2})])
@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_the_frozen_prefix_runs_no_backward(trainable, silent):
    model = build_model(ModelConfig(depth=4, width=32, batchnorm=True, splits=[1, 2, 3]), 20, 4)
    model.set_trainable(trainable)
    calls = set()
    for b, block in enumerate(model.blocks):
        for m in block.modules():
            m.register_full_backward_hook(lambda *a, b=b: calls.add(b))
    out = model(torch.randn(8, 20))
    F.cross_entropy(out, torch.randint(0, 4, (8,))).backward()
    assert not calls & silent and calls
    # and the autograd graph never reaches a parameter of the prefix
    seen, stack = set(), [out.grad_fn]
    prefix = {id(p) for b in silent for p in model.blocks[b].parameters()}
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        assert id(getattr(node, "variable", None)) not in prefix
        stack.extend(n for n, _ in node.next_functions)


def test_standard_trains_every_block_every_step():
    _, rec, _ = train(OPTIMIZERS["sgd_momentum"], Standard(), 3, epochs=1)
    assert set(rec.sets) == {frozenset({0, 1, 2})}
    assert all(changed(rec.snaps[0][b], rec.snaps[-1][b]) for b in range(3))


def test_initial_weights_do_not_depend_on_the_split():
    nets = []
    for splits in ([2], [1, 2, 3], [1]):
        torch.manual_seed(3)
        nets.append(
            torch.cat(
                [p.flatten() for p in build_model(ModelConfig(depth=4, width=8, splits=splits), 5, 3).parameters()]
            )
        )
    assert torch.equal(nets[0], nets[1]) and torch.equal(nets[0], nets[2])
