"""How many epochs a training-FLOP budget buys (``trainer.budget``): the equal-compute comparison
that gives a cheaper strategy as many FLOPs as standard training spends, rather than as many epochs.

The count is exact, not estimated: the strategy's schedule is replayed step by step without
training (a strategy is a pure function of the step), with the FLOPs of each step's trainable
set. Whole epochs only, so a run stops at most one epoch's FLOPs short of its budget.
"""

from __future__ import annotations

from .errors import ConfigError
from .loop import MAX_EPOCHS, budget_number
from .strategies import Run


def schedule_flops(model, strategy, run: Run, n_train: int, batch_size: int) -> int:
    """Training FLOPs of ``run.epochs`` epochs of ``strategy`` (bound to ``run`` here)."""
    strategy.bind(run)
    batches = [min(batch_size, n_train - start) for start in range(0, n_train, batch_size)]
    per_sample: dict[frozenset, int] = {}
    total, step = 0, 0
    for epoch in range(run.epochs):
        for size in batches:
            t = strategy.trainable(epoch, step)
            if t not in per_sample:
                per_sample[t] = model.train_flops_per_sample(t)
            total += per_sample[t] * size
            step += 1
    return total


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
