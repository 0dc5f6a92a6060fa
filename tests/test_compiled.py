"""trainer.compile: one compiled graph per trainable set (reused at every switch back; a batched group's, per tuple
of its members' sets), the last partial batch run eagerly, results equal to eager training within the batched
launcher's tolerance, and bad input refused."""

import logging
import shutil
from dataclasses import replace

import pytest
import torch
from omegaconf import OmegaConf
from test_batched import assert_same_run, batched, member

from alternating_freeze import compiled, train
from alternating_freeze.batched.fit import Group, fit_group
from alternating_freeze.batched.net import Unsupported, train_loss
from alternating_freeze.config import RunConfig
from alternating_freeze.contract import TIMING_COLUMNS
from alternating_freeze.errors import ConfigError
from alternating_freeze.loop import Progress, TrainerConfig, TrainState
from alternating_freeze.models import ModelConfig
from alternating_freeze.optim import OptimizerConfig
from alternating_freeze.strategies.alternating import Alternating
from alternating_freeze.strategies.standard import Standard

EPOCHS = 3  # alternating per epoch: {first}, {second}, {first} again: the third epoch reuses the first's graph


def run_config(compile: str, dropout: float = 0.2) -> RunConfig:
    return RunConfig(
        seed=0,
        model=ModelConfig(depth=3, width=32, dropout=dropout),
        strategy=Alternating(unit="epoch"),
        trainer=TrainerConfig(
            epochs=EPOCHS, progress=Progress.none, checkpoint=False, num_threads=1, compile=compile, device="cpu"
        ),
    )


def train_run(run: RunConfig):
    """fit() of ``run``, with the weights and trainable set after each epoch."""
    job = train.build(run, None, OmegaConf.structured(run))
    state, after = TrainState(), []

    def on_epoch(s):
        after.append((s.trainable, {k: v.clone() for k, v in job.model.state_dict().items()}))

    job.fit(state, on_epoch=on_epoch)
    return job, state, after


class Counted:
    """A stand-in for ``compiled.torch_compile``: the function itself (or ``inner``'s compilation of it), with
    the compilations asked for and the calls of each compiled function counted."""

    def __init__(self, inner=None):
        self.inner, self.compiled, self.calls = inner, [], 0

    def __call__(self, fn, mode):
        self.compiled.append(mode)
        target = fn if self.inner is None else self.inner(fn, mode)

        def counted(*args):
            self.calls += 1
            return target(*args)

        return counted


def test_one_compilation_per_trainable_set_and_the_partial_batch_runs_eagerly(monkeypatch):
    """With a stub compiler (the real one takes tens of seconds): two sets over three epochs are compiled twice,
    every full batch goes through them, the last partial batch of each epoch does not; results are eager's."""
    stub = Counted()
    monkeypatch.setattr(compiled, "torch_compile", stub)
    job, state, _ = train_run(run_config("default"))
    n, bs = len(job.data.y_train), job.trainer.batch_size
    assert n % bs, "the digits split must leave a partial last batch for this test"
    assert stub.compiled == ["default", "default"]
    assert stub.calls == EPOCHS * (n // bs)
    _, eager, _ = train_run(run_config("none"))
    computed = lambda rows: [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in rows]  # noqa: E731
    assert computed(state.rows) == computed(eager.rows)


def test_the_step_caches_by_trainable_set():
    model = torch.nn.Linear(2, 2)
    model.trainable = frozenset({0})
    stub = Counted()
    step = compiled.Step(model, "default", batch_size=4, compile_fn=stub)
    x, y = torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)
    for t in ({0}, {1}, {0}, {1}, {0, 1}):
        model.trainable = frozenset(t)
        step(x, y)
    step(x[:3], y[:3])  # a partial batch: eager, no new graph
    assert set(step.graphs) == {frozenset({0}), frozenset({1}), frozenset({0, 1})}
    assert len(stub.compiled) == 3 and stub.calls == 5


