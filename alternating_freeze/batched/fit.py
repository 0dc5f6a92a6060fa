"""A group's training loop: ``loop.fit``'s epoch for K runs at once, each with its own batch order,
strategy, optimizer state and metrics; a run leaves the group when it has trained its epochs or diverged.

Members may differ in their epoch counts (a FLOP budget buys each strategy its own, a resumed run is
further along): the group advances every member by one epoch at a time, each at its own epoch and
step, and shrinks as members finish. What a member "executed" is counted as in its separate run
(``train_flops_per_sample`` of its trainable blocks): the vectorized step computes every member's
forward, the backward's matrix products its separate run computes (net._Linear), and the backward's
elementwise work (ReLU, BatchNorm, the loss) for every member, frozen blocks included.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from ..compiled import GROUP_AUTO, Graphs, resolve
from ..contract import DIVERGED
from ..epoch import TrainState, clock, close_epoch, evaluate, switch
from ..errors import ConfigError
from ..optim import FusedOptimizer
from .net import StackedNet, Unsupported, train_loss
from .optim import StackedOptimizer

EVAL_ROWS = 1 << 20  # eval batches shrink so that members x rows stays below this (activation memory)


@dataclass
class Member:
    """One run of a group: its job as ``job.build`` made it, its state as ``job.resume`` left it, and the
    generator of its separate run's global random stream (dropout), which that run draws from ``torch``'s."""

    job: object  # job.Job
    state: TrainState
    rng: torch.Generator  # on the data's device: dropout masks
    cpu_rng_state: torch.Tensor  # the global CPU stream's state for its checkpoint (a CUDA run draws none)
    trains: dict = field(default_factory=dict)  # trainable set -> indices of the parameters that train
    flops_per_sample: dict = field(default_factory=dict)
    param_blocks: list = field(default_factory=list)
    bn_blocks: dict = field(default_factory=dict)
    started: float = 0.0  # the clock when its training began, less what it trained before (elapsed_s)

    @property
    def done(self) -> bool:
        return self.state.status == DIVERGED or self.state.epoch >= self.job.trainer.epochs


class Group:
    """The members' networks and optimizers stacked (their order is the group's own: members that step
    alike side by side), the shared data, and one epoch of training for all of them."""

    def __init__(self, members: list[Member]):
        for m in members:
            if not isinstance(m.job.optimizer, FusedOptimizer):
                raise Unsupported(f"the batched step needs the fused optimizers (device {m.job.device})")
        # members that step alike side by side: the optimizer passes runs of them to its kernels as one slice
        members = sorted(
            members,
            key=lambda m: json.dumps(
                [asdict(m.job.run.optimizer), asdict(m.job.run.strategy), m.job.run.model.block_starts], default=str
            ),
        )
        self.members = members
        self.net = StackedNet([m.job.model for m in members])
        self.net.rngs = [m.rng for m in members]
        states = []
        for k, m in enumerate(members):
            index = {p: j for j, p in enumerate(m.job.optimizer.params)}
            states.append({index[p]: s for p, s in m.job.optimizer.state.items()})
            m.param_blocks = self.net.param_blocks[k]
            m.bn_blocks = {i: self.net.op_blocks[k][i] for i in self.net.bn}
        self.opt = StackedOptimizer([m.job.run.optimizer for m in members], self.net.params, states)
        self.data = members[0].job.data
        self.batch_size = members[0].job.trainer.batch_size
        self.eval_batch_size = members[0].job.trainer.eval_batch_size
        # trainer.compile (one for the group: runner.group_key): the step compiled once per signature of the
        # members' trainable sets (net.StackedNet.signature), full batches only (the last partial batch of an epoch
        # runs eagerly, as in a single run)
        try:
            mode = resolve(members[0].job.trainer.compile, self.data.x_train.device, GROUP_AUTO)
        except ConfigError as e:  # cudagraphs off CUDA: each member's own run records it
            raise Unsupported(str(e)) from e
        self.graphs = Graphs(train_loss, mode) if mode != "none" else None

    def sync(self, k: int) -> None:
        """Member k's weights, optimizer state and random streams into its own job's objects, whose
        state a checkpoint saves (the same file as its separate run's)."""
        m = self.members[k]
        self.net.to_member(k, m.job.model)
        params = m.job.optimizer.params
        m.job.optimizer.state = {params[j]: s for j, s in self.opt.member_state(k).items()}
        if m.rng.device.type == "cpu":
            torch.set_rng_state(m.rng.get_state())
        else:
            torch.set_rng_state(m.cpu_rng_state)
            torch.cuda.set_rng_state(m.rng.get_state(), m.rng.device)

    def _schedule(self, trained: list) -> tuple[list, list, dict]:
        """Each member's trainable parameters at its next step; resets its optimizer where its strategy says."""
        trains, resets = [], []
        for k, m in enumerate(self.members):
            _, reset = switch(m.state, m.job.strategy, m.state.epoch)
            if reset:
                resets.append(k)
            t = m.state.trainable
            trained[k].add(t)
            if t not in m.trains:
                m.trains[t] = frozenset(j for j, b in enumerate(m.param_blocks) if b in t)
                m.flops_per_sample[t] = m.job.model.train_flops_per_sample(t)
            trains.append(m.trains[t])
        self.opt.reset(resets)
        bn_update = {}
        for i in self.net.bn:
            update = [m.bn_blocks[i] in m.state.trainable or not m.job.strategy.freeze_bn_stats for m in self.members]
            if not all(update):
                bn_update[i] = torch.tensor(update, device=self.net.params[0].device)
        return trains, resets, bn_update

    @torch.no_grad()
    def _evaluate(self, x, y) -> tuple[list, list]:
        k = len(self.members)
        if x is None or not len(x):
            return [math.nan] * k, [math.nan] * k
        loss = torch.zeros(k, device=x.device)
        correct = torch.zeros(k, dtype=torch.long, device=x.device)
        rows = max(1, min(self.eval_batch_size, EVAL_ROWS // k))
        for i in range(0, len(y), rows):
            logits, target = self.net.logits(x[i : i + rows]), y[i : i + rows]
            _, batch, classes = logits.shape
            loss += (
                F.cross_entropy(logits.reshape(k * batch, classes), target.repeat(k), reduction="none")
                .view(k, batch)
                .sum(1)
            )
            correct += (logits.argmax(2) == target).sum(1)
        return [v / len(y) for v in loss.tolist()], [c / len(y) for c in correct.tolist()]

    def epoch(self) -> None:
        """Every member trains one epoch (its own) and is evaluated; appends each member's metrics row."""
        data, members = self.data, self.members
        device, n, bs, k = data.x_train.device, len(data.y_train), self.batch_size, len(members)
        t0, cpu0 = clock(device), time.process_time()
        perms = torch.stack([torch.randperm(n, generator=m.job.gen, device=m.job.gen.device) for m in members])
        perms = perms.to(device)
        loss_sum = torch.zeros(k, device=device)
        correct = torch.zeros(k, dtype=torch.long, device=device)
        trained = [set() for _ in members]
        flops0 = [m.state.flops for m in members]
        for start in range(0, n, bs):
            trains, _, bn_update = self._schedule(trained)
            idx = perms[:, start : start + bs]
            x, y = data.x_train[idx], data.y_train[idx]
            graphs = self.graphs if idx.shape[1] == bs else None
            logits, losses = self.net.loss(x, y, [m.state.trainable for m in members], bn_update, graphs)
            losses.sum().backward()
            self.opt.step(trains, [m.job.rates.at(m.state.epoch, m.state.step) for m in members])
            for p in self.net.params:
                p.grad = None
            with torch.no_grad():
                loss_sum += losses.detach() * idx.shape[1]
                correct += (logits.argmax(2) == y).sum(1)
            for m in members:
                m.state.flops += m.flops_per_sample[m.state.trainable] * idx.shape[1]
                m.state.step += 1
        epoch_s, epoch_cpu_s = clock(device) - t0, time.process_time() - cpu0
        evals = evaluate(self._evaluate, data)  # each value a list: one per member
        now = clock(device)
        losses, corrects = loss_sum.tolist(), correct.tolist()
        for i, m in enumerate(members):
            close_epoch(
                m.state,
                trained=trained[i],
                n_blocks=m.job.model.n_blocks,
                loss_sum=losses[i],
                correct=corrects[i],
                n=n,
                evals={k: v[i] for k, v in evals.items()},
                epoch_s=epoch_s,
                eval_s=now - t0 - epoch_s,
                epoch_cpu_s=epoch_cpu_s,
                elapsed_s=now - m.started,
                flops0=flops0[i],
                rate=m.job.rates.record(m.state.epoch, m.state.step - 1),
            )

    def leave(self) -> list[Member]:
        """Members that are done (trained their epochs, or diverged) leave; returns them."""
        stay = [k for k, m in enumerate(self.members) if not m.done]
        gone = [m for m in self.members if m.done]
        if gone and stay:
            self.net.keep(stay)
            self.opt.keep(stay, self.net.params)
            if self.graphs is not None:  # graphs of the old members' shapes: not called again
                self.graphs.graphs.clear()
        self.members = [self.members[k] for k in stay]
        return gone


def fit_group(
    group: Group,
    on_epoch: Callable[[Member], None],
    on_leave: Callable[[Member], None],
    on_group_epoch: Callable[[], None] = lambda: None,
) -> None:
    """Train every member to its last epoch. After each epoch ``on_epoch(member)`` runs with the member's
    weights, optimizer state and random streams in its own job's objects (its checkpoint, metrics.csv),
    then ``on_group_epoch()`` (progress); ``on_leave(member)`` when it is done (its final files)."""
    now = clock(group.data.x_train.device)
    for m in group.members:
        m.started = now - m.state.elapsed_s
    for m in group.leave():  # resumed from a checkpoint of its last epoch, or of the epoch it diverged
        on_leave(m)
    while group.members:
        group.epoch()
        for k, m in enumerate(group.members):
            group.sync(k)
            on_epoch(m)
        on_group_epoch()
        for m in group.leave():
            on_leave(m)
