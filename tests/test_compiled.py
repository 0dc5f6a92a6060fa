"""trainer.compile: one compiled graph per trainable set (reused at every switch back), the last partial batch run
eagerly, results equal to eager training within the batched launcher's tolerance, and bad input refused."""

import logging

import pytest
import torch
from omegaconf import OmegaConf
from test_batched import assert_same_run

from alternating_freeze import compiled, train
from alternating_freeze.config import RunConfig
from alternating_freeze.contract import TIMING_COLUMNS
from alternating_freeze.errors import ConfigError
from alternating_freeze.loop import Progress, TrainerConfig, TrainState
from alternating_freeze.models import ModelConfig
from alternating_freeze.strategies.alternating import Alternating

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