def test_bad_input_is_refused_in_one_line(monkeypatch, caplog):
    with pytest.raises(ConfigError, match=r"^trainer.compile='fast': allowed: auto, none, default, cudagraphs$"):
        TrainerConfig(compile="fast")
    with pytest.raises(ConfigError, match=r"^trainer.compile='cudagraphs': cudagraphs needs a CUDA device"):
        compiled.resolve("cudagraphs", torch.device("cpu"))
    assert compiled.resolve("auto", torch.device("cpu")) == "none"
    assert compiled.resolve("none", torch.device("cpu")) == "none"
    monkeypatch.setenv("PATH", "")  # no C++ compiler: inductor cannot build CPU code, the run trains eagerly
    monkeypatch.delenv("CXX", raising=False)
    with caplog.at_level(logging.WARNING):
        assert compiled.resolve("default", torch.device("cpu")) == "none"
    assert [r.getMessage() for r in caplog.records] == [
        "trainer.compile=default: no C++ compiler on PATH (g++, c++, clang++ or $CXX); training eagerly (not compiled)"
    ]


@pytest.mark.slow
def test_compiled_training_equals_eager_training():
    """The default backend on the CPU (about a minute of compiling): an MLP with dropout under alternating per
    epoch trains what eager training trains, within the batched launcher's tolerance; two graphs, compiled once
    each (dynamo compiles no frame again at the switch back); the frozen block's weights bit-identical."""
    from torch._dynamo.utils import counters

    counting = Counted(compiled.torch_compile)
    frames = counters["frames"]["ok"]
    with pytest.MonkeyPatch().context() as mp:
        mp.setattr(compiled, "torch_compile", counting)
        job, state, after = train_run(run_config("default"))
    assert counting.compiled == ["default", "default"]
    assert counters["frames"]["ok"] - frames == 2
    job_eager, eager, _ = train_run(run_config("none"))
    assert_same_run(state, eager, len(job.data.y_test))
    for p, q in zip(job.model.state_dict().values(), job_eager.model.state_dict().values()):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-6)
    for (_, before), (trainable, weights) in zip(after, after[1:]):
        frozen = [i for i in range(job.model.n_blocks) if i not in trainable]
        assert frozen
        for i in frozen:
            for name in weights:
                if name.startswith(f"blocks.{i}."):
                    assert torch.equal(weights[name], before[name]), name


def group_runs(compile: str, checkpoint: bool = False, epochs: int = EPOCHS, third: bool = False) -> list[RunConfig]:
    """A group's members: standard and alternating per epoch, BatchNorm (frozen statistics) and dropout. SGD: under
    Adam the bias before a BatchNorm, whose gradient is rounding noise, moves by the rate at every step in the
    noise's direction, so that any two orders of summation (compiled, eager) part by more than the tolerance.
    ``third``: and alternating per epoch from the second block, out of phase with the other: the group's two
    tuples of sets then have one signature."""
    model = ModelConfig(depth=3, width=32, dropout=0.2, batchnorm=True)
    trainer = TrainerConfig(
        epochs=epochs, progress=Progress.none, checkpoint=checkpoint, num_threads=1, compile=compile, device="cpu"
    )
    sgd = OptimizerConfig(name="sgd", lr=0.05, momentum=0.9)
    out = [
        RunConfig(seed=0, model=model, strategy=Standard(), optimizer=sgd, trainer=trainer),
        RunConfig(seed=1, model=model, strategy=Alternating(unit="epoch"), optimizer=sgd, trainer=trainer),
    ]
    if third:
        out.append(replace(out[1], seed=2, strategy=Alternating(unit="epoch", start="second")))
    return out


