"""Arms that cannot do what they say, in the analysis: a configuration that never trained some block is
flagged and never named the best; configurations that are the same runs are reported as one; a sweep
without standard training gets a headline that compares its arms with each other."""

from __future__ import annotations

import json

from helpers import FAST, make_config, write_run

import analysis
from analysis import checks
from analysis.report import headline


def frozen(run, blocks=2):
    """Make ``run`` one that only ever trained block 0, of ``blocks`` blocks."""
    lines = (run / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    at = header.index("trained")
    rows = [line.split(",") for line in lines[1:]]
    for r in rows:
        r[at] = "0"
    (run / "metrics.csv").write_text("\n".join([lines[0], *(",".join(r) for r in rows)]) + "\n")
    summary = json.loads((run / "summary.json").read_text())
    summary["resolved"]["n_blocks"] = blocks
    (run / "summary.json").write_text(json.dumps(summary))


def sweep(tmp_path, standard=True):
    for seed in range(3):
        if standard:
            write_run(tmp_path, make_config(seed), 0.90)
        write_run(tmp_path, make_config(seed, "alternating", every=1), 0.91)
        for every in (2, 4):  # the same runs: block 1 never trained in either
            frozen(write_run(tmp_path, make_config(seed, "alternating", unit="epoch", every=every), 0.95))
    return analysis.analyze([tmp_path], boot=FAST, figures=False)


def test_frozen_arms_are_flagged_merged_and_never_the_best(tmp_path):
    result = sweep(tmp_path)
    never = checks.untrained(result.runs, result.curves)
    assert sorted(never.values()) == ["alternating/epoch every 2", "alternating/epoch every 4"]
    assert checks.same_runs(result.curves) == [["alternating/epoch every 2", "alternating/epoch every 4"]]
    said = [w for w in result.warnings if "never trained some block" in w or "same runs" in w]
    assert len(said) == 2 and "alternating/epoch every 2 = alternating/epoch every 4" in said[1]
    text = headline(result.paired, 0.05, False, result.stats, set(never), checks.same_runs(result.curves))
    assert "alternating/batch every 1" in text and "epoch every" not in text


def test_without_standard_training_the_arms_are_compared_with_each_other(tmp_path):
    result = sweep(tmp_path, standard=False)
    text = headline(result.paired, 0.05, False, result.stats)
    assert text.startswith("**No standard-training baseline in this sweep") and "Highest mean" in text
    merged = headline(result.paired, 0.05, False, result.stats, set(), checks.same_runs(result.curves))
    assert "alternating/epoch every 2 = alternating/epoch every 4" in merged


def test_a_note_every_run_shares_is_said_once_with_a_count():
    import pandas as pd

    done = pd.DataFrame(
        {"run_id": [f"r{i}" for i in range(5)], "notes": ["trained in a group of up to 50 runs"] * 4 + ["resumed"]}
    )
    assert checks.run_notes(done) == ["4 runs (r0; r1; r2; r3): trained in a group of up to 50 runs", "r4: resumed"]
    assert checks.run_notes(done[:4]) == ["every completed run (4): trained in a group of up to 50 runs"]
