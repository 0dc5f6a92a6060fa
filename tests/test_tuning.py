"""The tuning protocol: the same grid for every arm on tuning seeds, the choice on validation from the
trials on disk, the final seeds at the choice; bad settings refused before anything runs; a killed
tuned sweep resumes without recomputing anything and makes the same choice."""

import json
import os
import signal
import subprocess
import time

import pytest
from helpers import ROOT, af_train

from alternating_freeze import tuning
from alternating_freeze.contract import TIMING_COLUMNS, write_json

GRID = {"optimizer.lr": ["0.001", "0.01", "0.1"]}


def trial(tmp_path, lr, seed, status="completed", metric=None):
    job = f"lr={lr},seed={seed}"
    (tmp_path / job).mkdir()
    if status is not None:
        write_json(tmp_path / job / "summary.json", {"status": status, "best_val_acc": metric})
    return tuning.Trial({"optimizer.lr": lr}, str(seed), [], job)


def test_the_choice_equals_a_hand_computation(tmp_path):
    trials = [
        trial(tmp_path, "0.001", 0, metric=0.80),
        trial(tmp_path, "0.001", 1, metric=0.90),
        trial(tmp_path, "0.01", 0, metric=0.95),
        trial(tmp_path, "0.01", 1, "diverged"),
        trial(tmp_path, "0.1", 0, metric=0.60),
        trial(tmp_path, "0.1", 1, None),
    ]  # never finished
    arm = tuning.choose(trials, tmp_path, "best_val_acc", GRID)
    means = {p["values"]["optimizer.lr"]: (p["mean"], p["n_failed"]) for p in arm["scores"]}
    # a failed trial scores the worst accuracy, 0: lr 0.01 has (0.95 + 0) / 2 = 0.475 < (0.80 + 0.90) / 2
    assert means == {"0.001": (pytest.approx(0.85), 0), "0.01": (pytest.approx(0.475), 1), "0.1": (0.3, 1)}
    assert arm["chosen"] == {"optimizer.lr": "0.001"} and arm["at_edge"] == ["optimizer.lr"]
    assert [t["status"] for t in arm["trials"]] == ["completed"] * 3 + ["diverged", "completed", "missing"]
    assert not arm["all_failed"]


def test_ties_go_to_the_first_grid_point_and_an_all_failed_arm_chooses_nothing(tmp_path):
    trials = [
        trial(tmp_path, "0.001", 0, metric=0.9),
        trial(tmp_path, "0.01", 0, metric=0.9),
        trial(tmp_path, "0.1", 0, metric=0.5),
    ]
    arm = tuning.choose(trials, tmp_path, "best_val_acc", GRID)
    assert arm["chosen"] == {"optimizer.lr": "0.001"}
    failed = [trial(tmp_path, lr, 9, "failed") for lr in ("0.001", "0.01", "0.1")]
    arm = tuning.choose(failed, tmp_path, "best_val_acc", GRID)
    assert arm["all_failed"] and arm["chosen"] is None and arm["at_edge"] == []


# ------------------------------------------------------------------ through the real command line

FAST = [
    "trainer.epochs=2",
    "trainer.progress=none",
    "trainer.num_threads=1",
    "optimizer=sgd",
    "hydra.callbacks.analyze.enabled=false",
    'hydra.sweeper.arms.standard=["strategy=standard"]',
    "~hydra.sweeper.arms.epoch",
    'hydra.sweeper.arms.batch=["strategy=alternating","strategy.unit=batch","strategy.every=1"]',
    'hydra.sweeper.tune.grid={optimizer.lr:"0.01,1e+30"}',
    'hydra.sweeper.tune.seeds="100,101"',
    'hydra.sweeper.params.seed="0,1"',
]


