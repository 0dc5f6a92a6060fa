"""The members' optimizers as one: torch's fused kernels over the members' slices of the stacked tensors.

A member's optimizer is ``optim.FusedOptimizer`` (Adam, AdamW or SGD), which calls one fused kernel
over the parameters that have a gradient and skips the frozen ones entirely. Here every step calls
the same kernels with the same arguments over the slices of the members' trainable parameters (one
call per distinct set of hyperparameters: each member keeps its own learning rate, betas, decay...),
so a frozen member's parameters, moments and step count are not touched at all (bit for bit
unchanged, as in a separate run), and a training member's update is its separate run's arithmetic.

The kernels are elementwise, in units of 16 float32 elements (a cache line; at least one vector),
with a scalar loop for a tensor's last partial unit. A run of consecutive members that train the
same parameter with the same step count is passed as one slice when the parameter's size is a
multiple of that unit: every element is then computed as in a tensor of its own (tests/test_batched.py).
Odd-sized parameters (a 10-class output bias) are passed member by member. On the CPU the kernels
run on one thread: they open a parallel region per tensor, which for a group's many slices costs
more than it gains, and their units make the result the same on any number of threads.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ..optim import OptimizerConfig

UNIT = 16  # float32 elements per unit of work of the fused CPU kernels


def _hyper(cfg: OptimizerConfig) -> tuple:
    return (cfg.lr, tuple(cfg.betas), cfg.eps, cfg.weight_decay, cfg.momentum, cfg.nesterov)


class StackedOptimizer:
    """Optimizer state (K, ...) beside each stacked parameter, and on the host each member's step count per
    parameter since its start or last reset (``count[k][j]``: 0 means no state, as in its separate run)."""

    def __init__(self, cfgs: Sequence[OptimizerConfig], params: list[torch.Tensor], states: Sequence[dict]):
        names = {c.name for c in cfgs}
        if len(names) != 1:
            raise ValueError(f"one optimizer per group, not {sorted(names)}")
        self.name, self.cfgs, self.params = names.pop(), list(cfgs), params
        k, device = params[0].shape[0], params[0].device
        self.steps = torch.zeros(len(params), k, dtype=torch.float32, device=device)
        if self.name == "sgd":
            momentum = any(c.momentum for c in cfgs)
            self.buffers = {"momentum_buffer": [torch.zeros_like(p) for p in params]} if momentum else {}
        else:
            self.buffers = {
                "step": list(self.steps.unbind(0)),
                "exp_avg": [torch.zeros_like(p) for p in params],
                "exp_avg_sq": [torch.zeros_like(p) for p in params],
            }
        self.count = [[0] * len(params) for _ in cfgs]
        with torch.no_grad():
            for m, state in enumerate(states):  # a member's FusedOptimizer.state: parameter index -> its tensors
                for j, s in state.items():
                    for name, t in s.items():
                        self.buffers[name][j][m].copy_(t)
                    self.count[m][j] = int(s["step"].item()) if "step" in s else 1
        self.aligned = [p[0].numel() % UNIT == 0 for p in params]
        self._views()

    def _views(self) -> None:
        self.bv = {name: [t.detach() for t in ts] for name, ts in self.buffers.items()}
        self.classes = []  # (config, first member, last member + 1): members of equal hyperparameters, consecutive
        for m, c in enumerate(self.cfgs):
            if self.classes and _hyper(self.classes[-1][0]) == _hyper(c) and self.classes[-1][2] == m:
                self.classes[-1][2] = m + 1
            else:
                self.classes.append([c, m, m + 1])
        self._masks: dict = {}

    def keep(self, members: Sequence[int], params: list[torch.Tensor]) -> None:
        """Only these members stay (``params``: the network's stacked parameters after the same selection)."""
        idx = torch.tensor(list(members), device=params[0].device)
        self.params = params
        self.steps = self.steps.index_select(1, idx)
        self.buffers = {
            name: list(self.steps.unbind(0)) if name == "step" else [t.index_select(0, idx) for t in ts]
            for name, ts in self.buffers.items()
        }
        self.cfgs = [self.cfgs[m] for m in members]
        self.count = [self.count[m] for m in members]
        self._views()

    def reset(self, members: Sequence[int]) -> None:
        """Forget these members' moments and step counts (strategy.optimizer_state=reset), in place."""
        if not members:
            return
        idx = torch.tensor(list(members), device=self.params[0].device)
        self.steps.index_fill_(1, idx, 0)
        for name, ts in self.buffers.items():
            if name != "step":
                for t in ts:
                    t.index_fill_(0, idx, 0)
        for m in members:
            self.count[m] = [0] * len(self.params)

    def _runs(self, trains: Sequence[frozenset], lo: int, hi: int, rate) -> list[tuple[int, int, int]]:
        """(parameter, first member, last member + 1): slices that train with one step count and one rate."""
        runs = []
        for j, aligned in enumerate(self.aligned):
            for m in range(lo, hi):
                if j not in trains[m]:
                    continue
                last = runs[-1] if runs else None
                if (
                    aligned
                    and last
                    and last[0] == j
                    and last[2] == m
                    and self.count[last[1]][j] == self.count[m][j]
                    and rate(last[1], j) == rate(m, j)
                ):
                    runs[-1] = (j, last[1], m + 1)
                else:
                    runs.append((j, m, m + 1))
        return runs

    @torch.no_grad()
    def step(self, trains: Sequence[frozenset], rates: Sequence | None = None) -> None:
        """One step; ``trains[k]``: the indices of member k's parameters that train at this step; ``rates[k]``:
        member k's rate, or one per parameter (``schedule.Rates.at``); None: each member's ``optimizer.lr``."""

        def rate(m: int, j: int) -> float:
            r = self.cfgs[m].lr if rates is None else rates[m]
            return r[j] if isinstance(r, Sequence) else r

        grads = [p.grad for p in self.params]
        if self.name != "sgd":
            key = tuple(trains)
            if key not in self._masks:
                if len(self._masks) > 256:
                    self._masks.clear()
                self._masks[key] = torch.tensor(
                    [[float(j in t) for t in trains] for j in range(len(self.params))], device=self.steps.device
                )
            self.steps.add_(self._masks[key])  # as FusedOptimizer's _foreach_add_(steps, 1), for the training ones
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one parallel region per tensor costs more than it parallelizes here
        try:
            for cfg, lo, hi in self.classes:
                runs = self._runs(trains, lo, hi, rate)
                by_rate: dict = {}
                for run in runs:  # one kernel call per rate: elementwise, so as one call over all of them
                    by_rate.setdefault(rate(run[1], run[0]), []).append(run)
                for lr, these in by_rate.items():
                    self._kernel(cfg, these, grads, lr)
                if self.name != "sgd" or cfg.momentum:  # plain SGD keeps no state
                    for j, a, b in runs:
                        for m in range(a, b):
                            self.count[m][j] += 1
        finally:
            torch.set_num_threads(threads)

    def _kernel(self, cfg: OptimizerConfig, runs, grads, lr: float) -> None:
        params = [self.params[j].detach()[a:b] for j, a, b in runs]
        gs = [grads[j][a:b] for j, a, b in runs]
        if self.name != "sgd":
            kernel = torch._fused_adamw_ if self.name == "adamw" else torch._fused_adam_
            kernel(
                params,
                gs,
                [self.bv["exp_avg"][j][a:b] for j, a, b in runs],
                [self.bv["exp_avg_sq"][j][a:b] for j, a, b in runs],
                [],
                [self.steps[j, a] for j, a, b in runs],
                lr=lr,
                beta1=cfg.betas[0],
                beta2=cfg.betas[1],
                weight_decay=cfg.weight_decay,
                eps=cfg.eps,
                amsgrad=False,
                maximize=False,
            )
            return
        kwargs = dict(
            weight_decay=cfg.weight_decay,
            momentum=cfg.momentum,
            lr=lr,
            dampening=0.0,
            nesterov=cfg.nesterov,
            maximize=False,
        )
        if cfg.momentum == 0:
            torch._fused_sgd_(params, gs, [], is_first_step=False, **kwargs)
            return
        for first in (False, True):  # a parameter's first step initialises its buffer to its gradient
            at = [i for i, (j, a, b) in enumerate(runs) if (self.count[a][j] == 0) == first]
            if at:
                torch._fused_sgd_(
                    [params[i] for i in at],
                    [gs[i] for i in at],
                    [self.bv["momentum_buffer"][runs[i][0]][runs[i][1] : runs[i][2]] for i in at],
                    is_first_step=first,
                    **kwargs,
                )

    def member_state(self, k: int) -> dict:
        """Member k's optimizer state as its separate run's FusedOptimizer holds it (copies)."""
        if not self.buffers:
            return {}
        return {
            j: {name: self.bv[name][j][k].clone() for name in self.buffers}
            for j in range(len(self.params))
            if self.count[k][j]
        }
