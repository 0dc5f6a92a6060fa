"""The benchmark of issue #5 runs end to end and reports every number the issue asks for.

No timing assertions: timings belong to the machine. What is checked is that each reported ratio
exists and is a finite positive number, and that the FLOP model behind ``alternating_flop_ratio``
agrees with torch's FlopCounterMode on a network built here independently of the project.
"""

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import ROOT
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

REQUIRED = (
    "gemm_gflops",
    "fraction_of_peak",
    "speedup_vs_seed_loop",
    "alternating_time_ratio",
    "alternating_flop_ratio",
    "startup_ratio",
    "sweep_overhead",
    "seed_batching_speedup",
)


def step_flops(dims: list[int], batch: int, split: int, train_first: bool, train_second: bool) -> int:
    """FlopCounterMode's count of one forward+backward of a Linear/ReLU MLP, halves frozen by requires_grad."""
    layers = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    for i, m in enumerate(linears):
        m.requires_grad_(train_first if i < split else train_second)
    net = nn.Sequential(*layers)
    x, y = torch.randn(batch, dims[0]), torch.randint(0, dims[-1], (batch,))
    with FlopCounterMode(display=False) as counter:
        nn.functional.cross_entropy(net(x), y).backward()
    return counter.get_total_flops()


def flop_ratio(dims, batch, split) -> float:
    """Alternating per epoch over standard: half the epochs train each half."""
    full = step_flops(dims, batch, split, True, True)
    first = step_flops(dims, batch, split, True, False)
    second = step_flops(dims, batch, split, False, True)
    return (first + second) / 2 / full


@pytest.mark.slow
def test_flop_counts_of_the_issue():
    """784-256-256-256-10 at batch 128: 205.4, 188.0 (second half frozen) and 103.7 MFLOP, ratio ~0.71."""
    dims = [784, 256, 256, 256, 10]
    assert step_flops(dims, 128, 2, True, True) / 1e6 == pytest.approx(205.4, abs=0.05)
    assert step_flops(dims, 128, 2, True, False) / 1e6 == pytest.approx(188.0, abs=0.05)
    assert step_flops(dims, 128, 2, False, True) / 1e6 == pytest.approx(103.7, abs=0.05)
    assert flop_ratio(dims, 128, 2) == pytest.approx(0.71, abs=0.005)


@pytest.mark.slow
def test_quick_benchmark_reports_every_number(tmp_path):
    out = tmp_path / "bench.json"
    # one thread: tiny ops on two threads of a loaded machine wait on each other (seconds, not ms)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.loop", "--quick", "--threads", "1", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Targets (smoke run: tiny sizes, targets not applicable)" in proc.stdout and "MISSED" not in proc.stdout
    res = json.loads(out.read_text())
    for key in REQUIRED:
        value = res.get(key)
        assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, (key, value)
    assert set(res["targets"]) == {
        "fraction_of_peak",
        "speedup_vs_seed_loop",
        "alternating_time_ratio",
        "startup_ratio",
        "sweep_overhead",
    }

    assert res["machine"]["cores"] >= 1 and res["machine"]["cpu"] and res["machine"]["torch"] == torch.__version__

    cfg = res["config"]
    dims = [cfg["input_dim"]] + [cfg["width"]] * (cfg["depth"] - 1) + [cfg["num_classes"]]
    assert res["alternating_flop_ratio"] == pytest.approx(flop_ratio(dims, cfg["batch_size"], cfg["split"]), rel=1e-9)


def test_seeds_batched_in_one_step_train_as_separate_runs_do():
    """The what-if of batching seeds is only a measurement of the harness if it computes the same runs."""
    from dataclasses import replace

    from alternating_freeze.strategies.standard import Standard
    from benchmarks.loop_contenders import QUICK, Ours, batched_seeds, random_data

    s = replace(QUICK, n_train=384)
    data = random_data(s, torch.device("cpu"))
    separate = [Ours(f"seed {i}", data, Standard(), s, torch.device("cpu"), seed=i) for i in range(2)]
    per_sample = separate[0].model.train_flops_per_sample({0, 1})
    together = batched_seeds(data, s, torch.device("cpu"), per_sample, k=2)
    for _ in range(2):
        for run in separate:
            run.epoch()
        assert together.epoch()["flops"] == 2 * per_sample * s.n_train
    for i, run in enumerate(separate):
        for j, (_, layer) in enumerate(run.model.linear_layers()):
            assert torch.allclose(together.weights[j][i], layer.weight, atol=1e-5), (i, j)
            assert torch.allclose(together.biases[j][i, 0], layer.bias, atol=1e-5), (i, j)