def tuned(sweep_dir, *extra, env=None, check=True):
    proc = subprocess.run(
        af_train("-m", "experiment=frequency_tuned", f"hydra.sweep.dir={sweep_dir}", *FAST, *extra),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def results(sweep_dir):
    """Each job folder's results, timing aside."""
    out = {}
    for summary in sorted(sweep_dir.glob("*/summary.json")):
        s = json.loads(summary.read_text())
        metrics = (summary.parent / "metrics.csv").read_text().splitlines()
        header = metrics[0].split(",")
        keep = [i for i, h in enumerate(header) if h not in TIMING_COLUMNS]
        rows = [[line.split(",")[i] for i in keep] for line in metrics[1:]]
        out[summary.parent.name] = (s["status"], s.get("best_val_acc"), s.get("final_test_acc"), rows)
    return out


def choices(sweep_dir):
    data = json.loads((sweep_dir / "tuning.json").read_text())
    return {name: (a["chosen"], len(a["trials"]), len(a["final_jobs"])) for name, a in data["arms"].items()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    sweep_dir = tmp_path_factory.mktemp("tuned") / "reference"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("HYDRA_FULL_ERROR", None)
    tuned(sweep_dir, env=env)
    return sweep_dir


@pytest.mark.slow
def test_every_arm_gets_the_same_trials_and_its_final_seeds_at_its_choice(reference):
    data = json.loads((reference / "tuning.json").read_text())
    assert data["grid"] == {"optimizer.lr": [0.01, 1e30]} and data["tuning_seeds"] == [100, 101]
    assert data["final_seeds"] == [0, 1] and data["metric"] == "best_val_acc" and data["trials_per_arm"] == 4
    for arm in data["arms"].values():
        assert len(arm["trials"]) == 4 and {t["seed"] for t in arm["trials"]} == {100, 101}
        by_lr = {}
        for t in arm["trials"]:  # the choice from the trials' own summary.json files, by hand
            s = json.loads((reference / t["job"] / "summary.json").read_text())
            value = s["best_val_acc"] if s["status"] == "completed" else 0.0
            by_lr.setdefault(t["values"]["optimizer.lr"], []).append(value)
            assert t["status"] == s["status"]
        best = max(by_lr, key=lambda lr: sum(by_lr[lr]) / len(by_lr[lr]))
        assert arm["chosen"] == {"optimizer.lr": best} == {"optimizer.lr": 0.01}  # 1e30 diverges
        assert arm["at_edge"] == ["optimizer.lr"]
        assert len(arm["final_jobs"]) == 2
        for job in arm["final_jobs"]:
            s = json.loads((reference / job / "summary.json").read_text())
            assert s["config"]["optimizer"]["lr"] == 0.01 and s["seed"] in (0, 1)
    statuses = {t["status"] for a in data["arms"].values() for t in a["trials"] if t["values"]["optimizer.lr"] == 1e30}
    assert statuses == {"diverged"}


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["tuning", "final"])
def test_a_tuned_sweep_killed_mid_stage_resumes_without_recomputing(reference, tmp_path, cli_env, stage):
    resumed = tmp_path / "resumed"
    cmd = af_train("-m", "experiment=frequency_tuned", f"hydra.sweep.dir={resumed}", *FAST)
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    ready = (
        (lambda: len(list(resumed.glob("*/summary.json"))) >= 2)
        if stage == "tuning"
        else (lambda: (resumed / "tuning.json").exists() and len(list(resumed.glob("*/summary.json"))) >= 9)
    )
    deadline = time.time() + 300
    while not ready() and time.time() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in resumed.glob("*/summary.json")}
    assert 2 <= len(done) < 12, "the kill should land inside the stage"
    tuned(resumed, env=cli_env)
    for path, (mtime, content) in done.items():
        assert path.stat().st_mtime_ns == mtime and path.read_bytes() == content, f"{path} was recomputed"
    assert choices(resumed) == choices(reference)
    assert results(resumed) == results(reference)


