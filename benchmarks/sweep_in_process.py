"""The sweep benchmark's measurements in this process (``benchmarks.sweep --curve`` and ``--step``): one group
epoch against separate epochs as the group grows, and one batched step, ours against torch.func.vmap.
"""

from __future__ import annotations

import statistics


def _frequency_runs(n: int, epochs: int, device: str, threads=None) -> list:
    """``n`` runs of the frequency preset's kinds (its arms, cycled; seeds counted up), digits."""
    from alternating_freeze.config import RunConfig
    from alternating_freeze.loop import Progress, TrainerConfig
    from alternating_freeze.strategies.alternating import Alternating
    from alternating_freeze.strategies.standard import Standard

    arms = (
        [Standard()]
        + [Alternating(every=e) for e in (1, 2, 4, 8, 16, 32)]
        + [Alternating(unit="epoch", every=e) for e in (1, 2, 4)]
    )
    return [
        RunConfig(
            seed=i // len(arms),
            strategy=arms[i % len(arms)],
            trainer=TrainerConfig(
                epochs=epochs, progress=Progress.none, checkpoint=False, device=device, num_threads=threads
            ),
        )
        for i in range(n)
    ]


def _group_epochs(runs, data) -> list[float]:
    import torch

    from alternating_freeze import train
    from alternating_freeze.batched.fit import Group, Member, fit_group
    from alternating_freeze.epoch import TrainState

    members = []
    for r in runs:
        job = train.build(r, None, "h", data=data)
        rng = torch.Generator(device=job.device) if job.device.type == "cuda" else torch.Generator()
        rng.set_state(torch.cuda.get_rng_state(job.device) if job.device.type == "cuda" else torch.get_rng_state())
        members.append(Member(job, TrainState(), rng, torch.get_rng_state()))
    fit_group(Group(members), lambda m: None, lambda m: None)
    return [r["epoch_s"] + r["eval_s"] for r in members[0].state.rows[1:]]  # the first epoch warms up


def _separate_epochs(run, data) -> list[float]:
    from alternating_freeze import train
    from alternating_freeze.epoch import TrainState

    job, state = train.build(run, None, "h", data=data), TrainState()
    job.fit(state)
    return [r["epoch_s"] + r["eval_s"] for r in state.rows[1:]]


def curve(device, max_members: int, threads=None, epochs: int = 3) -> list[dict]:
    """Seconds of one epoch (training and evaluation) of a group of K, against K separate epochs of the same
    runs, K = 1, 2, 4, ... max_members. A separate epoch is the median over the preset's ten kinds of run, pooled
    over every round measured so far (one more round before each group: the machine's drift reaches both)."""
    from alternating_freeze.data import DatasetConfig, load_dataset

    data = load_dataset(DatasetConfig(), device)
    runs = _frequency_runs(max_members, epochs, str(device), threads)
    separate, out, k = [], [], 1
    while k <= max_members:
        for r in runs[:10]:
            separate.extend(_separate_epochs(r, data))
        group = statistics.median(_group_epochs(runs[:k], data))
        one = statistics.median(separate)
        out.append({"members": k, "group_epoch_s": group, "separate_epoch_s": one, "speedup": k * one / group})
        print(
            f"  {k:4d} members: group epoch {group * 1e3:8.1f} ms, {k} separate {k * one * 1e3:8.1f} ms, "
            f"speedup {k * one / group:5.2f}",
            flush=True,
        )
        k *= 2
    return out


def step_comparison(device, threads=None, k: int = 50, rounds: int = 30) -> dict:
    """ms per training step (forward, backward) of k digits MLPs, standard training: torch.func.vmap over
    functional_call of the project's model, batched matmuls under autograd, and ours (net.StackedNet)."""
    import copy

    import torch
    import torch.nn.functional as F
    from torch.func import functional_call, stack_module_state, vmap

    from alternating_freeze.batched.net import StackedNet
    from alternating_freeze.epoch import clock
    from alternating_freeze.models import ModelConfig, build_model

    if threads:
        torch.set_num_threads(threads)
    models = []
    for seed in range(k):
        torch.manual_seed(seed)
        models.append(build_model(ModelConfig(), 64, 10).to(device))
    x, y = torch.randn(k, 128, 64, device=device), torch.randint(0, 10, (k, 128), device=device)
    params, buffers = stack_module_state(models)
    params = {n: p.detach().requires_grad_() for n, p in params.items()}
    base = copy.deepcopy(models[0]).to("meta")
    loss = vmap(lambda p, b, xx, yy: F.cross_entropy(functional_call(base, (p, b), (xx,)), yy))
    stacked = StackedNet(models)
    ws = [p.detach().clone().requires_grad_() for p in stacked.params]
    everything = [frozenset(range(models[0].n_blocks))] * k

    def plain():
        h = x
        for j in range(0, len(ws), 2):
            h = torch.baddbmm(ws[j + 1].unsqueeze(1), h, ws[j].transpose(1, 2))
            h = F.relu(h) if j + 2 < len(ws) else h
        return F.cross_entropy(h.reshape(-1, 10), y.reshape(-1), reduction="none").view(k, -1).mean(1)

    contenders = {
        "vmap": (lambda: loss(params, buffers, x, y), list(params.values())),
        "baddbmm_autograd": (plain, ws),
        "ours": (lambda: stacked.loss(x, y, everything, {})[1], stacked.params),
    }
    times = {name: [] for name in contenders}
    for i in range(rounds + 3):
        for name, (fn, ps) in contenders.items():
            t0 = clock(device)
            fn().sum().backward()
            for p in ps:
                p.grad = None
            if i >= 3:
                times[name].append(clock(device) - t0)
    out = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    print(f"  step of {k} members, ms: " + ", ".join(f"{n} {v:.2f}" for n, v in out.items()), flush=True)
    return {"members": k, "threads": torch.get_num_threads(), "ms_per_step": out}