def test_the_thread_threshold_is_the_one_measured():
    """#25.2: machine.PARALLEL_STEP_FLOPS is what benchmarks/threads.py measured (its newest result file), and
    the threshold is the smallest step from which every larger one gains."""
    from alternating_freeze.machine import PARALLEL_STEP_FLOPS
    from benchmarks.threads import GAIN, threshold

    newest = max((ROOT / "benchmarks" / "results").glob("threads-*.json"), key=lambda p: p.name[-15:])
    assert json.loads(newest.read_text())["threshold_step_flops"] == PARALLEL_STEP_FLOPS
    rows = [{"step_flops": f, "speedup": s} for f, s in ((1, 1.5), (2, 0.9), (3, GAIN), (4, 1.7))]
    assert threshold(rows) == 3 and threshold(rows[:2]) is None


def test_threads_sweep_interleaves_every_arm_and_writes_its_ratios(tmp_path, monkeypatch):
    """#25.2: benchmarks/threads_sweep.py runs every thread arm once a round, quiet then beside a spinner, with
    the sweep's own overrides, and reports each arm over one thread per round (a stand-in times no real sweep)."""
    from contextlib import contextmanager

    import benchmarks.threads_sweep as ts
    from alternating_freeze.machine import available_cores

    cores, calls, spinning = available_cores(), [], []

    @contextmanager
    def busy(on):  # records whether a spinner would run, starts none
        spinning.append(on)
        yield
        spinning.append(None)

    def run(cmd):  # auto 2 s, all cores 8 s, one thread 1 s x its call number (it slows down as it goes)
        calls.append((cmd, spinning[-1]))
        threads = next(a.split("=", 1)[1] for a in cmd if a.startswith("trainer.num_threads="))
        return {"auto": 2.0, str(cores): 8.0}.get(threads, float(len(calls)))

    monkeypatch.setattr(ts, "busy", busy)
    path = tmp_path / "r.json"
    out = ts.main(["--json", str(path), "--epochs", "3", "--seeds", "4", "--rounds", "2"], run=run)
    arms = ["auto", "1", f"all ({cores})"]
    assert out["order"] == [f"{case} {arm}" for _ in range(2) for case in ("quiet", "busy") for arm in arms]
    assert [on for _, on in calls] == [False] * 3 + [True] * 3 + [False] * 3 + [True] * 3
    assert all({"-m", "experiment=frequency", "trainer.epochs=3", "seed=range(4)"} <= set(c) for c, _ in calls)
    assert len({next(a for a in c if a.startswith("hydra.sweep.dir=")) for c, _ in calls}) == 12  # fresh folders
    written = json.loads(path.read_text())
    one_s = {"quiet": [2.0, 8.0], "busy": [5.0, 11.0]}  # one thread's call numbers, by case
    for case, ones in one_s.items():
        auto, every = written["arms"][case]["auto"], written["arms"][case][f"all ({cores})"]
        assert written["walls_s"][case]["1"] == ones
        assert auto["round_ratios"] == pytest.approx([2.0 / t for t in ones])
        assert auto["ratio_to_1_thread"] == pytest.approx((2.0 / ones[0] + 2.0 / ones[1]) / 2)
        assert every["median_s"] == 8.0 and written["arms"][case]["1"]["ratio_to_1_thread"] == 1.0
    assert written["machine"]["cores"] == cores and "load_avg_start" in written["machine"]
    assert len(written["load_avg_1min_after_each"]) == 12


def test_threads_sweep_refuses_nonsense_counts():
    from benchmarks.threads_sweep import main

    with pytest.raises(SystemExit):
        main(["--rounds", "0"], run=lambda cmd: pytest.fail("ran a sweep"))


