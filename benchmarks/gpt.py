"""Benchmark of the GPT's training step (issue #21): the harness against a minimal hand-written PyTorch loop, and
the time a frozen half saves against its FLOPs.

    uv run python -m benchmarks.gpt [--size default|large] [--json PATH] [--steps 10] [--rounds 25] [--quick]
    uv run python -m benchmarks.gpt --profile      # where a step of each goes (torch.profiler)

Contenders, on the same text (``dataset=text``: Python's bundled documentation, as character windows), the same
model (conf/model/gpt.yaml's sizes, or ``--size large``), batch (32 windows, conf/dataset/text.yaml), weights
(seed 0) and AdamW (lr 1e-3, weight decay 0.01: conf/optimizer/adamw.yaml):

  harness standard            ``Job.fit`` of the job ``train.build`` makes, as af-train runs it: the text's
                              batch sampler, the model, the fused AdamW step, the loop's step (loss and
                              accuracy summed on the device, the FLOPs counted)
  harness alternating/epoch   the same, alternating per epoch: its epochs train the first and the second half
                              in turn ([embeddings L1 L2] [L3 L4 head] at the default sizes)
  hand-written                ``model(x)``, ``F.cross_entropy``, ``backward``, ``torch.optim.AdamW``'s step,
                              ``zero_grad(set_to_none=True)``, on batches drawn as the harness draws them
  hand-written, fused AdamW   the same with ``torch.optim.AdamW(fused=True)``, the kernel the harness calls

An epoch is ``--steps`` steps; every round runs one epoch of every contender, in a shuffled order, the first
round warm-up. A shared machine drifts by tens of percent within seconds, so every ratio is the median of ratios
of epochs of the same round. ``harness_ratio`` (harness standard / hand-written, target <= 1.1) and
``alternating_time_ratio`` (alternating / standard, the mean of its two phases) against the project's FLOP
model (checked equal to FlopCounterMode's count), target <= 1.10 x the FLOP ratio as for the MLP
(``loop_report.flop_target``). Torch threads are pinned (``--threads``, default 1: what
``trainer.num_threads=auto`` gives a step this size here) and the load average is recorded.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

from alternating_freeze.config import RunConfig
from alternating_freeze.data import DatasetConfig, load_dataset
from alternating_freeze.epoch import TrainState
from alternating_freeze.job import build
from alternating_freeze.loop import Progress, TrainerConfig
from alternating_freeze.machine import load_average
from alternating_freeze.models import ModelConfig, build_model, measure_train_flops
from alternating_freeze.optim import OptimizerConfig
from alternating_freeze.strategies import Unit
from alternating_freeze.strategies.alternating import Alternating
from alternating_freeze.strategies.standard import Standard

from . import write_results
from .loop import PHASES, machine
from .loop_contenders import PHASE_OF
from .loop_report import flop_target, judged

GPT = dict(name="gpt", n_layer=4, n_head=4, n_embd=64, block_size=64, bias=False, tie_weights=False)  # gpt.yaml
SIZES = {
    "default": ModelConfig(**GPT),
    "large": ModelConfig(**{**GPT, "n_layer": 6, "n_embd": 128}),
    "quick": ModelConfig(**{**GPT, "n_layer": 2, "n_head": 2, "n_embd": 16, "block_size": 16}),
}
BATCH = 32  # conf/dataset/text.yaml
SUBSET = 100_000  # characters of the text: a short validation and test span, since fit evaluates after each epoch
OPTIMIZER = OptimizerConfig(name="adamw", weight_decay=0.01)  # conf/optimizer/adamw.yaml
HARNESS_TARGET = 1.1  # harness step / hand-written step


def run_config(model: ModelConfig, strategy, steps: int, threads: int, batch: int = BATCH) -> RunConfig:
    return RunConfig(
        seed=0,
        dataset=DatasetConfig(name="text", subset=SUBSET, test_fraction=0.05, val_fraction=0.05),
        model=model,
        strategy=strategy,
        optimizer=OPTIMIZER,
        trainer=TrainerConfig(
            epochs=10_000,  # the strategy's run; each call trains one more epoch
            batch_size=batch,
            steps_per_epoch=steps,
            device="cpu",
            num_threads=threads,
            checkpoint=False,
            progress=Progress.none,
        ),
    )


class Harness:
    """``Job.fit``, one epoch per call, of the job ``job.build`` makes of ``run`` (af-train's path)."""

    def __init__(self, name: str, run: RunConfig, data):
        from omegaconf import OmegaConf

        self.name, self.job, self.state = name, build(run, None, OmegaConf.structured(run), data=data), TrainState()

    def epoch(self) -> dict:
        self.job.trainer = replace(self.job.trainer, epochs=self.state.epoch + 1)
        self.job.optimizer = self.job.fit(self.state)
        row = self.state.rows[-1]
        return {"train_s": row["epoch_s"], "phase": PHASE_OF[row["trained"]]}


class HandWritten:
    """The minimal loop: the same model (seed 0) and batches, torch.optim.AdamW, nothing else."""

    def __init__(self, name: str, run: RunConfig, data, fused: bool = False):
        torch.manual_seed(run.seed)
        self.name, self.data = name, data
        self.model = build_model(run.model, data.input_shape, data.num_classes)
        c = run.optimizer
        self.opt = torch.optim.AdamW(
            self.model.parameters(),
            lr=c.lr,
            betas=tuple(c.betas),
            eps=c.eps,
            weight_decay=c.weight_decay,
            fused=fused or None,
        )
        self.steps, self.batch = run.trainer.steps_per_epoch, run.trainer.batch_size
        self.gen = torch.Generator().manual_seed(run.seed)

    def epoch(self) -> dict:
        t0 = time.perf_counter()
        starts = torch.randint(len(self.data.x_train), (self.steps * self.batch,), generator=self.gen)
        for i in range(0, len(starts), self.batch):
            idx = starts[i : i + self.batch]
            x, y = self.data.x_train[idx], self.data.y_train[idx]
            loss = F.cross_entropy(self.model(x), y)
            loss.backward()
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
        return {"train_s": time.perf_counter() - t0, "phase": "all"}


def contenders(run: RunConfig, data) -> list:
    return [
        Harness("harness standard", run, data),
        Harness("harness alternating/epoch", replace(run, strategy=Alternating(unit=Unit.epoch)), data),
        HandWritten("hand-written", run, data),
        HandWritten("hand-written, fused AdamW", run, data, fused=True),
    ]


def flop_ratios(model) -> dict:
    """Per phase: the project's FLOP model per sample over all blocks training, checked against FlopCounterMode."""
    per_sample = {ph: model.train_flops_per_sample(t) for ph, t in PHASES.items()}
    for ph, t in PHASES.items():
        counted = measure_train_flops(model, t)
        assert counted == per_sample[ph], f"{ph}: FlopCounterMode {counted}, FLOP model {per_sample[ph]}"
    return {"per_sample": per_sample, **{ph: per_sample[ph] / per_sample["all"] for ph in ("first", "second")}}


def measure(cs: list, rounds: int, seed: int = 0) -> tuple[dict, list]:
    """``rounds`` rounds of one epoch of every contender, the first one warm-up; the load after each round. The
    order is shuffled every round: a rotation of four contenders would give each of alternating's phases (every
    other epoch) the same places in the order, and on this machine that alone moved a phase's ratio by 0.15."""
    epochs, loads, rng = {c.name: [] for c in cs}, [], random.Random(seed)
    for rnd in range(rounds):
        for c in rng.sample(cs, len(cs)):
            r = c.epoch()
            if rnd:
                epochs[c.name].append(r)
        loads.append(load_average())
        print(f"  round {rnd + 1}/{rounds}, load {loads[-1]}", flush=True)
    return epochs, loads


def ratios(epochs: dict) -> dict:
    """Medians of same-round ratios: the harness over each hand-written loop, alternating over standard (each
    phase apart, then their mean: alternating per epoch trains each half half the time). Every round's ratio
    is kept too (``round_ratios``): their spread is how noisy the machine was."""
    std = [r["train_s"] for r in epochs["harness standard"]]

    def within(name, phase=None):
        return [r["train_s"] / s for r, s in zip(epochs[name], std) if phase in (None, r["phase"])]

    rounds = {
        "hand-written": [1 / r for r in within("hand-written")],
        "hand-written, fused AdamW": [1 / r for r in within("hand-written, fused AdamW")],
        **{ph: within("harness alternating/epoch", ph) for ph in ("first", "second")},
    }
    med = {k: statistics.median(v) if v else float("nan") for k, v in rounds.items()}
    return {
        "harness_ratio": med["hand-written"],
        "harness_ratio_fused": med["hand-written, fused AdamW"],
        "alternating_time_ratio": statistics.mean((med["first"], med["second"])),
        "phase_time_ratio": {ph: med[ph] for ph in ("first", "second")},
        "round_ratios": rounds,
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", choices=("default", "large"), default="default", help="default: conf/model/gpt.yaml")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--steps", type=int, default=10, help="optimizer steps per timed epoch")
    p.add_argument("--rounds", type=int, default=25, help="rounds of every contender, the first one warm-up")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads, for every contender")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks that everything runs, numbers mean little")
    p.add_argument("--profile", action="store_true", help="only profile a harness and a hand-written step, and exit")
    args = p.parse_args(argv)
    for key in ("steps", "rounds", "threads"):
        if getattr(args, key) < 1 + (key == "rounds"):
            p.error(f"--{key} {getattr(args, key)}: at least {1 + (key == 'rounds')}")
    cfg = SIZES["quick" if args.quick else args.size]
    if args.quick:
        args.steps, args.rounds = 2, 3
    torch.set_num_threads(args.threads)
    run = run_config(cfg, Standard(), args.steps, args.threads)
    data = load_dataset(run.dataset, torch.device("cpu"), cfg.block_size)
    host = machine(torch.device("cpu"))
    load_start = load_average()
    print(
        f"{host['cpu']}, {host['cores']} cores; torch {torch.__version__}, {args.threads} thread(s); load {load_start}"
    )
    cs = contenders(run, data)
    flops = flop_ratios(cs[0].job.model)
    if args.profile:
        profile(cs[0], cs[2], args.steps)
        return {}
    step_flops = flops["per_sample"]["all"] * BATCH
    print(f"{args.size if not args.quick else 'quick'} GPT, {step_flops / 1e9:.2f} GFLOP a step; {args.rounds} rounds")
    epochs, loads = measure(cs, args.rounds)
    out = ratios(epochs)
    flop_ratio = (flops["first"] + flops["second"]) / 2
    out.update(
        alternating_flop_ratio=flop_ratio,
        phase_flop_ratio={ph: flops[ph] for ph in ("first", "second")},
        step_ms={n: statistics.median(r["train_s"] for r in rows) / args.steps * 1e3 for n, rows in epochs.items()},
        flops_per_sample=flops["per_sample"],
        step_gflop=step_flops / 1e9,
    )
    out["targets"] = judged(
        {
            "harness_ratio": (out["harness_ratio"], "<=", HARNESS_TARGET),
            "harness_ratio_fused": (out["harness_ratio_fused"], "<=", HARNESS_TARGET),  # the same kernel: stricter
            "alternating_time_ratio": flop_target(out["alternating_time_ratio"], flop_ratio),
        }
    )
    out["config"] = {
        "size": "quick" if args.quick else args.size,
        "model": {k: getattr(cfg, k) for k in GPT},
        "vocabulary": data.num_classes,
        "batch_size": BATCH,
        "steps": args.steps,
        "rounds": args.rounds,
        "threads": args.threads,
        "optimizer": "adamw lr 1e-3 wd 0.01",
        "quick": args.quick,
    }
    out["machine"] = {**host, "load_avg_start": load_start, "load_avg_after_each_round": loads}
    report(out)
    if args.json:
        write_results(args.json, out)
    return out


