"""A competing process for the thread benchmarks: one Python process that keeps one core busy, as another
user's job on a shared machine would. It stops itself when the benchmark that started it is gone (its parent
pid changes: the benchmark died and it was re-parented) or at a hard deadline, so a killed benchmark never
leaves it spinning.

    with busy():            # a spinner runs inside the block, and is stopped at its end
        ...
    python -m benchmarks.spinner --parent PID --deadline SECONDS   # what busy() starts
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from contextlib import contextmanager

DEADLINE_S = 1800.0  # no benchmark phase runs longer; a spinner whose parent never stops it ends here
CHECK_EVERY_S = 0.05  # how often the spinner looks for its parent


def spin(parent: int, deadline_s: float) -> str:
    """Keep a core busy until ``parent`` is no longer this process's parent or ``deadline_s`` seconds pass;
    returns why it stopped."""
    end = time.monotonic() + deadline_s
    print("spinning", flush=True)
    x = 0
    while True:
        check = time.monotonic() + CHECK_EVERY_S
        while time.monotonic() < check:
            for i in range(2000):  # pure computation: a busy core, no memory traffic to speak of
                x = (x * 31 + i) & 0xFFFF
        if os.getppid() != parent:
            return "parent gone"
        if time.monotonic() >= end:
            return "deadline"


def start(deadline_s: float = DEADLINE_S) -> subprocess.Popen:
    """A spinner child of this process."""
    cmd = [sys.executable, "-m", "benchmarks.spinner", "--parent", str(os.getpid()), "--deadline", str(deadline_s)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()  # "spinning": the core is busy from here on
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def busy(on: bool = True, deadline_s: float = DEADLINE_S):
    """A spinner for the duration of the block (none when ``on`` is false)."""
    proc = start(deadline_s) if on else None
    try:
        yield proc
    finally:
        if proc is not None:
            stop(proc)
            proc.stdout.close()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parent", type=int, required=True, help="stop when this pid is no longer the parent")
    p.add_argument("--deadline", type=float, default=DEADLINE_S, help="stop after this many seconds at most")
    args = p.parse_args(argv)
    print(f"spinner stopped: {spin(args.parent, args.deadline)}", flush=True)


if __name__ == "__main__":
    main()
