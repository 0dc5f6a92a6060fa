"""The members' optimizers as one: torch's fused kernels over each member's slices of the stacked tensors.

A member's optimizer is ``optim.FusedOptimizer`` (Adam, AdamW or SGD), which calls one fused kernel
over the parameters that have a gradient and skips the frozen ones entirely. Here every step calls
the same kernels with the same arguments over the slices ``param[k]`` of the members' trainable
parameters (one call per distinct set of hyperparameters: each member keeps its own learning rate,
betas, decay...), so a training member's update is the arithmetic of its separate run, and a frozen
member's parameters, moments and step count are not touched at all: bit for bit unchanged, as in
a separate run. (The kernels are elementwise: a slice of a stacked tensor gets the same update as
a tensor of its own.)
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..optim import OptimizerConfig


def _hyper(cfg: OptimizerConfig) -> tuple:
    return (cfg.lr, tuple(cfg.betas), cfg.eps, cfg.weight_decay, cfg.momentum, cfg.nesterov)


class StackedOptimizer:
    """Optimizer state (K, ...) beside each stacked parameter; ``has_state[k][j]`` says whether member k's
    parameter j has state in its separate run's optimizer (it has trained since the start or the last reset)."""

    def __init__(self, cfgs: Sequence[OptimizerConfig], params: list[torch.Tensor], states: Sequence[dict]):
        names = {c.name for c in cfgs}
        if len(names) != 1:
            raise ValueError(f"one optimizer per group, not {sorted(names)}")
        self.name, self.cfgs, self.params = names.pop(), list(cfgs), params
        self.momentum = self.name == "sgd" and any(c.momentum for c in cfgs)
        if self.name == "sgd":
            self.buffers = {"momentum_buffer": [torch.zeros_like(p) for p in params]} if self.momentum else {}
        else:
            self.buffers = {"step": [torch.zeros(p.shape[0], dtype=torch.float32, device=p.device) for p in params],
                            "exp_avg": [torch.zeros_like(p) for p in params],
                            "exp_avg_sq": [torch.zeros_like(p) for p in params]}
        self.has_state = [[False] * len(params) for _ in cfgs]
        with torch.no_grad():
            for k, state in enumerate(states):  # a member's FusedOptimizer.state: parameter index -> its tensors
                for j, s in state.items():
                    for name, t in s.items():
                        self.buffers[name][j][k].copy_(t)
                    self.has_state[k][j] = True
        self._views()

    def _views(self) -> None:
        """Per-member slices of every parameter and buffer (views: the kernels update the stacked tensors)."""
        self.pv = [p.detach().unbind(0) for p in self.params]
        self.bv = {name: [t.unbind(0) for t in ts] for name, ts in self.buffers.items()}
        classes: dict[tuple, list[int]] = {}
        for k, c in enumerate(self.cfgs):
            classes.setdefault(_hyper(c), []).append(k)
        self.classes = [(self.cfgs[ks[0]], ks) for ks in classes.values()]

    def keep(self, members: Sequence[int], params: list[torch.Tensor]) -> None:
        """Only these members stay (``params``: the network's stacked parameters after the same selection)."""
        idx = torch.tensor(list(members), device=params[0].device)
        self.params = params
        self.buffers = {name: [t.index_select(0, idx) for t in ts] for name, ts in self.buffers.items()}
        self.cfgs = [self.cfgs[k] for k in members]
        self.has_state = [self.has_state[k] for k in members]
        self._views()

    def reset(self, members: Sequence[int]) -> None:
        """Forget these members' moments and step counts (strategy.optimizer_state=reset), in place."""
        if not members:
            return
        idx = torch.tensor(list(members), device=self.params[0].device)
        for ts in self.buffers.values():
            for t in ts:
                t.index_fill_(0, idx, 0)
        for k in members:
            self.has_state[k] = [False] * len(self.params)

    @torch.no_grad()
    def step(self, trains: Sequence[Sequence[int]]) -> None:
        """One step; ``trains[k]``: the indices of member k's parameters that train at this step."""
        gv = [p.grad.unbind(0) for p in self.params]
        for cfg, members in self.classes:
            pairs = [(k, j) for k in members for j in trains[k]]
            if not pairs:
                continue
            params = [self.pv[j][k] for k, j in pairs]
            grads = [gv[j][k] for k, j in pairs]
            if self.name == "sgd":
                self._sgd(cfg, pairs, params, grads)
            else:
                steps = [self.bv["step"][j][k] for k, j in pairs]
                torch._foreach_add_(steps, 1)
                kernel = torch._fused_adamw_ if self.name == "adamw" else torch._fused_adam_
                kernel(params, grads, [self.bv["exp_avg"][j][k] for k, j in pairs],
                       [self.bv["exp_avg_sq"][j][k] for k, j in pairs], [], steps, lr=cfg.lr, beta1=cfg.betas[0],
                       beta2=cfg.betas[1], weight_decay=cfg.weight_decay, eps=cfg.eps, amsgrad=False, maximize=False)
            if self.name != "sgd" or cfg.momentum:  # plain SGD keeps no state
                for k, j in pairs:
                    self.has_state[k][j] = True

    def _sgd(self, cfg: OptimizerConfig, pairs, params, grads) -> None:
        kwargs = dict(weight_decay=cfg.weight_decay, momentum=cfg.momentum, lr=cfg.lr, dampening=0.0,
                      nesterov=cfg.nesterov, maximize=False)
        if cfg.momentum == 0:
            torch._fused_sgd_(params, grads, [], is_first_step=False, **kwargs)
            return
        bufs = self.bv["momentum_buffer"]
        for first in (False, True):  # a parameter's first step initialises its buffer to its gradient
            at = [i for i, (k, j) in enumerate(pairs) if self.has_state[k][j] != first]
            if at:
                torch._fused_sgd_([params[i] for i in at], [grads[i] for i in at],
                                  [bufs[pairs[i][1]][pairs[i][0]] for i in at], is_first_step=first, **kwargs)

    def member_state(self, k: int) -> dict:
        """Member k's optimizer state as its separate run's FusedOptimizer holds it (copies)."""
        return {j: {name: self.bv[name][j][k].clone() for name in self.buffers}
                for j in range(len(self.params)) if self.has_state[k][j]}
