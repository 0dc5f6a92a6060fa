"""Batched runs train the runs their separate runs train: the same per-epoch results within a stated
tolerance, frozen members bit-identical through their frozen phases, and checkpoints a separate run reads."""

import math
import shutil
from dataclasses import replace

import pytest
import torch
from omegaconf import OmegaConf

from alternating_freeze import train
from alternating_freeze.batched.fit import Group, Member, fit_group
from alternating_freeze.config import RunConfig
from alternating_freeze.contract import DIVERGED, TIMING_COLUMNS
from alternating_freeze.loop import Progress, TrainerConfig, TrainState
from alternating_freeze.models import ModelConfig
from alternating_freeze.optim import OptimizerConfig
from alternating_freeze.strategies.alternating import Alternating
from alternating_freeze.strategies.progressive import Progressive
from alternating_freeze.strategies.random_block import RandomBlock
from alternating_freeze.strategies.standard import Standard

REL = 1e-5  # per-epoch losses over the first epochs (README, "Batched runs": the guarantee is 1e-4)
EXACT = ("epoch", "step", "trained", "train_flops")


def runs(model=None, opt="adam", epochs=3):
    """Members that differ in everything a group allows: seed, strategy and schedule, split, lr, optimizer settings."""
    model = ModelConfig() if model is None else model
    other = replace(model, splits=[2, 3]) if model.splits else replace(model, split=1)
    cases = [
        (0, model, Standard(), dict(lr=1e-3)),
        (1, other, Alternating(every=1), dict(lr=3e-3)),
        (2, model, Alternating(unit="epoch"), dict(lr=1e-3, momentum=0.9 if opt == "sgd" else 0.0)),
        (0, model, Progressive(), dict(lr=1e-2, weight_decay=0.01)),
        (3, model, RandomBlock(), dict(lr=1e-3, betas=[0.8, 0.99])),
        (4, model, Alternating(every=2, optimizer_state="reset"), dict(lr=1e-3, eps=1e-6)),
    ]
    out = []
    for seed, m, strategy, o in cases:
        if opt == "sgd":
            o = {k: v for k, v in o.items() if k not in ("betas", "eps")} | {"lr": o["lr"] * 10}
        out.append(
            RunConfig(
                seed=seed,
                model=m,
                strategy=strategy,
                optimizer=OptimizerConfig(name=opt, **o),
                trainer=TrainerConfig(
                    epochs=epochs, progress=Progress.none, checkpoint=False, allow_untrained=True, num_threads=1
                ),
            )
        )
    return out


def separate(run):
    job = train.build(run, None, OmegaConf.structured(run))
    state = TrainState()
    job.fit(state)
    return job, state


def member(run, data=None, path=None):
    job = train.build(run, None, OmegaConf.structured(run), data=data)
    state = train.resume(path, job) if path is not None else TrainState()
    rng = torch.Generator()
    rng.set_state(torch.get_rng_state())
    return Member(job, state, rng, torch.get_rng_state())


def batched(rs, on_epoch=lambda m: None):
    members = [member(r) for r in rs]
    fit_group(Group(members), on_epoch, lambda m: None)
    return members


def assert_same_run(a: TrainState, b: TrainState, n_test: int, rel=REL):
    assert len(a.rows) == len(b.rows) and a.status == b.status
    for ra, rb in zip(a.rows, b.rows):
        assert [ra[k] for k in EXACT] == [rb[k] for k in EXACT]
        for k in ("train_loss", "val_loss", "test_loss"):
            assert ra[k] == pytest.approx(rb[k], rel=rel), (k, ra["epoch"])
        assert abs(ra["test_acc"] - rb["test_acc"]) <= 1 / n_test + 1e-12


@pytest.mark.parametrize(
    "model, opt",
    [
        (ModelConfig(), "adam"),
        (ModelConfig(depth=4, batchnorm=True, dropout=0.2, splits=[1, 2, 3]), "adamw"),
        (ModelConfig(depth=4, batchnorm=True, dropout=0.2), "sgd"),
    ],
)
def test_members_train_as_their_separate_runs(model, opt):
    """Seeds, strategies, splits, learning rates and optimizer settings differ; BatchNorm statistics and
    dropout masks are each member's own (dropout masks drawn as its separate run draws them)."""
    rs = runs(model, opt)
    members = batched(rs)
    for r, m in zip(rs, members):
        job, state = separate(r)
        assert_same_run(m.state, state, len(job.data.y_test))
        for p, q in zip(m.job.model.state_dict().values(), job.model.state_dict().values()):
            assert torch.allclose(p.float(), q.float(), rtol=1e-4, atol=1e-6)


def test_a_frozen_member_does_not_change_bit_for_bit():
    """Through an epoch in which its block 1 is frozen, a member's block-1 weights, BatchNorm statistics,
    Adam moments and step counts are exactly what they were, while the group around it trains."""
    model = ModelConfig(depth=4, batchnorm=True, splits=[2])
    frozen = RunConfig(
        seed=1,
        model=model,
        strategy=Alternating(unit="epoch"),
        trainer=TrainerConfig(epochs=3, progress=Progress.none, checkpoint=False, num_threads=1),
    )
    other = replace(frozen, seed=2, strategy=Standard())
    snaps = []

    def on_epoch(m):
        if m.job.run is frozen:
            blocks = [m.job.model.blocks[b] for b in (0, 1)]
            state = m.job.optimizer.state
            snaps.append(
                [
                    (
                        {k: v.clone() for k, v in block.state_dict().items()},
                        [{n: t.clone() for n, t in state[p].items()} for p in block.parameters() if p in state],
                    )
                    for block in blocks
                ]
            )

    members = batched([frozen, other], on_epoch)
    assert [r["trained"] for r in members[0].state.rows] == ["0", "1", "0"]
    before, after = snaps[1], snaps[2]  # [(weights, moments) of block 0, of block 1] after epochs 2 and 3
    (weights, moments), (weights_after, moments_after) = before[1], after[1]
    assert moments and len(moments) == len(moments_after)  # block 1 has Adam state from epoch 2
    for k, v in weights.items():
        assert torch.equal(v, weights_after[k]), k
    for s, t in zip(moments, moments_after):
        assert s.keys() == t.keys() and all(torch.equal(s[n], t[n]) for n in s)
    assert not torch.equal(before[0][0]["0.0.weight"], after[0][0]["0.0.weight"])  # while block 0 trained


