"""Batched runs: many runs of one shape trained together in one vectorized process, each still its
own run on disk (``hydra/launcher=batched``, README "Batched runs").

  net.py      the members' networks stacked along a leading member dimension
  optim.py    their optimizers: the fused kernels over each member's trainable slices
  fit.py      the group's training loop (loop.fit's epoch for K runs)
  runner.py   a launch's jobs in groups: locks, skips, failures, files, out-of-memory splits
"""
