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
