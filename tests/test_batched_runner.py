"""The batched runner's limits and bad input: groups by what can be shared, out-of-memory splits that
lose nothing, members that fail to build, and options the batched step does not reproduce."""

import contextlib
import json
import logging

import torch
from helpers import ROOT
from hydra import compose, initialize_config_dir

from alternating_freeze import compiled
from alternating_freeze.batched import runner as runner_module
from alternating_freeze.batched.fit import Group
from alternating_freeze.batched.runner import Runner, Task, group_key
from alternating_freeze.config import validate
from alternating_freeze.contract import TIMING_COLUMNS

FAST = ["trainer.epochs=3", "trainer.progress=log", "trainer.num_threads=1"]


def configs(*jobs):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return [compose("train", overrides=[*FAST, *job]) for job in jobs]


def tasks(tmp_path, cfgs, name="job"):
    out = []
    for i, cfg in enumerate(cfgs):
        d = tmp_path / f"{name}{i}"
        d.mkdir(parents=True)
        out.append(Task(cfg, d, None, contextlib.nullcontext))
    return out


def rows(d):
    lines = (d / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    return [{h: v for h, v in zip(header, line.split(",")) if h not in TIMING_COLUMNS} for line in lines[1:]]


JOBS = [
    ["seed=0"],
    ["seed=1", "strategy=alternating"],
    ["seed=2", "strategy=alternating_epoch"],
    ["seed=3", "optimizer.lr=0.003"],
    ["seed=4", "strategy=progressive"],
]


def test_out_of_memory_splits_the_group_in_halves_and_loses_nothing(tmp_path, monkeypatch, caplog):
    """A group of more than two members runs out of memory in its second epoch: it is split in halves
    (5 -> 3 + 2 -> 2 + 1 + 2) and every member resumes from its checkpoint, ending exactly as without the
    split (what a member computes does not depend on its group; the one left alone goes on batched)."""
    caplog.set_level(logging.INFO)
    reference = tasks(tmp_path, configs(*JOBS), "reference")
    Runner(8).run(reference)
    epoch, sizes = Group.epoch, []

    def small_memory(group):
        sizes.append(len(group.members))
        if len(group.members) > 2 and group.members[0].state.epoch >= 1:
            raise torch.OutOfMemoryError("simulated: CUDA out of memory")
        epoch(group)

    monkeypatch.setattr(Group, "epoch", small_memory)
    split = tasks(tmp_path, configs(*JOBS), "split")
    Runner(8).run(split)
    assert [t.status for t in split] == ["completed"] * 5
    assert sizes == [5, 5, 3, 2, 2, 1, 1, 2, 2]  # 5 -> 3 + 2 -> (2 + 1) + 2
    assert caplog.text.count("out of memory with") == 2
    for a, b in zip(reference, split):
        assert rows(a.out) == rows(b.out)
        summary = json.loads((b.out / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["batched_with"] == 5
        assert not (b.out / "checkpoint.pt").exists()
    for t in split[:3]:  # the first half trained epoch 1 in the group of 5, then resumed after the split
        assert "resuming from" in caplog.text and str(t.out / "checkpoint.pt") in caplog.text


def test_a_member_that_fails_to_build_is_recorded_and_the_others_go_on(tmp_path):
    """A budget that buys less than one epoch fails when the run is built: recorded as failed (error.txt,
    summary.json) as a separate run records it, while the rest of its group trains."""
    ts = tasks(tmp_path, configs(["seed=0"], ["seed=1", "trainer.budget=1"], ["seed=2", "strategy=alternating"]))
    Runner(8).run(ts)
    assert [t.status for t in ts] == ["completed", "failed", "completed"]
    summary = json.loads((ts[1].out / "summary.json").read_text())
    assert summary["status"] == "failed" and "trainer.budget" in summary["error"]
    assert (ts[1].out / "error.txt").read_text().startswith("Traceback")
    assert json.loads((ts[0].out / "summary.json").read_text())["batched_with"] == 2


def test_runs_that_cannot_share_a_group_form_separate_groups(tmp_path, monkeypatch):
    cfgs = configs(
        ["seed=0"],
        ["seed=1", "model.split=2"],
        ["seed=2", "model.width=64"],
        ["seed=3", "optimizer=sgd"],
        ["seed=4", "trainer.batch_size=64"],
        ["seed=5", "dataset.val_fraction=0.2"],
        ["seed=6", "seed=6"],
    )
    keys = [group_key(validate(c)) for c in cfgs]
    assert keys[0] == keys[1] == keys[6]  # another split point, another seed: the same group
    assert len({keys[0], *keys[2:6]}) == 5
    groups = []
    monkeypatch.setattr(Runner, "_train", lambda self, chunk: groups.append([t.cfg.seed for t in chunk]))
    Runner(2).run(tasks(tmp_path, cfgs))
    assert sorted(groups) == [[0, 1], [2], [3], [4], [5], [6]]  # at most max_members=2 a group


def test_an_option_the_batched_step_does_not_know_trains_separately(monkeypatch):
    """A config key added after the batched step (e.g. an augmentation) is not silently ignored."""
    cfg = validate(configs(["trainer.budget=standard"])[0])
    assert group_key(cfg)[0] == "group"
    monkeypatch.setitem(runner_module.KNOWN, "trainer", runner_module.KNOWN["trainer"] - {"budget"})
    assert group_key(cfg) == ("trainer.budget is not reproduced by the batched step",)


def test_runs_compiled_alike_share_a_group(tmp_path, monkeypatch):
    """trainer.compile is one per group (the group's step is compiled or not): default with default, none apart."""
    keys = [group_key(validate(c)) for c in configs(["trainer.compile=default"], ["trainer.compile=none"])]
    assert keys[0][0] == keys[1][0] == "group" and keys[0] != keys[1]
    stub = []
    monkeypatch.setattr(compiled, "torch_compile", lambda fn, mode: stub.append(mode) or fn)
    ts = tasks(tmp_path, configs(*[[*job, "trainer.compile=default"] for job in JOBS[:3]]))
    Runner(8).run(ts)
    assert [t.status for t in ts] == ["completed"] * 3 and stub and set(stub) == {"default"}
    assert all(json.loads((t.out / "summary.json").read_text())["batched_with"] == 3 for t in ts)
