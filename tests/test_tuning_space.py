"""Quasi-random tuning (space.py, tuning.py): the points are scipy's scrambled Halton mapped through the
distributions, the same on every plan, disjoint per study; each study chooses, the median study decides; a
choice near a boundary of the space is flagged; an invalid score counts as failed; bad spaces are one line."""

import math

import numpy as np
import pytest
from scipy.stats import qmc

from alternating_freeze import contract, tuning
from alternating_freeze import space as spaces
from alternating_freeze.contract import write_json
from alternating_freeze.errors import ConfigError

SPACE = {
    "optimizer.lr": "log_uniform(1e-4, 1e-1)",
    "optimizer.weight_decay": "uniform(0, 0.001)",
    "trainer.batch_size": "int(16, 64)",
    "strategy.order": "choice(cyclic, reverse)",
}


def conf(**kw):
    return tuning.TuneConf(**{"method": "quasirandom", "space": SPACE, "trials": 5, "studies": 3, "seed": 7, **kw})


def test_points_are_scipys_halton_mapped_by_hand_the_same_on_every_plan():
    points = tuning.plan(conf(), {})
    assert points == tuning.plan(conf(), {})  # a resumed sweep plans the same trials
    assert points != tuning.plan(conf(seed=8), {})
    u = qmc.Halton(d=4, scramble=True, seed=7).random(15)
    flat = [p for study in points for p in study]
    for p, row in zip(flat, u):
        assert float(p["optimizer.lr"]) == pytest.approx(10 ** (-4 + 3 * row[0]), rel=1e-5)
        assert float(p["optimizer.weight_decay"]) == pytest.approx(0.001 * row[1], rel=1e-5, abs=1e-12)
        assert p["trainer.batch_size"] == str(16 + math.floor(row[2] * 49))
        assert p["strategy.order"] == ("cyclic", "reverse")[math.floor(row[3] * 2)]
        assert 1e-4 <= float(p["optimizer.lr"]) <= 1e-1 and 0 <= float(p["optimizer.weight_decay"]) <= 1e-3
        assert 16 <= int(p["trainer.batch_size"]) <= 64


def test_every_arm_gets_exactly_trials_per_study_on_disjoint_points():
    points = tuning.plan(conf(), {})
    made = tuning.trials({"a": ["strategy=standard"], "b": ["strategy=alternating"]}, points, ["100", "101"])
    for ts in made.values():
        for s in range(3):
            assert len([t for t in ts if t.study == s]) == 5 * 2  # 5 points on 2 tuning seeds
        assert [t.values for t in ts if t.seed == "100"] == [p for study in points for p in study]
    keys = [tuple(sorted(p.items())) for study in points for p in study]
    assert len(set(keys)) == 15  # studies share no point


def write_trials(tmp_path, points, scores):
    """A finished trial per point (seed 0), with the given score per (study, index)."""
    out = []
    for s, study in enumerate(points):
        for i, p in enumerate(study):
            job = f"s{s}-{i}"
            (tmp_path / job).mkdir(exist_ok=True)
            write_json(tmp_path / job / "summary.json", {"status": "completed", "best_val_acc": scores[s][i]})
            out.append(tuning.Trial(p, "0", [], job, study=s))
    return out


def test_each_study_chooses_and_the_median_study_decides_as_by_hand(tmp_path):
    space = spaces.parse_space({"optimizer.lr": "uniform(0, 1)"})
    points = [[{"optimizer.lr": f"0.{s}{i}1"} for i in range(3)] for s in range(3)]
    scores = [[0.5, 0.9, 0.2], [0.7, 0.1, 0.6], [0.8, 0.95, 0.3]]  # studies' bests: 0.9, 0.7, 0.95
    arm = tuning.choose(write_trials(tmp_path, points, scores), tmp_path, "best_val_acc", None, points, space)
    assert [st["chosen"]["optimizer.lr"] for st in arm["studies"]] == ["0.011", "0.101", "0.211"]
    assert [st["score"] for st in arm["studies"]] == [0.9, 0.7, 0.95]
    assert arm["median_study"] == 0 and arm["chosen"] == {"optimizer.lr": "0.011"}  # median of 0.7, 0.9, 0.95
    assert tuning.median_study([0.3, 0.1]) == 1 and tuning.median_study([0.5, 0.5, 0.2]) == 0
    assert [st["at_boundary"] for st in arm["studies"]] == [[["optimizer.lr", "low"]], [], []]


def test_an_invalid_score_counts_as_failed_with_a_warning_naming_the_trial(tmp_path):
    points = [[{"optimizer.lr": "0.1"}, {"optimizer.lr": "0.2"}, {"optimizer.lr": "0.3"}]]
    trials = write_trials(tmp_path, points, [[1.5, 0.4, "high"]])
    arm = tuning.choose(trials, tmp_path, "best_val_acc", {"optimizer.lr": ["0.1", "0.2", "0.3"]}, points)
    assert arm["chosen"] == {"optimizer.lr": "0.2"}  # 1.5 is not an accuracy, "high" not a number
    assert [t["score"] for t in arm["trials"]] == [None, 0.4, None]
    assert len(arm["warnings"]) == 2 and "trial s0-0: best_val_acc=1.5" in arm["warnings"][0]
    assert "s0-2" in arm["warnings"][1]
    valid = contract.valid_score
    assert valid("best_val_acc", 0.0) and valid("best_val_acc", 1) and valid("loss", 7.5)
    assert not any(valid("best_val_acc", v) for v in (math.nan, -0.1, 1.01, True, "0.5", None, math.inf))