def test_members_leave_when_done_or_diverged_and_the_others_go_on():
    """Different epoch counts (a FLOP budget gives each strategy its own) and a member that diverges."""
    rs = runs(epochs=3)[:3]
    rs[1] = replace(rs[1], trainer=replace(rs[1].trainer, epochs=2))
    rs[2] = replace(rs[2], optimizer=OptimizerConfig(name="adam", lr=1e30))
    rs.append(replace(rs[0], seed=7, strategy=Alternating(), trainer=replace(rs[0].trainer, budget="standard")))
    members = batched(rs)
    assert members[3].job.trainer.epochs > 3 and members[2].state.status == DIVERGED
    for r, m in zip(rs, members):
        job, state = separate(r)
        assert len(m.state.rows) == len(state.rows) == (job.trainer.epochs if r is not rs[2] else len(state.rows))
        if state.status == DIVERGED:
            assert len(state.rows) < 3 and not math.isfinite(m.state.rows[-1]["train_loss"])
            assert [row["train_loss"] for row in m.state.rows[:-1]] == pytest.approx(
                [row["train_loss"] for row in state.rows[:-1]], rel=REL
            )
            continue
        assert_same_run(m.state, state, len(job.data.y_test))


def test_a_member_checkpoint_is_its_separate_runs_and_resumes_either_way(tmp_path):
    """A member's checkpoint after epoch 2, written by train.epoch_writer, is the file its separate run
    writes: resumed in another group, or as a separate run, it ends where an uninterrupted member ends."""
    rs = [replace(r, trainer=replace(r.trainer, checkpoint=True)) for r in runs(epochs=4)[:4]]
    dirs = {id(r): tmp_path / str(i) for i, r in enumerate(rs)}
    for d in dirs.values():
        d.mkdir()

    def on_epoch(m):
        out = dirs[id(m.job.run)]
        train.epoch_writer(out, m.job, None)(m.state)
        if m.state.epoch == 2:
            shutil.copy(out / "checkpoint.pt", out / "epoch2.pt")

    whole = batched(rs, on_epoch)
    resumed = [member(r, path=dirs[id(r)] / "epoch2.pt") for r in rs[1:]]  # a smaller group
    assert all(m.state.epoch == 2 for m in resumed)
    fit_group(Group(resumed), lambda m: None, lambda m: None)
    for a, b in zip(whole[1:], resumed):  # what a member computes does not depend on its group: bit for bit
        assert [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in a.state.rows] == [
            {k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in b.state.rows
        ]
    job = train.build(
        rs[0], None, OmegaConf.structured(rs[0])
    )  # the first one as a separate run, from its member checkpoint
    state = train.resume(dirs[id(rs[0])] / "epoch2.pt", job)
    job.fit(state)
    assert_same_run(whole[0].state, state, len(job.data.y_test))


@pytest.mark.parametrize(
    "name, extra", [("adam", {}), ("adamw", {"weight_decay": 0.01}), ("sgd", {"momentum": 0.9, "nesterov": True})]
)
def test_the_stacked_optimizer_is_each_members_fused_optimizer_bit_for_bit(name, extra):
    """Runs of members passed as one slice (a 128x64 weight) and odd sizes passed member by member (a
    10-element bias): every member's parameters and state equal its own FusedOptimizer's exactly."""
    from alternating_freeze.batched.optim import StackedOptimizer
    from alternating_freeze.optim import FusedOptimizer

    g = torch.Generator().manual_seed(0)
    shapes, k = [(128, 64), (10,), (3, 5)], 5
    stacked = [torch.randn(k, *s, generator=g).requires_grad_() for s in shapes]
    cfgs = [OptimizerConfig(name=name, lr=1e-2 if i < 3 else 1e-3, **extra) for i in range(k)]
    own = [[p[i].detach().clone().requires_grad_() for p in stacked] for i in range(k)]
    opts = [FusedOptimizer(c, ps) for c, ps in zip(cfgs, own)]
    opt = StackedOptimizer(cfgs, stacked, [{} for _ in range(k)])
    schedule = [[{0, 1, 2}] * k, [{0, 1, 2}, {0}, {0, 1, 2}, {2}, {0, 1, 2}], [{1}] * k, [{0, 1, 2}] * k]
    for trains in schedule:
        grads = [torch.randn(k, *s, generator=g) for s in shapes]
        for p, gr in zip(stacked, grads):
            p.grad = gr
        opt.step([frozenset(t) for t in trains])
        for i, (o, ps) in enumerate(zip(opts, own)):
            for j, p in enumerate(ps):
                p.grad = grads[j][i].clone() if j in trains[i] else None
            o.step()
    for i, (o, ps) in enumerate(zip(opts, own)):
        assert all(torch.equal(p, q[i]) for p, q in zip(ps, stacked))
        mine = opt.member_state(i)
        assert mine.keys() == {j for j, p in enumerate(ps) if p in o.state}
        for j, s in mine.items():
            assert all(torch.equal(t, o.state[ps[j]][n]) for n, t in s.items())
