"""Benchmarks of the training harness (issue #5): how close the loop comes to this machine's GEMM
floor, how it compares with the original experiment's loop, whether freezing saves the time its
FLOPs predict, and what start-up and sweeps cost. Run ``uv run python -m benchmarks.loop``.

Modules:
  loop             the benchmark itself: side-by-side rounds, the floor's ratios, JSON
  loop_contenders  what loop times (ours, the seed loop, the what-ifs, the floor), one epoch a call
  loop_report      the targets of issue #5 and the printed tables of loop's results
  floor            the matmuls a training step issues, replayed alone: the GEMM floor
  cnn              a convolutional network's step against its convolutions replayed alone
                   (``python -m benchmarks.cnn``)
  seed_loop        the original notebook's loop, re-implemented as it ran
  whatif           a what-if contender (a hand-written backward): how far the floor is reachable
  entrypoint       start-up of ``af-train`` and per-job overhead of a sweep (subprocesses)
  _probe           runs the real entrypoint in a child process and timestamps its calls to
                   ``build_optimizer`` and ``fit``
  sweep            batched runs (issue 9): a preset swept by the basic and by the batched launcher
  sweep_in_process its in-process part: a group epoch against group size (--curve), one batched step (--step)
  threads          when more torch threads gain: a step's FLOPs threshold, quiet and --busy (issue 25)
  threads_sweep    the frequency sweep under trainer.num_threads auto / 1 / all cores, quiet and busy
  spinner          the busy case's competing process, which stops itself when its benchmark is gone
  compiled         trainer.compile (issue 26): eager against compiled, fp32 against bf16, per strategy
  gpt              the GPT's training step (issue 21): the harness against a hand-written PyTorch loop,
                   a frozen half's time against its FLOPs (``python -m benchmarks.gpt``)
  gpu              every GPU benchmark in one command, the issue's targets checked, one JSON
"""


def write_results(path, out: dict) -> None:
    """The results JSON every benchmark writes with ``--json`` (the machine is recorded inside ``out``); the
    contract's writer: atomic, and NaN or inf as null, which JSON readers accept."""
    from alternating_freeze.contract import write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, out, durable=False)
    print(f"wrote {path}")
