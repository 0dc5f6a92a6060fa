"""The numbers summary.json derives from metrics.csv, against hand computations."""

import math

import pytest

from alternating_freeze.contract import parse_trained, trained_label
from alternating_freeze.records import summarize_metrics


def row(epoch, val_acc, test_acc, loss=1.0, threads=2):
    return {
        "epoch": epoch,
        "train_loss": loss,
        "val_acc": val_acc,
        "test_acc": test_acc,
        "epoch_s": 0.5,
        "eval_s": 0.1,
        "train_flops": 100 * epoch,
        "epoch_cpu_s": 0.9,
        "threads": threads,
    }


def test_selection_reads_validation_not_test():
    # test accuracy peaks in epoch 2, validation accuracy in epoch 3 (first of two equal maxima)
    rows = [row(1, 0.50, 0.60), row(2, 0.70, 0.95), row(3, 0.80, 0.75), row(4, 0.80, 0.90), row(5, 0.78, 0.91)]
    s = summarize_metrics(rows)
    assert (s["best_val_epoch"], s["best_val_acc"], s["test_acc_at_best_val"]) == (3, 0.80, 0.75)
    assert s["best_test_acc"] == 0.95 and s["final_val_acc"] == 0.78 and s["selection"] == "val"
    assert s["epochs_to_90pct"] == 3  # first validation accuracy >= 0.9 * 0.78 = 0.702 (epoch 2 has 0.70)
    assert s["train_cpu_s"] == pytest.approx(4.5) and s["thread_counts"] == [2]


def test_without_validation_selection_falls_back_to_test_and_says_so():
    rows = [row(1, math.nan, 0.50), row(2, math.nan, 0.80), row(3, math.nan, 0.70)]
    s = summarize_metrics(rows)
    assert s["selection"] == "test" and s["best_val_epoch"] is None and s["test_acc_at_best_val"] is None
    assert s["epochs_to_90pct"] == 2  # 0.9 * 0.70 = 0.63: epoch 2


def test_mixed_thread_counts_are_listed():
    assert summarize_metrics([row(1, 0.5, 0.5, threads=2), row(2, 0.6, 0.6, threads=1)])["thread_counts"] == [1, 2]


@pytest.mark.parametrize(
    "steps, n_blocks, label",
    [
        ([{0, 1}], 2, "all"),
        ([{0}], 2, "0"),
        ([{0}, {1}], 2, "0+1"),
        ([{1, 2, 3}], 4, "1+2+3"),
        ([{0}, {2}], 4, "0+2"),
        ([{0, 1, 2, 3}, {1, 2, 3}], 4, "0+1+2+3"),
    ],
)
def test_trained_label_names_the_blocks(steps, n_blocks, label):
    assert trained_label(map(frozenset, steps), n_blocks) == label


def test_two_half_labels_read_as_blocks():
    assert parse_trained("first") == {0} and parse_trained("second") == {1} and parse_trained("first+second") == {0, 1}
    assert parse_trained("all") is None and parse_trained("1+3") == {1, 3}