@pytest.mark.slow
@pytest.mark.parametrize(
    "override, message",
    [
        ('hydra.sweeper.tune.grid={optimizer.lr:""}', "hydra.sweeper.tune.grid="),
        ('+hydra.sweeper.tune.grid.strategy_foo="1,2"', "hydra.sweeper.tune.grid='strategy_foo': not a key"),
        ('hydra.sweeper.tune.seeds="1,100"', "hydra.sweeper.tune.seeds='1,100': must not overlap the final seeds"),
        ("hydra.sweeper.tune.metric=final_test_acc", "hydra.sweeper.tune.metric='final_test_acc': a validation metric"),
        ("dataset.val_fraction=0", "dataset.val_fraction=0.0: tuning selects on the validation split"),
    ],
)
def test_bad_tuning_settings_are_one_line_before_anything_runs(tmp_path, cli_env, override, message):
    proc = tuned(tmp_path / "bad", override, env=cli_env, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out
    assert f"error: {message}" in out, out[-2000:]
    assert not list((tmp_path / "bad").glob("*/summary.json"))


@pytest.mark.slow
def test_the_tuned_protocol_runs_through_submitit(tmp_path, cli_env):
    """Issue 23: every job of a tuned preset failed under the submitit launchers (its TuneConf was pickled by value
    after Hydra's plugin scan re-executed the module that held it); both stages now run and choose as locally."""
    args = [
        "experiment=frequency_tuned",
        "trainer.epochs=1",
        "trainer.num_threads=1",
        "trainer.progress=none",
        "hydra.callbacks.analyze.enabled=false",
        'hydra.sweeper.arms.standard=["strategy=standard"]',
        "~hydra.sweeper.arms.epoch",
        'hydra.sweeper.arms.batch=["strategy=alternating","strategy.unit=batch"]',
        'hydra.sweeper.tune.grid={optimizer.lr:"0.01,0.1"}',
        'hydra.sweeper.tune.seeds="100"',
        'hydra.sweeper.params.seed="0"',
    ]
    submitit = ["hydra/launcher=submitit_local", "hydra.launcher.cpus_per_task=1", "hydra.launcher.timeout_min=5"]
    for name, launcher in (("local", []), ("submitit", submitit)):
        proc = subprocess.run(
            af_train("-m", f"hydra.sweep.dir={tmp_path / name}", *args, *launcher),
            cwd=ROOT,
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    local, remote = (json.loads((tmp_path / n / "tuning.json").read_text())["arms"] for n in ("local", "submitit"))
    assert {a: arm["chosen"] for a, arm in remote.items()} == {a: arm["chosen"] for a, arm in local.items()}
    assert all(len(arm["final_jobs"]) == 1 for arm in remote.values())


@pytest.mark.slow
@pytest.mark.parametrize(
    "experiment, override, message",
    [
        (
            "frequency_tuned",
            'hydra.sweeper.tune.grid={optimizer.lr:"-1,0"}',
            "hydra.sweeper.tune.grid.optimizer.lr='-1': optimizer.lr=-1.0: a finite number > 0",
        ),
        ("frequency_tuned", 'hydra.sweeper.tune.grid={optimizer.lr:"abc"}', "could not be converted to Float"),
        ("frequency_tuned", "hydra.sweeper.tune.grid={}", "hydra.sweeper.tune.grid='{}': at least one key"),
        ("frequency_tuned", 'hydra.sweeper.tune.grid={optimizer.lr:"0.1,0.1"}', "each value once"),
        ("frequency_tuned", '+hydra.sweeper.tune.grid.seed="1,2"', "not the seed or how runs execute"),
        ("frequency_tuned", 'hydra.sweeper.tune.seeds="7,7"', "distinct integers >= 0: not 7"),
        (
            "frequency_tuned_qr",
            '++hydra.sweeper.tune.space={optimizer.lr:"normal(0,1)"}',
            "log_uniform(lo, hi), uniform",
        ),
        (
            "frequency_tuned_qr",
            '++hydra.sweeper.tune.space={optimizer.eps:"uniform(-1,1)"}',
            "hydra.sweeper.tune.space.optimizer.eps='-1': optimizer.eps=-1.0",
        ),
        ("frequency_tuned_qr", '++hydra.sweeper.tune.space={strategy.name:"uniform(0,1)"}', "a numeric distribution"),
        ("frequency_tuned_qr", '++hydra.sweeper.tune.space={optimizer.foo:"uniform(0,1)"}', "not a key of the config"),
        ("frequency_tuned_qr", "hydra.sweeper.tune.trials=2", "hydra.sweeper.tune.trials=2: at least the number"),
    ],
)
def test_bad_tuned_values_and_spaces_are_one_line_before_anything_runs(
    tmp_path, cli_env, experiment, override, message
):
    proc = subprocess.run(
        af_train("-m", f"experiment={experiment}", f"hydra.sweep.dir={tmp_path / 'bad'}", override),
        cwd=ROOT,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out
    assert f"error: {message}" in out or message in out.split("error: ", 1)[-1].splitlines()[0], out[-2000:]
    assert not list((tmp_path / "bad").glob("*/summary.json"))


@pytest.mark.slow
def test_a_preset_tuned_under_a_fixed_schedule_names_it_in_labels_and_protocol(tmp_path, cli_env):
    """experiment=frequency_tuned_cosine, tiny: every trial and final run trains under cosine with its warmup while
    optimizer.lr is tuned, and the report names the schedule in each configuration's label and in its protocol."""
    sweep = tmp_path / "cosine"
    fast = [o for o in FAST if not o.startswith(("hydra.callbacks", "hydra.sweeper.tune.seeds"))]
    proc = subprocess.run(
        af_train("-m", "experiment=frequency_tuned_cosine", f"hydra.sweep.dir={sweep}", *fast)
        + ['hydra.sweeper.tune.grid={optimizer.lr:"0.01,0.1"}', 'hydra.sweeper.tune.seeds="100"'],
        cwd=ROOT,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = [json.loads(p.read_text()) for p in sweep.glob("*/summary.json")]
    assert len(runs) == 2 * 2 + 2 * 2  # 2 arms x (2 trials + 2 final seeds)
    assert {(r["config"]["scheduler"]["name"], r["config"]["scheduler"]["warmup"]) for r in runs} == {("cosine", 0.1)}
    assert len({r["config"]["optimizer"]["lr"] for r in runs}) == 2  # the rate was tuned, the schedule fixed
    md = (sweep / "report.md").read_text()
    protocol = md.split("## Protocol", 1)[1].split("\n## ", 1)[0]
    assert "Tuned protocol" in protocol
    assert "cosine warmup 0.1 min_lr 0 for every configuration. The schedule is fixed per arm" in protocol
    assert "| standard, cosine warmup 0.1, lr=" in md and "| alternating/batch every 1, cosine warmup 0.1, lr=" in md
    assert "### Learning rate per block" not in md  # every configuration shares its schedule: no figure
