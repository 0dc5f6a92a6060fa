"""Learning-rate schedules and FreezeOut's per-block rates: the rates themselves (by hand and as
torch.optim.lr_scheduler computes them), exact resume, batched members, frozen blocks, FLOPs, bad input."""

import math
import warnings

import pytest
import torch
from helpers import ROOT
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from alternating_freeze import train
from alternating_freeze.budget import schedule_flops
from alternating_freeze.config import RunConfig, config_hash, validate
from alternating_freeze.contract import CHECKPOINT_FILE, TIMING_COLUMNS
from alternating_freeze.epoch import TrainState
from alternating_freeze.errors import ConfigError
from alternating_freeze.loop import Progress, TrainerConfig
from alternating_freeze.optim import OptimizerConfig
from alternating_freeze.schedule import SchedulerConfig
from alternating_freeze.strategies import Run
from alternating_freeze.strategies.freezeout import FreezeOut
from alternating_freeze.strategies.progressive import POWER, Schedule
from alternating_freeze.strategies.standard import Standard

T, LR = 100, 0.1


def ours(cfg: SchedulerConfig, lr=LR, total=T):
    return [cfg.rate(t, total, lr) for t in range(total)]


def torchs(make, lr=LR, total=T):
    """The rate torch's scheduler gives each step (what the optimizer uses at that step)."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = make(opt)
        rates = []
        for _ in range(total):
            rates.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
    return rates


S = torch.optim.lr_scheduler
CASES = {
    "cosine": (
        SchedulerConfig(name="cosine", min_lr=1e-3),
        lambda o: S.CosineAnnealingLR(o, T_max=T, eta_min=1e-3),
        {0: 0.1, 50: 1e-3 + (0.1 - 1e-3) / 2, 99: 1e-3 + (0.1 - 1e-3) * (1 + math.cos(math.pi * 0.99)) / 2},
    ),
    "step": (
        SchedulerConfig(name="step"),
        lambda o: S.MultiStepLR(o, milestones=[50, 75], gamma=0.1),
        {0: 0.1, 49: 0.1, 50: 0.1 * 0.1, 74: 0.1 * 0.1, 75: 0.1 * 0.1 * 0.1, 99: 0.1 * 0.1 * 0.1},
    ),
    "linear": (
        SchedulerConfig(name="linear", min_lr=1e-2),
        lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=T),
        {0: 0.1, 50: 0.055, 99: 0.1 - 0.09 * 0.99},
    ),
    "onecycle": (
        SchedulerConfig(name="onecycle"),
        lambda o: S.OneCycleLR(
            o, max_lr=LR, total_steps=T, pct_start=0.3, div_factor=25, final_div_factor=1e4, cycle_momentum=False
        ),
        {0: 0.1 / 25, 29: 0.1, 99: 0.1 / 25 / 1e4},
    ),
    # warmup: (t + 1) / W of the rate for W = 10 steps, then the cosine over the 90 left
    "warmup_cosine": (
        SchedulerConfig(name="cosine", warmup=0.1),
        lambda o: S.SequentialLR(
            o, [S.LinearLR(o, start_factor=0.1, total_iters=9), S.CosineAnnealingLR(o, T_max=90)], milestones=[10]
        ),
        {0: 0.01, 4: 0.05, 9: 0.1, 10: 0.1, 55: 0.05},
    ),
    "warmup_steps_constant": (
        SchedulerConfig(warmup=4),
        lambda o: S.LinearLR(o, start_factor=0.25, total_iters=3),
        {0: 0.025, 1: 0.05, 3: 0.1, 50: 0.1},
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_the_rate_at_chosen_steps_is_the_hand_computed_one_and_torchs(name):
    cfg, make, by_hand = CASES[name]
    mine = ours(cfg)
    for t, rate in by_hand.items():
        assert mine[t] == pytest.approx(rate, rel=1e-12, abs=1e-15), t
    assert mine == pytest.approx(torchs(make), rel=1e-9, abs=1e-15)  # torch's recursive forms round differently


def test_the_default_schedule_hashes_as_absent_and_a_schedule_does_not():
    def cfg(*overrides):
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            return compose(config_name="train", overrides=list(overrides))

    assert config_hash(cfg()) == config_hash(cfg("scheduler=constant")) == "5ba8c9c90b5bf076"
    hashes = {config_hash(cfg(*o)) for o in (["scheduler=cosine"], ["scheduler.warmup=0.1"], ["scheduler=step"])}
    assert len(hashes) == 3 and "5ba8c9c90b5bf076" not in hashes


# ------------------------------------------------------------------------------------------ runs


def job_of(*overrides):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["trainer.num_threads=1", "trainer.progress=none", *overrides])
    return train.build(validate(cfg), None, cfg)


def fit_job(job, state, **kw):
    job.fit(state, **kw)
    return state


class Killed(Exception):
    pass


def test_a_run_killed_mid_warmup_resumes_bit_for_bit(tmp_path):
    overrides = ["scheduler=cosine", "scheduler.warmup=0.5", "trainer.epochs=4", "optimizer.lr=0.01"]
    threads = torch.get_num_threads()
    try:
        whole = job_of(*overrides)
        full = fit_job(whole, TrainState())
        first = job_of(*overrides)
        write = train.epoch_writer(tmp_path, first, None)

        def kill_after_one(state):
            write(state)
            if state.epoch == 1:
                raise Killed

        with pytest.raises(Killed):
            fit_job(first, TrainState(), on_epoch=kill_after_one)
        torch.manual_seed(123)  # a fresh process would not share the killed one's random state
        again = job_of(*overrides)
        state = train.resume(tmp_path / CHECKPOINT_FILE, again)
        assert state.epoch == 1
        fit_job(again, state)
    finally:
        torch.set_num_threads(threads)
    strip = lambda rows: [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in rows]  # noqa: E731
    assert strip(state.rows) == strip(full.rows) and len(state.rows) == 4
    for a, b in zip(whole.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)
    steps = full.rows[0]["step"]  # warmup: the first 2 epochs; then the cosine over the last 2
    w = 2 * steps
    assert full.rows[0]["lr"] == pytest.approx(0.01 * steps / w, rel=1e-12)
    assert full.rows[1]["lr"] == 0.01 and full.rows[3]["lr"] == pytest.approx(
        0.01 * (1 + math.cos(math.pi * (4 * steps - 1 - w) / (4 * steps - w))) / 2, rel=1e-12
    )


def test_a_batched_member_under_cosine_equals_its_separate_run():
    from test_batched import assert_same_run, member

    from alternating_freeze.batched.fit import Group, fit_group

    runs = [
        RunConfig(
            seed=s,
            strategy=st,
            optimizer=OptimizerConfig(lr=3e-3),
            scheduler=SchedulerConfig(name="cosine", warmup=0.1),
            trainer=TrainerConfig(epochs=3, progress=Progress.none, checkpoint=False, num_threads=1),
        )
        for s, st in ((0, Standard()), (1, FreezeOut(t_0=0.5, schedule="linear")))
    ]
    members = [member(r) for r in runs]
    fit_group(Group(members), lambda m: None, lambda m: None)
    for r, m in zip(runs, members):
        job = train.build(r, None, OmegaConf.structured(r))
        alone = fit_job(job, TrainState())
        assert_same_run(m.state, alone, len(job.data.y_test))
        assert [x["lr"] for x in m.state.rows] == [x["lr"] for x in alone.rows]
        assert [x["block_lrs"] for x in m.state.rows] == [x["block_lrs"] for x in alone.rows]


def test_under_freezeout_a_block_never_changes_after_its_point_and_its_rate_reaches_zero_there():
    job = job_of(
        "strategy=freezeout",
        "strategy.t_0=0.5",
        "strategy.schedule=linear",
        "model.splits=[1,2]",
        "trainer.epochs=3",
        "optimizer=sgd",
        "optimizer.lr=0.05",
    )
    until = job.strategy.resolved()["train_until"]
    blocks = list(job.model.blocks)
    snaps, rates = [], []
    step = job.optimizer.step

    def recording(lr=None):
        step(lr)
        rates.append(lr)
        snaps.append([[p.detach().clone() for p in b.parameters()] for b in blocks])

    job.optimizer.step = recording
    state = fit_job(job, TrainState())
    total = state.step
    assert until[0] < until[1] < until[2] == total
    per_block = [len(list(b.parameters())) for b in blocks]
    for i, u in enumerate(until):
        factors = job.strategy.lr_factors(0, u)
        assert u == total or factors[i] == 0.0  # the cosine is exactly zero at t_i
        assert job.strategy.lr_factors(0, u - 1)[i] > 0
        first = sum(per_block[:i])
        assert all(r[first] > 0 for r in rates[:u])  # trained, at a positive rate, until its point
        for s in range(u, total):  # ...and never changed after it
            assert all(torch.equal(a, b) for a, b in zip(snaps[s][i], snaps[u - 1][i])), (i, s)
        assert not all(torch.equal(a, b) for a, b in zip(snaps[u - 1][i], snaps[0][i]))
    # the scaled initial rates: alpha / t_i, and the recorded per-block rates in metrics.csv's column
    assert rates[0][0] == pytest.approx(0.05 / 0.5) and rates[0][-1] == pytest.approx(0.05)
    assert state.rows[-1]["block_lrs"].split(":")[:2] == ["0", "0"]


def backward_saved(model, strategy, run, n, bs):
    """Fraction of standard training's backward FLOPs that a strategy's run does not execute."""
    forward = model.train_flops_per_sample(()) * n * run.epochs
    full = schedule_flops(model, Standard(), run, n, bs) - forward
    return 1 - (schedule_flops(model, strategy, run, n, bs) - forward) / full


class EqualBlocks:
    """K blocks of equal cost: forward F each, backward B each, no backward below the first trainable one."""

    def __init__(self, k, f=3, b=2):
        self.n_blocks, self.f, self.b = k, f, b

    def train_flops_per_sample(self, trainable):
        trainable = list(trainable)
        return self.n_blocks * self.f + self.b * (self.n_blocks - min(trainable, default=self.n_blocks))


@pytest.mark.parametrize("schedule", list(Schedule))
@pytest.mark.parametrize("t_0", [0.5, 0.8])
def test_the_backward_flops_saved_are_freezeouts_closed_form(schedule, t_0):
    """FreezeOut's ``calc_speedup`` (github.com/ajbrock/FreezeOut, utils.py; arXiv:1706.04983, sec. 3) costs a run
    without freezing C = 2 sum_i c_i (backward = forward) and with it C_f = sum_i c_i + sum_i c_i t_i, layer i
    training for the fraction t_i = f(t_0 + (1 - t_0) i / (K - 1)) of the run (f: identity, square or cube):
    the backward saved is 2 (1 - C_f / C) = sum_i c_i (1 - t_i) / sum_i c_i, i.e. (1 - t_0) / 2 for equal costs
    and linear spacing. (calc_speedup itself divides by the layer count where the timetable divides by K - 1, and
    multiplies the linear case by 1.3; both are left out.) 1000 steps make every t_i * T a whole step."""
    k, run, n, bs = 5, Run(5, 10, 100, 0), 40, 4  # 10 steps an epoch, 100 epochs
    p = POWER[schedule]
    t = [(t_0 + (1 - t_0) * i / (k - 1)) ** p for i in range(k)]
    closed = 2 * (1 - (k + sum(t)) / (2 * k))  # calc_speedup's with c_i = 1
    got = backward_saved(EqualBlocks(k), FreezeOut(t_0=t_0, schedule=schedule), run, n, bs)
    assert got == pytest.approx(closed, abs=1e-3)  # ceil() of t_i * 1000 steps: within a step per block
    if schedule == Schedule.linear:
        assert closed == pytest.approx((1 - t_0) / 2)
    # a real network: c_i its blocks' measured backward FLOPs
    job = job_of("model.splits=[1,2]", "trainer.epochs=1")
    model = job.model
    suffix = [model.train_flops_per_sample(range(i, 3)) - model.train_flops_per_sample(()) for i in range(4)]
    c = [suffix[i] - suffix[i + 1] for i in range(3)]
    ti = [(t_0 + (1 - t_0) * i / 2) ** p for i in range(3)]
    run3 = Run(3, 10, 100, 0)
    got = backward_saved(model, FreezeOut(t_0=t_0, schedule=schedule), run3, n, bs)
    assert got == pytest.approx(sum(ci * (1 - x) for ci, x in zip(c, ti)) / sum(c), abs=1e-3)


# ------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["scheduler=step", "scheduler.milestones=[0.75,0.5]"], "scheduler.milestones"),
        (["scheduler=step", "scheduler.milestones=[0.5,1.5]"], "scheduler.milestones"),
        (["scheduler=step", "scheduler.milestones=[0,0.5]"], "scheduler.milestones"),
        (["scheduler=step", "scheduler.milestones=[0.5,0.5]"], "scheduler.milestones"),
        (["scheduler=step", "scheduler.milestones=[]"], "scheduler.milestones"),
        (["scheduler.warmup=-1"], "scheduler.warmup"),
        (["scheduler.warmup=2.5"], "scheduler.warmup"),
        (["scheduler.warmup=100000"], "scheduler.warmup"),  # more steps than the run has: refused at build
        (["scheduler=cosine", "scheduler.warmup=0.999"], "scheduler.warmup"),  # rounds up to every step of the run
        (["scheduler=cosine", "scheduler.min_lr=-1"], "scheduler.min_lr"),
        (["scheduler=linear", "optimizer.lr=0.01", "scheduler.min_lr=0.02"], "scheduler.min_lr"),
        (["scheduler=cosine", "scheduler.min_lr=0.1"], "scheduler.min_lr"),
        (["scheduler.name=exponential"], "scheduler.name"),
        (["scheduler=onecycle", "scheduler.warmup=0.1"], "scheduler.warmup"),
        (["strategy=freezeout", "strategy.t_0=0"], "strategy.t_0"),
        (["strategy=freezeout", "strategy.t_0=1.5"], "strategy.t_0"),
        (["strategy=freezeout", "strategy.t_0=-0.5"], "strategy.t_0"),
    ],
)
def test_bad_schedules_fail_in_one_line_before_training(overrides, key):
    with pytest.raises(ConfigError) as e:
        job_of(*overrides)
    assert e.value.key == key and "\n" not in str(e.value)
    assert str(e.value).startswith(f"{key}={e.value.value!r}: ") and e.value.allowed  # key, value, what is allowed


def test_per_block_rates_need_two_blocks():
    with pytest.raises(ConfigError, match="2 or more blocks"):
        FreezeOut().check(1)


def test_an_epoch_trained_before_the_lr_columns_existed_reads_as_nan(tmp_path):
    """A checkpoint of an older version holds rows without lr and block_lrs; resumed, its metrics.csv stays readable."""
    from alternating_freeze.contract import METRICS_COLUMNS, metrics_csv
    from analysis.reading import read_metrics

    old = {c: 1 for c in METRICS_COLUMNS if c not in ("lr", "block_lrs")} | {"trained": "all"}
    new = old | {"epoch": 2, "lr": 0.05, "block_lrs": "0:0.05"}
    (tmp_path / "metrics.csv").write_bytes(metrics_csv([old, new]))
    frame = read_metrics(tmp_path / "metrics.csv")
    assert math.isnan(frame["lr"][0]) and frame["lr"][1] == 0.05 and frame["block_lrs"][1] == "0:0.05"


def test_onecycle_in_a_run_too_short_to_rise_starts_at_its_peak():
    """pct_start x total = 1 step: torch's OneCycleLR divides by zero there; the rise is then simply left out."""
    rates = ours(SchedulerConfig(name="onecycle", pct_start=0.25), total=4)
    assert rates[0] == LR and rates == sorted(rates, reverse=True) and rates[-1] == pytest.approx(LR / 25 / 1e4)
