"""K networks of one shape as one: every parameter stacked along a leading member dimension.

Each member starts as the ``BlockNet`` its separate run builds (same seed, same weights); here its
layers run as one batched matmul a layer (``torch.baddbmm`` over stacked weights, measured faster
than ``torch.func.vmap`` over ``functional_call`` on the digits MLP: benchmarks/sweep.py --step),
BatchNorm as one ``F.batch_norm`` over the members' channels side by side (each member's
statistics are its own channels'), and Dropout with masks drawn from each member's own generator
in the order its separate run draws them (on the CPU the same masks, bit for bit; see README).

Only what ``models.build_model`` builds from Linear, BatchNorm1d, ReLU and Dropout is stacked; a
network with any other module raises ``Unsupported`` and its run trains separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class Unsupported(Exception):
    """The network cannot be stacked (the message says why); its run trains separately."""


@dataclass(frozen=True)
class Op:
    kind: str  # linear | bn | relu | dropout
    shape: tuple = ()  # linear: (out, in); bn: (channels,)
    p: float = 0.0  # dropout probability
    eps: float = 0.0  # bn
    momentum: float = 0.0  # bn


def program(model) -> tuple[tuple[Op, ...], tuple[int, ...]]:
    """The network's layers in forward order, and the block each one belongs to."""
    ops, blocks = [], []
    for b, block in enumerate(model.blocks):
        for m in block.modules():
            if isinstance(m, nn.Sequential):
                continue
            if type(m) is nn.Linear and m.bias is not None:
                op = Op("linear", (m.out_features, m.in_features))
            elif type(m) is nn.BatchNorm1d and m.affine and m.track_running_stats and m.momentum is not None:
                op = Op("bn", (m.num_features,), eps=m.eps, momentum=m.momentum)
            elif type(m) is nn.ReLU:
                op = Op("relu")
            elif type(m) is nn.Dropout:
                op = Op("dropout", p=m.p)
            else:
                raise Unsupported(f"the batched step does not stack {m!r}")
            ops.append(op)
            blocks.append(b)
    return tuple(ops), tuple(blocks)


class _Linear(torch.autograd.Function):
    """Every member's ``h @ W.T + b``. Its backward computes a member's weight gradient only where that
    member's layer trains, and its input gradient only where a layer before it trains (other members
    get zeros, which nothing uses): the products its separate run computes, and no others."""

    @staticmethod
    def forward(ctx, h, w, b, need_w, need_in):
        ctx.save_for_backward(h, w)
        ctx.need_w, ctx.need_in = need_w, need_in  # None: every member; else their indices (a LongTensor)
        return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))

    @staticmethod
    def backward(ctx, g):
        h, w = ctx.saved_tensors
        gh = gw = gb = None
        if ctx.needs_input_grad[1]:
            gw = _some(ctx.need_w, lambda i: torch.bmm(g[i].transpose(1, 2), h[i]), w.shape, g)
            gb = _some(ctx.need_w, lambda i: g[i].sum(1), w.shape[:2], g)
        if ctx.needs_input_grad[0]:
            gh = _some(ctx.need_in, lambda i: torch.bmm(g[i], w[i]), h.shape, g)
        return gh, gw, gb, None, None


def _some(members, compute, shape, like):
    """``compute(members)`` at those members' rows of a tensor of ``shape``, zeros elsewhere."""
    if members is None:
        return compute(slice(None))
    out = like.new_zeros(shape)
    if len(members):
        out.index_copy_(0, members, compute(members))
    return out


def _member_modules(model) -> list[nn.Module]:
    return [m for block in model.blocks for m in block.modules() if not isinstance(m, nn.Sequential)]