def test_spinner_stops_itself():
    """A spinner outlives no benchmark: it stops when its parent is not the one it was started by (the
    benchmark died and it was re-parented) or at its deadline."""
    from benchmarks.spinner import os, spin

    t0 = time.monotonic()
    assert spin(parent=os.getppid() + 1, deadline_s=60) == "parent gone"
    assert spin(parent=os.getppid(), deadline_s=0.2) == "deadline"
    assert time.monotonic() - t0 < 10


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="watches the spinner through Linux's /proc")
def test_spinner_of_a_killed_benchmark_stops():
    """The real thing: a process starts a spinner and dies at once (os._exit, no clean-up); the spinner ends."""
    from benchmarks import spinner

    code = (
        "import os, sys; from benchmarks.spinner import start; p = start(deadline_s=120); "
        "print(p.pid, flush=True); os._exit(0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    pid = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
        if stat.split(") ")[-1].startswith("Z"):  # a zombie has stopped: only its re-parent's reaping is left
            break
        time.sleep(0.1)
    else:
        assert not Path(f"/proc/{pid}").exists(), "the spinner still runs after its benchmark died"
    with spinner.busy(deadline_s=60) as child:
        assert child.poll() is None
    assert child.returncode is not None  # stopped at the block's end


def test_gpt_harness_trains_as_the_hand_written_loop():
    """#21.7: the GPT benchmark compares like with like. Two epochs of the harness (Job.fit) leave the weights
    bit-identical to the hand-written loop with torch.optim.AdamW(fused=True) (the same batches, model and
    kernel), and within float rounding of the plain torch.optim.AdamW it is timed against."""
    from alternating_freeze.data import load_dataset
    from alternating_freeze.strategies.standard import Standard
    from benchmarks.gpt import SIZES, HandWritten, Harness, run_config

    threads = torch.get_num_threads()
    try:
        run = run_config(SIZES["quick"], Standard(), steps=3, threads=1)
        data = load_dataset(run.dataset, torch.device("cpu"), run.model.block_size)
        harness, fused, plain = Harness("h", run, data), HandWritten("f", run, data, True), HandWritten("p", run, data)
        for _ in range(2):
            for c in (harness, fused, plain):
                c.epoch()
    finally:
        torch.set_num_threads(threads)
    assert harness.state.step == 6
    ours = dict(harness.job.model.named_parameters())
    for (name, a), b in zip(fused.model.named_parameters(), plain.model.parameters()):
        assert torch.equal(ours[name], a), name
        assert torch.allclose(ours[name], b, atol=1e-6), name
    assert not torch.equal(ours["blocks.0.0.tok.weight"], Harness("h", run, data).job.model.blocks[0][0].tok.weight)


def test_gpt_benchmark_quick_reports_every_number(tmp_path):
    """#21.7: ``python -m benchmarks.gpt --quick`` runs every contender and writes every ratio, the machine and
    its load; the FLOP ratio is FlopCounterMode's count of a GPT built here (no timing is asserted)."""
    from alternating_freeze.models import build_model, measure_train_flops
    from benchmarks.gpt import SIZES, main

    threads = torch.get_num_threads()
    try:
        out = main(["--quick", "--json", str(tmp_path / "gpt.json")])
    finally:
        torch.set_num_threads(threads)
    res = json.loads((tmp_path / "gpt.json").read_text())
    for key in ("harness_ratio", "harness_ratio_fused", "alternating_time_ratio", "alternating_flop_ratio"):
        assert isinstance(res[key], float) and math.isfinite(res[key]) and res[key] > 0, key
    assert set(res["step_ms"]) == {
        "harness standard",
        "harness alternating/epoch",
        "hand-written",
        "hand-written, fused AdamW",
    }
    assert set(res["phase_time_ratio"]) == {"first", "second"}
    assert len(res["round_ratios"]["hand-written"]) == res["config"]["rounds"] - 1  # the first round warms up
    assert set(res["targets"]) == {"harness_ratio", "harness_ratio_fused", "alternating_time_ratio"}
    assert res["targets"]["alternating_time_ratio"]["target"] == f"<= {1.10 * res['alternating_flop_ratio']:.3f}"
    assert res["machine"]["cpu"] and len(res["machine"]["load_avg_after_each_round"]) == res["config"]["rounds"]

    model = build_model(SIZES["quick"], (SIZES["quick"].block_size,), out["config"]["vocabulary"])
    every, first, second = (measure_train_flops(model, t) for t in ({0, 1}, {0}, {1}))
    assert res["alternating_flop_ratio"] == pytest.approx((first + second) / 2 / every, rel=1e-12)
    assert first < every and second < first  # the frozen prefix runs without autograd: the larger saving
