"""Replays of a strategy's schedule without training (a strategy is a pure function of the step):
how many epochs a training-FLOP budget buys (``trainer.budget``), the equal-compute comparison that
gives a cheaper strategy as many FLOPs as standard training spends, rather than as many epochs; and
whether a schedule trains every block within the run at all (``check_schedule``).

The count is exact, not estimated: the strategy's schedule is replayed step by step without
training (a strategy is a pure function of the step), with the FLOPs of each step's trainable
set. Whole epochs only, so a run stops at most one epoch's FLOPs short of its budget.
"""

from __future__ import annotations

from typing import Iterator

from .errors import ConfigError
from .loop import MAX_EPOCHS, budget_number
from .strategies import Run

ALLOW_KEY = "trainer.allow_untrained"  # the user's word that a block left untrained is intended
LOOK_AHEAD = 10  # check_schedule looks this many times the run's length ahead for a block's first training


def replay(strategy, run: Run, n_train: int, batch_size: int) -> Iterator[tuple[int, frozenset, int]]:
    """(epoch, trainable blocks, batch size) of every step of ``run.epochs`` epochs of ``strategy``
    (bound to ``run`` here): the one replay of a schedule."""
    strategy.bind(run)
    batches = [min(batch_size, n_train - start) for start in range(0, n_train, batch_size)]
    step = 0
    for epoch in range(run.epochs):
        for size in batches:
            yield epoch, strategy.trainable(epoch, step), size
            step += 1


def schedule_flops(model, strategy, run: Run, n_train: int, batch_size: int) -> int:
    """Training FLOPs of ``run.epochs`` epochs of ``strategy`` (bound to ``run`` here)."""
    per_sample: dict[frozenset, int] = {}
    total = 0
    for _, t, size in replay(strategy, run, n_train, batch_size):
        if t not in per_sample:
            per_sample[t] = model.train_flops_per_sample(t)
        total += per_sample[t] * size
    return total


def first_epochs(strategy, run: Run, n_train: int, batch_size: int) -> dict[int, int]:
    """Block -> the 1-based epoch in which it first trains, looking up to ``LOOK_AHEAD`` times the run's
    epochs ahead; a block that never trains in that time is absent. The strategy is left bound to ``run``."""
    longer = Run(run.n_blocks, run.steps_per_epoch, run.epochs * LOOK_AHEAD, run.seed)
    first: dict[int, int] = {}
    for epoch, t, _ in replay(strategy, longer, n_train, batch_size):
        for b in t:
            first.setdefault(b, epoch + 1)
        if len(first) == run.n_blocks:
            break
    strategy.bind(run)
    return first


def schedule_problem(strategy, run: Run, n_train: int, batch_size: int) -> str | None:
    """Why ``strategy`` is not the arm its name says in ``run`` (some block never trains: its switching
    period is longer than the run, or its draws miss a block), and what to change; None when every block trains."""
    first = first_epochs(strategy, run, n_train, batch_size)
    late = {b: first.get(b) for b in range(run.n_blocks) if first.get(b) is None or first[b] > run.epochs}
    if not late:
        return None
    trained = "+".join(str(b) for b in range(run.n_blocks) if b not in late)
    if all(e is not None for e in late.values()):
        block, needs = max(late.items(), key=lambda item: item[1])
        change = f"block {block} first trains in epoch {needs}: set trainer.epochs>={needs} or switch more often"
    else:
        block = min(b for b, e in late.items() if e is None)
        change = f"block {block} never trains: switch more often or train longer"
    return f"trains only block {trained} in {run.epochs} epoch(s) (seed {run.seed}); {change}"


def check_schedule(strategy, run: Run, n_train: int, batch_size: int, label: str) -> None:
    """Refuse a run in which ``strategy`` never trains some block: it would not be the arm its name says.
    ``label`` names the strategy (contract.strategy_label)."""
    problem = schedule_problem(strategy, run, n_train, batch_size)
    if problem is not None:
        raise ConfigError(
            "trainer.epochs", run.epochs, f"too short for strategy {label}, which {problem}; {ALLOW_HINT}"
        )


ALLOW_HINT = f"or set {ALLOW_KEY}=true if that is intended"


def budget_epochs(model, strategy, run: Run, n_train: int, batch_size: int, budget: str) -> tuple[int, int]:
    """(epochs, budget FLOPs): the most whole epochs of ``strategy`` whose FLOPs fit the budget.
    ``run.epochs`` is the epoch count the budget "standard" is measured in; the strategy is left
    bound to the returned epoch count."""
    if budget == "standard":
        flops = model.train_flops_per_sample(range(model.n_blocks)) * n_train * run.epochs
    else:
        flops = int(budget_number(budget))

    def fits(epochs: int) -> bool:
        return (
            schedule_flops(
                model, strategy, Run(run.n_blocks, run.steps_per_epoch, epochs, run.seed), n_train, batch_size
            )
            <= flops
        )

    if not fits(1):
        raise ConfigError("trainer.budget", budget, f"buys less than one epoch ({flops:.3g} FLOPs)")
    too_many = ConfigError("trainer.budget", budget, f"buys more than {MAX_EPOCHS} epochs (trainer.epochs' bound)")
    if flops > model.train_flops_per_sample(range(model.n_blocks)) * n_train * MAX_EPOCHS:
        raise too_many  # more than the bound even at every block's FLOPs: no replay needed to tell
    low, high = 1, 2  # FLOPs grow with the epochs: double, then bisect
    while fits(high):
        if high > MAX_EPOCHS:
            raise too_many
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    strategy.bind(Run(run.n_blocks, run.steps_per_epoch, low, run.seed))
    return low, flops
