"""Parallel jobs each get their own number; a progress bar's label leaves the bar its room."""

from alternating_freeze import progress


def test_parallel_jobs_starting_before_any_ends_get_their_own_numbers(tmp_path):
    progress.launch(tmp_path, 50)
    assert [progress.started(tmp_path, parallel=4) for _ in range(4)] == [f"job {k}/50" for k in range(1, 5)]
    progress.ended(tmp_path, 1.0, ran=True)
    assert progress.started(tmp_path, parallel=4).startswith("job 5/50, ETA")


def test_the_bar_label_is_cut_to_a_share_of_the_terminal():
    label = "seed=0,strategy.every=16,strategy.unit=batch,strategy=alternating,trainer.epochs=20"
    cut = progress.bar_label(label, columns=120)
    assert len(cut) == int(120 * progress.BAR_LABEL_SHARE) and cut.startswith("…") and cut.endswith("epochs=20")
    assert progress.bar_label("standard", columns=120) == "standard"
    assert len(progress.bar_label(label, columns=20)) == 12  # never below a readable stub


def test_a_starved_run_says_so_and_a_busy_one_does_not():
    from alternating_freeze.contract import STARVED_SHARE
    from alternating_freeze.machine import starved

    assert starved(cpu_s=1.0, wall_s=2.0, threads=2).startswith("; starved of CPU: 25% of wall time x 2 thread(s)")
    assert starved(cpu_s=STARVED_SHARE * 2.0 * 2, wall_s=2.0, threads=2) == ""
    assert starved(cpu_s=None, wall_s=2.0, threads=1) == "" and starved(cpu_s=1.0, wall_s=0.0, threads=1) == ""