class StackedNet:
    """The members' networks with parameters (K, ...) and BatchNorm buffers (K, C).

    ``params`` are leaf tensors in the order of a member's ``model.parameters()`` (so a parameter's
    index is the one its optimizer state has); ``param_blocks[k][j]`` is the block of member k that
    parameter j belongs to (members may split the same layers into blocks differently).
    """

    def __init__(self, models: Sequence[nn.Module]):
        ops, _ = program(models[0])
        self.ops = ops
        self.op_blocks = []
        for m in models:
            theirs, blocks = program(m)
            if theirs != ops:
                raise Unsupported("members of one group must have the same layers")
            self.op_blocks.append(blocks)
        modules = [_member_modules(m) for m in models]
        self.params, self.param_ops, self.bn = [], [], {}
        for i, op in enumerate(ops):
            if op.kind in ("linear", "bn"):
                for name in ("weight", "bias"):
                    self.params.append(torch.stack([getattr(ms[i], name).detach() for ms in modules]).requires_grad_())
                    self.param_ops.append(i)
            if op.kind == "bn":
                self.bn[i] = {
                    name: torch.stack([getattr(ms[i], name).detach() for ms in modules]).clone()
                    for name in ("running_mean", "running_var", "num_batches_tracked")
                }
        self.param_blocks = [[blocks[i] for i in self.param_ops] for blocks in self.op_blocks]
        self.rngs: list[Optional[torch.Generator]] = [None] * len(models)  # set by the group: dropout streams
        self.linear = [i for i, op in enumerate(ops) if op.kind == "linear"]
        self._needs: dict = {}

    @property
    def k(self) -> int:
        return len(self.op_blocks)

    def keep(self, members: Sequence[int]) -> None:
        """Only these members (indices) stay, in this order: the others left the group."""
        idx = torch.tensor(list(members), device=self.params[0].device)
        self.params = [p.detach().index_select(0, idx).requires_grad_() for p in self.params]
        self.bn = {i: {n: t.index_select(0, idx) for n, t in b.items()} for i, b in self.bn.items()}
        self.op_blocks = [self.op_blocks[k] for k in members]
        self.param_blocks = [self.param_blocks[k] for k in members]
        self.rngs = [self.rngs[k] for k in members]
        self._needs = {}

    def to_member(self, k: int, model: nn.Module) -> None:
        """Copy member k's weights and buffers into its own network (whose state_dict a checkpoint saves)."""
        with torch.no_grad():
            for p, stacked in zip(model.parameters(), self.params):
                p.copy_(stacked[k])
            ms = _member_modules(model)
            for i, b in self.bn.items():
                for name, t in b.items():
                    getattr(ms[i], name).copy_(t[k])

    # ------------------------------------------------------------------ forward

    def needs(self, trainable: Sequence[frozenset]) -> dict:
        """Per Linear op, the members that need its weight gradient and its input gradient, given each
        member's trainable blocks at this step (None: all of them)."""
        key = tuple(trainable)
        if key not in self._needs:
            if len(self._needs) > 256:
                self._needs.clear()
            device, needs = self.params[0].device, {}
            earliest = [
                min((i for i in self.linear if blocks[i] in t), default=len(self.ops))
                for blocks, t in zip(self.op_blocks, trainable)
            ]
            for i in self.linear:
                w = [k for k, (blocks, t) in enumerate(zip(self.op_blocks, trainable)) if blocks[i] in t]
                h = [k for k, e in enumerate(earliest) if e < i]
                needs[i] = tuple(
                    None if len(m) == self.k else torch.tensor(m, dtype=torch.long, device=device) for m in (w, h)
                )
            self._needs[key] = needs
        return self._needs[key]

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, trainable: Sequence[frozenset], bn_update: dict, graphs=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training forward of ``x`` (K, B, D) with labels ``y`` (K, B): (logits (K, B, C), each member's
        mean cross-entropy (K,)). ``trainable[k]``: member k's trainable blocks at this step;
        ``bn_update[i]``: (K,) bool, whose running statistics BatchNorm op ``i`` updates (a frozen
        block's stay put under ``freeze_bn_stats``), absent for all. ``graphs``: a ``compiled.Graphs`` of
        ``train_loss`` that runs it compiled, one graph per ``signature`` (None: eagerly)."""
        needs = self.needs(trainable)
        args = (self, x, y, needs, bn_update, self.dropout_noise(x.shape[1]))
        return train_loss(*args) if graphs is None else graphs.run(self.signature(needs, bn_update), *args)

    def signature(self, needs: dict, bn_update: dict) -> tuple:
        """What a compiled step's graph depends on: per Linear op, whether every member needs its gradients or how
        many do, and which BatchNorm ops update some members' statistics only. Steps of one signature share a
        graph (which members train is its input data: ``needs``' indices, ``bn_update``), so that a group whose
        members switch out of phase (alternating every batch beside every 2 ...) compiles one graph per count of
        members training each block, not one per combination of their sets."""
        counts = tuple(None if t is None else len(t) for i in self.linear for t in needs[i])
        return self.k, counts, tuple(sorted(bn_update))

    def dropout_noise(self, batch: int) -> list[torch.Tensor]:
        """What ``F.dropout`` multiplies by on the CPU (bernoulli(1-p) / (1-p)), one (K, batch, width) tensor a
        Dropout op, each member's masks drawn from its own generator in its separate run's order (drawn before
        the forward, so that a compiled forward has no generator in it)."""
        out, width, p0 = [], None, self.params[0]
        for op in self.ops:
            if op.kind == "linear":
                width = op.shape[0]
            elif op.kind == "dropout":
                noise = p0.new_empty(self.k, batch, width)
                for k, rng in enumerate(self.rngs):
                    noise[k].bernoulli_(1 - op.p, generator=rng)
                out.append(noise.div_(1 - op.p))
        return out

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Eval-mode forward of one batch ``x`` (B, D), the same for every member: (K, B, C)."""
        h, params = x.expand(self.k, *x.shape), iter(self.params)
        for i, op in enumerate(self.ops):
            if op.kind == "linear":
                w, b = next(params), next(params)
                h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
            elif op.kind == "bn":
                h = self.batch_norm(i, op, h, next(params), next(params), False, None)
            elif op.kind == "relu":
                h = F.relu(h)
        return h

    def batch_norm(self, i, op, h, weight, bias, training, update):
        """The members' channels side by side, (B, K*C): one F.batch_norm, each channel its own statistics."""
        k, batch, c = h.shape
        flat = h.transpose(0, 1).reshape(batch, k * c)
        buf = self.bn[i]
        mean, var = buf["running_mean"], buf["running_var"]
        if training and update is not None:  # updated on copies (autograd keeps what batch_norm was given)
            mean, var = mean.clone(), var.clone()
        out = F.batch_norm(
            flat, mean.view(-1), var.view(-1), weight.reshape(-1), bias.reshape(-1), training, op.momentum, op.eps
        )
        if training:
            with torch.no_grad():
                if update is None:
                    buf["num_batches_tracked"].add_(1)
                else:  # members whose block is frozen (freeze_bn_stats) keep their statistics, as untracked
                    keep = update.view(-1, 1)
                    buf["running_mean"].copy_(torch.where(keep, mean, buf["running_mean"]))
                    buf["running_var"].copy_(torch.where(keep, var, buf["running_var"]))
                    buf["num_batches_tracked"].add_(update.long())
        return out.view(batch, k, c).transpose(0, 1).contiguous()


def train_loss(net: StackedNet, x, y, needs: dict, bn_update: dict, noise: list):
    """``StackedNet.loss``'s forward given its step's gradient needs and dropout noise: what a group compiles."""
    h, params, noise = x, iter(net.params), iter(noise)
    for i, op in enumerate(net.ops):
        if op.kind == "linear":
            w, b = next(params), next(params)
            h = _Linear.apply(h, w, b, *needs[i])
        elif op.kind == "bn":
            h = net.batch_norm(i, op, h, next(params), next(params), True, bn_update.get(i))
        elif op.kind == "relu":
            h = F.relu(h)
        elif op.kind == "dropout":
            h = h * next(noise)
    k, batch, classes = h.shape
    losses = F.cross_entropy(h.reshape(k * batch, classes), y.reshape(-1), reduction="none").view(k, batch)
    return h, losses.mean(1)
