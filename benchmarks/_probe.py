"""Run the real entrypoint (``python -m alternating_freeze.train ARGS``) in this process and log
when it reaches ``fit``: ``python -m benchmarks._probe ARGS`` with ``AF_BENCH_PROBE=<file>``.

Each line of the log is a JSON event with ``time.time()`` (comparable with the parent's clock):
``python_up`` (this module starts), ``torch_imported``, ``optimizer_entry`` / ``optimizer_exit`` around
``build_optimizer`` (a torch.optim optimizer would import torch._dynamo here: a second), and
``fit_entry`` / ``fit_exit`` for every job (the exit carries the job's own training and evaluation
seconds). The functions are wrapped, not replaced: the run computes and writes exactly what
``af-train`` would. Importing the loop module
first only moves torch's import ahead of Hydra's; the entrypoint imports both either way, so the
time to the first ``fit`` is unchanged.
"""

import json
import os
import runpy
import time

T_UP = time.time()
LOG = os.environ["AF_BENCH_PROBE"]


def mark(event: str, t: float | None = None, **extra) -> None:
    with open(LOG, "a") as f:
        f.write(json.dumps({"event": event, "t": time.time() if t is None else t, **extra}) + "\n")


mark("python_up", T_UP)
import alternating_freeze.loop as loop  # noqa: E402  (imports torch)
import alternating_freeze.optim as optim  # noqa: E402

mark("torch_imported")
_fit, _build_optimizer = loop.fit, optim.build_optimizer


def build_optimizer(*args, **kwargs):
    mark("optimizer_entry")
    try:
        return _build_optimizer(*args, **kwargs)
    finally:
        mark("optimizer_exit")


def fit(*args, **kwargs):
    mark("fit_entry")
    try:
        return _fit(*args, **kwargs)
    finally:
        state = kwargs["state"] if "state" in kwargs else args[7]
        mark("fit_exit", train_s=sum(r["epoch_s"] for r in state.rows), eval_s=sum(r["eval_s"] for r in state.rows))


loop.fit, optim.build_optimizer = fit, build_optimizer
runpy.run_module("alternating_freeze.train", run_name="__main__", alter_sys=True)