def profile(harness: Harness, hand: HandWritten, steps: int, row_limit: int = 14) -> None:
    """torch.profiler over 3 epochs of each (after one untimed): the ops where their steps differ."""
    from torch.profiler import ProfilerActivity, profile

    d = harness.job.data  # fit evaluates after every epoch: one window each, so that it does not show
    harness.job.data = replace(d, x_val=d.x_val[:1], y_val=d.y_val[:1], x_test=d.x_test[:1], y_test=d.y_test[:1])
    for c in (harness, hand):
        c.epoch()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            wall = sum(c.epoch()["train_s"] for _ in range(3))
        print(f"\n{c.name}: {wall / 3 / steps * 1e3:.2f} ms a step under the profiler")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=row_limit, max_name_column_width=44))


def report(out: dict) -> None:
    print("\nmedian ms a step:")
    for name, ms in out["step_ms"].items():
        print(f"  {name:28s} {ms:8.2f}")
    fr = out["phase_flop_ratio"]
    for ph, t in out["phase_time_ratio"].items():
        print(f"  {ph} half trains: time ratio {t:.3f}, FLOP ratio {fr[ph]:.3f}")
    print("  same-round ratios, lowest to highest (the machine's noise):")
    for k, v in out["round_ratios"].items():
        label = f"{k} half trains / standard" if k in fr else f"harness / {k}"
        print(f"    {label:40s} {min(v):.2f}-{max(v):.2f}")
    quick = out["config"]["quick"]
    print("Targets" + (" (smoke run: tiny sizes, targets not applicable)" if quick else ""))
    for k, t in out["targets"].items():
        print(f"  {k:24s} {t['value']:7.3f}  {t['target']:10s} {'n/a' if quick else 'met' if t['met'] else 'MISSED'}")


if __name__ == "__main__":
    main()