def test_a_group_compiles_once_per_signature_of_trainable_sets(monkeypatch):
    """With a stub compiler: standard beside alternating per epoch makes two signatures over three epochs,
    compiled once each; every full batch goes through them, the last partial batch does not; results are the
    eager group's, bit for bit (the stub runs the same function)."""
    stub = Counted()
    monkeypatch.setattr(compiled, "torch_compile", stub)
    members = batched(group_runs("default"))
    n, bs = len(members[0].job.data.y_train), members[0].job.trainer.batch_size
    assert stub.compiled == ["default", "default"]
    assert stub.calls == EPOCHS * (n // bs)
    eager = batched(group_runs("none"))
    computed = lambda rows: [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in rows]  # noqa: E731
    assert [computed(m.state.rows) for m in members] == [computed(m.state.rows) for m in eager]


def test_sets_of_one_signature_share_a_graph():
    """Two members alternating out of phase: ({0}, {1}) and ({1}, {0}) need as many gradients of every layer."""
    net = Group([member(r) for r in group_runs("none")]).net
    stub = Counted()
    graphs = compiled.Graphs(train_loss, "default", compile_fn=stub)
    x, y = torch.zeros(2, 8, 64), torch.zeros(2, 8, dtype=torch.long)
    for trainable in ([{0}, {1}], [{1}, {0}], [{0, 1}, {0}], [{0}, {0, 1}], [{0, 1}, {0, 1}]):
        net.loss(x, y, [frozenset(t) for t in trainable], {}, graphs)
    assert len(stub.compiled) == 3 and stub.calls == 5


def test_a_group_asked_for_cudagraphs_on_a_cpu_is_not_stacked():
    """Each member's own run then refuses it in one line, as a single run does."""
    with pytest.raises(Unsupported, match="trainer.compile='cudagraphs': cudagraphs needs a CUDA device"):
        Group([member(r) for r in group_runs("cudagraphs")])


@pytest.mark.slow
def test_a_compiled_group_trains_as_the_eager_group_and_resumes(tmp_path):
    """The default backend on the CPU (about 10-30 s of compiling a graph): members alternating out of phase share
    one graph, compiled once (dynamo compiles no frame again at the switch: which members train is data); every
    member ends within the batched launcher's tolerance of the eager group's; a frozen block's weights are
    bit-identical through its frozen epoch; a member checkpoint of epoch 2 resumed in a new compiled group ends as
    the whole run."""
    from torch._dynamo.utils import counters

    rs = group_runs("default", checkpoint=True, third=True)
    dirs = {id(r): tmp_path / str(i) for i, r in enumerate(rs)}
    after = []

    def on_epoch(m):
        out = dirs[id(m.job.run)]
        out.mkdir(exist_ok=True)
        train.epoch_writer(out, m.job, None)(m.state)
        if m.state.epoch == 2:
            shutil.copy(out / "checkpoint.pt", out / "epoch2.pt")
        if m.job.run is not rs[0]:
            after.append((m.job.run, m.state.trainable, {k: v.clone() for k, v in m.job.model.state_dict().items()}))

    counting, frames = Counted(compiled.torch_compile), counters["frames"]["ok"]
    with pytest.MonkeyPatch().context() as mp:
        mp.setattr(compiled, "torch_compile", counting)
        whole = batched(rs, on_epoch)
    assert counting.compiled == ["default"] and counters["frames"]["ok"] - frames == 1
    eager = batched(group_runs("none", third=True))
    for a, b in zip(whole, eager):
        assert_same_run(a.state, b.state, len(a.job.data.y_test))
        for p, q in zip(a.job.model.state_dict().values(), b.job.model.state_dict().values()):
            assert torch.allclose(p.float(), q.float(), rtol=1e-4, atol=1e-6)
    for r in rs[1:]:
        mine = [(t, w) for run, t, w in after if run is r]
        for (_, before), (trainable, weights) in zip(mine, mine[1:]):
            frozen = [i for i in range(2) if i not in trainable]
            assert frozen
            for name in weights:
                if any(name.startswith(f"blocks.{i}.") for i in frozen):
                    assert torch.equal(weights[name], before[name]), name
    resumed = [member(r, path=dirs[id(r)] / "epoch2.pt") for r in rs]
    assert all(m.state.epoch == 2 for m in resumed)
    fit_group(Group(resumed), lambda m: None, lambda m: None)
    for a, b in zip(whole, resumed):
        assert_same_run(a.state, b.state, len(a.job.data.y_test))
