"""The README's figures are generated from the reports and the weights' metadata, so none can drift."""

import json

import pytest

from measure import figures


@pytest.mark.parametrize("block", list(figures.BLOCKS))
def test_every_generated_table_is_what_the_reports_and_the_shipped_weights_give(block):
    path = figures.BLOCKS[block][0]
    text = path.read_text()
    assert figures.render(text, block=block) == text, f"stale {block} in {path}: run python -m measure.figures"


def per_class(f1: dict) -> dict:
    return {c: {"support": 10 if c in f1 else 0, "f1": f1.get(c, 0.0)} for c in ("N", "L", "R", "V", "A", "S")}


@pytest.fixture
def made_up_root(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "weights").mkdir()
    scores = {"n_beats": 1000, "accuracy": 0.9, "macro_f1": 0.61, "per_class": per_class({"N": 0.97, "V": 0.42})}
    shifts = {k: {"macro_f1": v} for k, v in (("-20", 0.3), ("-10", 0.5), ("10", 0.55), ("20", 0.35))}
    noise = {kind: {snr: {"drop": drop} for snr, drop in (("12", d12), ("6", d6))}
             for kind, d12, d6 in (("bw", 0.2, 0.3), ("pink", 0.04, 0.2), ("motion", 0.01, 0.02))}
    (tmp_path / "reports" / "evaluation.json").write_text(json.dumps(
        {"weights_sha256": "abc123", "ds2": {"five_class": scores}, "shifts": shifts, "noise": noise,
         "clean_accuracy": 0.9}))
    (tmp_path / "reports" / "record_mode.json").write_text(json.dumps({
        "weights_sha256": "abc123", "detection": {"mitdb": {"sensitivity": 0.99761, "positive_predictivity": 0.9958}},
        "splits": {"DS2, record mode's labels": {"five_class": {**scores, "macro_f1": 0.7},
                                                 "aami": {"per_class": per_class({"S": 0.123})}},
                   "SVDB, record mode's labels": {"five_class": scores,
                                                  "aami": {"per_class": per_class({"S": 0.456})}}}}))
    oof = {db: {"five_class": scores} for db in ("mitdb", "svdb", "ptbxl")}
    (tmp_path / "weights" / "ecgcnn.json").write_text(json.dumps(
        {"weights_sha256": "abc123", "cross_validation": {"scores": oof}}))
    return tmp_path


def test_the_table_reads_each_figure_from_its_report(made_up_root):
    table = figures.table(made_up_root)
    rows = table.splitlines()
    assert rows[2].endswith("| 0.97 | – | – | 0.42 | – | 0.69 |"), "classes without beats: dashes, not in the macro"
    assert rows[3].endswith("| 0.97 | – | – | 0.42 | 0.12 | 0.69 |"), "whole recording: A's cell is AAMI S"
    assert "mitdb sensitivity 0.9976, +P 0.9958" in table and "macro-F1 0.500 (early) and 0.550 (late)" in table


def test_a_report_measured_on_other_weights_is_refused(made_up_root):
    stale = json.loads((made_up_root / "reports" / "record_mode.json").read_text())
    stale["weights_sha256"] = "older"
    (made_up_root / "reports" / "record_mode.json").write_text(json.dumps(stale))
    with pytest.raises(ValueError, match="record_mode.json was measured on other weights"):
        figures.table(made_up_root)


def test_render_replaces_only_the_block_between_the_markers(made_up_root):
    text = f"before\n{figures.FIGURES_BEGIN}\nold figures\n{figures.FIGURES_END}\nafter\n"
    rendered = figures.render(text, made_up_root)
    assert rendered.startswith(f"before\n{figures.FIGURES_BEGIN}\n| F1 on patients") and rendered.endswith(
        f"{figures.FIGURES_END}\nafter\n")
    assert "old figures" not in rendered


def test_svdb_whole_recordings_count_only_when_scored_out_of_fold(made_up_root):
    assert "0.46" not in figures.table(made_up_root), "in sample, SVDB's patients trained the models"
    path = made_up_root / "reports" / "record_mode.json"
    path.write_text(json.dumps(dict(json.loads(path.read_text()), training_out_of_fold=True)))
    row = figures.table(made_up_root).splitlines()[4]
    assert row.startswith("| whole recording, SVDB's detected beats, out of fold") and row.endswith("| 0.46 | 0.69 |")


def test_the_noise_table_judges_only_the_families_training_never_used(made_up_root):
    rows = figures.noise_table(made_up_root).splitlines()
    assert rows[0].startswith("DS2 accuracy, change from clean 0.900")
    bw, pink, motion = rows[4:7]
    assert bw.startswith("| baseline wander") and bw.endswith("| −0.200 | −0.300 |  |")
    assert pink.endswith("| −0.040 | −0.200 | missed at 6 dB by 0.050 |")
    assert motion.endswith("| −0.010 | −0.020 | met |")
