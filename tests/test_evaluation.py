import numpy as np
import pytest

from ecg import evaluation
from ecg.labels import BEAT_CLASSES


def test_scores_match_counts_worked_by_hand():
    y_true = np.array(list("NNNNVVAL"))
    y_pred = np.array(list("NNNVVNAL"))
    five = evaluation.evaluate(y_true, y_pred, BEAT_CLASSES)["five_class"]
    v = five["per_class"]["V"]
    assert v["sensitivity"] == pytest.approx(1 / 2)
    assert v["positive_predictivity"] == pytest.approx(1 / 2)
    assert v["specificity"] == pytest.approx(5 / 6)
    assert five["accuracy"] == pytest.approx(6 / 8)
    assert five["per_class"]["R"]["support"] == 0
    assert np.asarray(five["confusion"]).sum() == 8


def test_aami_view_merges_bundle_branch_blocks_into_n_and_a_into_s():
    y = np.array(list("NLRVA"))
    aami = evaluation.evaluate(y, y, BEAT_CLASSES)["aami"]
    assert aami["classes"] == ["N", "S", "V"]
    assert aami["per_class"]["N"]["support"] == 3
    assert aami["per_class"]["S"]["support"] == 1
    assert aami["accuracy"] == 1.0


def test_markdown_tables_list_every_class(tmp_path):
    y = np.array(list("NLRVA"))
    five = evaluation.evaluate(y, y, BEAT_CLASSES)["five_class"]
    table = evaluation.markdown_table(five)
    assert all(f"| {c} |" in table for c in BEAT_CLASSES)
    evaluation.save_confusion_png(five, tmp_path / "cm.png", "test")
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"


def test_confidence_by_call_counts_each_call_and_what_the_warning_separates():
    classes = ("N", "V")
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.55, 0.45], [0.3, 0.7], [0.45, 0.55]])
    y_true = np.array(list("NVNVN"))
    table = evaluation.confidence_by_call(y_true, probabilities, classes, low_confidence=0.6)
    n, v = table["per_call"]["N"], table["per_call"]["V"]
    assert (n["calls"], v["calls"]) == (3, 2)
    assert n["mean_confidence"] == pytest.approx((0.9 + 0.8 + 0.55) / 3)
    assert (n["right"], v["right"]) == (pytest.approx(2 / 3), pytest.approx(1 / 2))
    assert table["warned_share"] == pytest.approx(2 / 5)
    assert (table["accuracy_warned"], table["accuracy_unwarned"]) == (pytest.approx(1 / 2), pytest.approx(2 / 3))


def test_confidence_by_call_leaves_a_class_never_called_without_figures():
    table = evaluation.confidence_by_call(np.array(["N"]), np.array([[0.9, 0.1]]), ("N", "V"), 0.6)
    assert table["per_call"]["V"] == {"calls": 0, "mean_confidence": None, "right": None}
    assert table["accuracy_warned"] is None


def test_block_patients_pools_recall_over_beats_and_counts_patients_mostly_right():
    from measure.block_patients import block_recall

    labels = np.array(["R"] * 6 + ["N"] * 2)
    patients = np.array(["a", "a", "a", "b", "b", "b", "c", "c"])
    called = ["R", "R", "N", "V", "R", "N", "N", "N"]
    probabilities = np.eye(5)[["NLRVA".index(c) for c in called]]
    r = block_recall(labels, patients, probabilities, "R")
    assert r["beats"] == 6 and r["recall"] == 0.5 and r["patients"] == 2 and r["mostly_right"] == 1
    assert r["per_patient"]["b"] == {"N": 1, "L": 0, "R": 1, "V": 1, "A": 0}