@pytest.mark.parametrize(
    "kind, lo, hi, value, side",
    [
        ("uniform", 0, 1, 0.04, "low"),
        ("uniform", 0, 1, 0.96, "high"),
        ("uniform", 0, 1, 0.06, None),
        ("uniform", 0, 1, 0.5, None),
        ("log_uniform", 1e-4, 1e-1, 1.3e-4, "low"),  # log-scaled: 1.3e-4 is 3.8% in
        ("log_uniform", 1e-4, 1e-1, 0.004, None),  # 0.004 is at 0.4% linearly, but 53% on the log scale
        ("log_uniform", 1e-4, 1e-1, 0.09, "high"),
        ("int", 1, 100, 2, "low"),
        ("choice", 0, 0, 0.0, None),
    ],
)
def test_the_boundary_warning_fires_in_the_outer_five_percent_only(kind, lo, hi, value, side):
    assert contract.boundary_side(kind, lo, hi, value) == side


@pytest.mark.parametrize(
    "changes, key, says",
    [
        ({"space": {"optimizer.lr": "normal(0, 1)"}}, "hydra.sweeper.tune.space.optimizer.lr", "log_uniform(lo, hi)"),
        ({"space": {"optimizer.lr": "uniform(1, 1)"}}, "hydra.sweeper.tune.space.optimizer.lr", "lo < hi"),
        ({"space": {"optimizer.lr": "log_uniform(0, 1)"}}, "hydra.sweeper.tune.space.optimizer.lr", "bounds > 0"),
        ({"trials": 3}, "hydra.sweeper.tune.trials", "at least the number of tuned keys (4)"),
        ({"space": {"strategy.order": "choice(a, b)"}, "trials": 2}, "hydra.sweeper.tune.studies", "more points"),
        ({"space": {"seed": "int(0, 9)"}, "studies": 1}, "hydra.sweeper.tune.space", "not the seed"),
        ({"space": {"trainer.num_threads": "int(1, 9)"}, "studies": 1}, "hydra.sweeper.tune.space", "execute"),
        ({"method": "random"}, "hydra.sweeper.tune.method", "grid, quasirandom"),
        ({"method": "grid", "grid": {}}, "hydra.sweeper.tune.grid", "at least one key"),
        ({"method": "grid", "grid": {"x": "1"}, "studies": 3}, "hydra.sweeper.tune.studies", "method=grid"),
        ({"seeds": "x"}, "hydra.sweeper.tune.seeds", "distinct integers"),
    ],
)
def test_bad_spaces_are_one_line_naming_the_key(changes, key, says):
    c, grid = conf(**changes), {}
    if c.method == "grid":
        grid = {k: v.split(",") if v else [] for k, v in c.grid.items()}
    seeds = ["1", "1"] if c.seeds == "x" else ["100"]
    with pytest.raises(ConfigError) as e:
        tuning.check(c, grid, seeds, ["0"])
    assert e.value.key.startswith(key) and says in str(e.value) and "\n" not in str(e.value)


def test_duplicate_grid_values_and_negative_seeds_are_refused():
    c = tuning.TuneConf(grid={"optimizer.lr": "0.1,0.1"})
    with pytest.raises(ConfigError, match="each value once"):
        tuning.check(c, {"optimizer.lr": ["0.1", "0.1"]}, ["100"], ["0"])
    with pytest.raises(ConfigError, match="distinct integers >= 0: not -1"):
        tuning.check(tuning.TuneConf(), {"optimizer.lr": ["0.1"]}, ["-1", "2"], ["0"])


def test_resume_plans_and_chooses_the_same_from_disk(tmp_path):
    """A relaunch recomputes the plan and the choice from disk: nothing new to run, the same choice."""
    points = tuning.plan(conf(space={"optimizer.lr": "log_uniform(1e-4, 1e-1)"}, trials=3), {})
    scores = np.arange(9).reshape(3, 3)[::-1] / 10
    trials = write_trials(tmp_path, points, scores.tolist())
    first = tuning.choose(trials, tmp_path, "best_val_acc", None, points)
    again = tuning.plan(conf(space={"optimizer.lr": "log_uniform(1e-4, 1e-1)"}, trials=3), {})
    jobs = {tuple(sorted(t.values.items())): t.job for t in trials}
    replanned = [
        tuning.Trial(p, "0", [], jobs[tuple(sorted(p.items()))], study=s)
        for s, study in enumerate(again)
        for p in study
    ]
    assert all(t.job for t in replanned)  # every planned trial already has its folder: none to launch
    assert tuning.choose(replanned, tmp_path, "best_val_acc", None, again) == first


def test_a_negative_halton_seed_is_refused():
    with pytest.raises(ConfigError, match="hydra.sweeper.tune.seed=-1"):
        tuning.check(conf(seed=-1), {}, ["100"], ["0"])


def test_the_values_checked_before_a_sweep_are_a_ranges_ends_or_every_option():
    space = spaces.parse_space({"a": "int(2, 2000000)", "b": "log_uniform(1e-4, 0.1)", "c": "choice([x, y])"})
    assert [space[k].ends() for k in "abc"] == [["2", "2000000"], ["0.0001", "0.1"], ["x", "y"]]
