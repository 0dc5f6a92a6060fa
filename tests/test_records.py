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


def text_row(epoch, val_loss, val_acc, test_loss, test_acc):
    return row(epoch, val_acc, test_acc) | {"val_loss": val_loss, "test_loss": test_loss}


def test_a_text_run_picks_its_best_epoch_by_the_lowest_validation_loss():
    """A text declares its loss as objective (text.objective): epoch 2 has the lowest validation loss, epoch 3 the
    highest validation accuracy; selection follows the loss, and the accuracy keys keep their own meaning."""
    from alternating_freeze.contract import LOSS
    from alternating_freeze.text import objective

    assert objective("text") is LOSS and objective("digits").name == "val_acc"
    rows = [
        text_row(1, 2.0, 0.30, 2.1, 0.29),
        text_row(2, 1.5, 0.40, 1.6, 0.41),
        text_row(3, 1.7, 0.45, 1.8, 0.44),
        text_row(4, 1.5, 0.42, 1.4, 0.43),  # as low as epoch 2: the first of equals stays
    ]
    s = summarize_metrics(rows, objective("text"))
    assert s["objective"] == "val_loss" and s["selection"] == "val"
    assert (s["best_val_epoch"], s["best_val_loss"], s["test_loss_at_best_val"]) == (2, 1.5, 1.6)
    assert s["test_acc_at_best_val"] == 0.41 and s["best_val_acc"] == 0.45  # accuracy's own best, epoch 3
    assert (s["final_test_loss"], s["best_test_loss"], s["final_val_loss"]) == (1.4, 1.4, 1.5)
    assert s["final_test_bpc"] == pytest.approx(1.4 / math.log(2))
    assert s["test_bpc_at_best_val"] == pytest.approx(1.6 / math.log(2))
    assert summarize_metrics(rows)["best_val_epoch"] == 3  # the same rows judged by accuracy


def test_a_classification_summary_keeps_its_accuracy_keys_and_adds_the_losses():
    rows = [text_row(1, 0.9, 0.6, 1.0, 0.5), text_row(2, 0.7, 0.8, 0.6, 0.7), text_row(3, 0.8, 0.7, 0.65, 0.72)]
    s = summarize_metrics(rows)
    assert s["objective"] == "val_acc" and s["best_val_epoch"] == 2 and s["test_acc_at_best_val"] == 0.7
    assert (s["best_val_loss"], s["test_loss_at_best_val"], s["final_test_loss"]) == (0.7, 0.6, 0.65)
    assert not any(k.endswith("bpc") or "bpc_" in k for k in s)  # bits per character for a text only
