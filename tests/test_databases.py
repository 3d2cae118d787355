"""Database readers: re-centring, QRS width, PTB-XL's labelling rules, SVDB on a record the test writes.

Tests that read the real databases skip when ../shared/data (or $ECG_DATA_DIR) lacks them.
"""

from collections import Counter

import numpy as np
import pytest
import wfdb

from databases import beatset, ptbxl, svdb
from databases.labelled import qrs_width_ms, recentre
from measure.synthetic import ecg_with_beats_at

REGULAR_S = np.arange(0.6, 29.5, 0.8)


def test_marks_on_another_fiducial_are_moved_onto_the_r_peak():
    signal, peaks = ecg_with_beats_at(REGULAR_S, 30)
    moved, shift = recentre(signal, peaks + 7)
    assert shift == -7
    np.testing.assert_array_equal(moved, peaks)


def test_the_beat_cache_is_rebuilt_when_the_code_that_places_or_labels_beats_changes(tmp_path, monkeypatch):
    """A cached beat set made by other placement or labelling code must not be served to a training run."""
    (tmp_path / "databases").mkdir()
    (tmp_path / "ecg").mkdir()
    reader = tmp_path / "databases" / "reader.py"
    reader.write_text("RULE = 1\n")
    (tmp_path / "ecg" / "detection.py").write_text("PEAK = 'largest deflection'\n")
    monkeypatch.setattr(beatset, "REPOSITORY", tmp_path)
    sources = {"mitdb": ["101"]}
    first = beatset._cache_path("beats", sources, tmp_path / "cache", None)
    assert beatset._cache_path("beats", sources, tmp_path / "cache", None) == first
    pinned = beatset.beat_code()
    (tmp_path / "ecg" / "detection.py").write_text("PEAK = 'R wave'\n")
    second = beatset._cache_path("beats", sources, tmp_path / "cache", None)
    reader.write_text("RULE = 2\n")
    assert len({first, second, beatset._cache_path("beats", sources, tmp_path / "cache", None)}) == 3
    # a training run's workers keep the code its folds were drawn on, whatever is edited while it runs
    assert beatset._cache_path("beats", sources, tmp_path / "cache", pinned) == first


@pytest.mark.parametrize("width_s, wide", [(0.011, False), (0.015, False), (0.03, True), (0.04, True)])
def test_qrs_width_tells_narrow_from_wide_beats(width_s, wide):
    signal, peaks = ecg_with_beats_at(REGULAR_S, 30, qrs_width_s=width_s)
    assert (qrs_width_ms(signal, peaks) >= svdb.WIDE_QRS_MS) is wide


@pytest.mark.parametrize("statements, rule", [
    ({"CLBBB", "SR"}, "L"), ({"CRBBB", "LAFB", "SR"}, "R"), ({"CLBBB", "CRBBB"}, None),
    ({"NORM", "SR"}, "N"), ({"NORM", "SR", "1AVB"}, None), ({"NORM", "SARRH", "PAC"}, "A"),
    ({"IMI", "PVC", "SR"}, "V"), ({"CLBBB", "PACE"}, None), ({"NORM", "AFIB"}, None), ({"LVH", "SR"}, None),
])
def test_each_record_gets_the_rule_its_statements_allow(statements, rule):
    assert ptbxl.record_rule(statements) == rule


def _with_one_premature_beat(width_s: float) -> tuple[np.ndarray, np.ndarray, int]:
    times = np.arange(0.5, 9.6, 0.8)
    times[6] -= 0.3
    widths = np.full(len(times), 0.011)
    widths[6] = width_s
    signal, peaks = ecg_with_beats_at(times, 10, qrs_width_s=widths)
    return signal, peaks, 6


def test_a_premature_wide_beat_in_a_pvc_record_is_v_and_the_others_n():
    signal, peaks, ectopic = _with_one_premature_beat(0.04)
    labels = ptbxl.label_beats(signal, peaks, "V", {"PVC", "SR"})
    assert labels[ectopic] == "V"
    assert set(np.delete(labels, ectopic)) <= {"N", ""}
    assert (labels == "N").sum() >= len(peaks) - 3


def test_a_premature_narrow_beat_in_a_pac_record_is_a():
    signal, peaks, ectopic = _with_one_premature_beat(0.011)
    labels = ptbxl.label_beats(signal, peaks, "A", {"PAC", "SR"})
    assert labels[ectopic] == "A"
    assert Counter(labels.tolist())["A"] == 1


def test_in_a_bundle_branch_block_record_only_the_dominant_beats_are_labelled():
    signal, peaks, ectopic = _with_one_premature_beat(0.04)
    labels = ptbxl.label_beats(signal, peaks, "L", {"CLBBB", "SR"})
    assert labels[ectopic] == ""
    assert (labels == "L").sum() >= len(peaks) - 3


def test_no_normal_beats_are_taken_from_a_record_with_a_conduction_statement():
    signal, peaks, _ = _with_one_premature_beat(0.04)
    labels = ptbxl.label_beats(signal, peaks, "V", {"PVC", "IRBBB"})
    assert "N" not in set(labels)


def _write_svdb_like_record(folder, width_s: float, name: str = "900") -> np.ndarray:
    """A 128 Hz two-lead record whose marks sit 40 ms before the R-peak, with N, S, V and a rhythm note."""
    fs = 128
    signal, _ = ecg_with_beats_at(REGULAR_S, 30, fs=fs, qrs_width_s=width_s)
    peaks_360 = np.round(REGULAR_S * 360).astype(int)
    marks = np.round((REGULAR_S - 0.04) * fs).astype(int)
    symbols = ["N"] * len(marks)
    symbols[5], symbols[9] = "S", "V"
    wfdb.wrsamp(name, fs=fs, units=["mV", "mV"], sig_name=["ECG1", "ECG2"],
                p_signal=np.column_stack([signal, signal * 0.5]), fmt=["212", "212"], write_dir=str(folder))
    order = np.argsort(np.concatenate([marks, [marks[3] + 5]]), kind="stable")
    wfdb.wrann(name, "atr", np.concatenate([marks, [marks[3] + 5]])[order], np.array(symbols + ["+"])[order],
               aux_note=list(np.array([""] * len(marks) + ["(N"])[order]), write_dir=str(folder))
    (folder / "RECORDS").write_text(name + "\n")
    return peaks_360


def test_svdb_reader_maps_classes_and_recentres_on_the_r_peak(tmp_path):
    true_peaks = _write_svdb_like_record(tmp_path, 0.011)
    svdb.read.cache_clear()
    rec = svdb.read("900", tmp_path)
    assert svdb.records(tmp_path) == ["900"]
    assert rec.patient == "svdb:900" and rec.database == "svdb"
    assert Counter(rec.labels.tolist()) == {"N": len(true_peaks) - 2, "A": 1, "V": 1}
    assert rec.labels[5] == "A" and rec.labels[9] == "V"
    assert np.abs(rec.peaks - true_peaks).max() <= 3
    assert len(rec.signal) == 30 * 360


def test_svdb_patients_with_wide_qrs_give_no_normal_beats(tmp_path):
    _write_svdb_like_record(tmp_path, 0.035)
    svdb.read.cache_clear()
    rec = svdb.read("900", tmp_path)
    assert Counter(rec.labels.tolist()) == {"A": 1, "V": 1}


@pytest.fixture(scope="module")
def svdb_dir():
    if not svdb.records():
        pytest.skip(f"SVDB not found at {svdb.default_dir()}; set ECG_DATA_DIR to the folder holding svdb/")
    return svdb.default_dir()


def test_every_svdb_ectopic_beat_is_kept_and_only_wide_qrs_patients_lose_n(svdb_dir):
    read = [svdb.read(r) for r in svdb.records()]
    counts = Counter(label for rec in read for label in rec.labels.tolist())
    assert 7_415 <= counts["A"] <= 7_421 and 4_700 <= counts["V"] <= 4_707, "SOURCE.md: S 7,421, V 4,707"
    without_n = [rec.record for rec in read if "N" not in set(rec.labels)]
    assert 3 <= len(without_n) <= 10
    for rec in read:
        if "N" in set(rec.labels):
            assert qrs_width_ms(rec.signal, rec.peaks[rec.labels == "N"]) < svdb.WIDE_QRS_MS


def test_ptbxl_gives_l_and_r_beats_of_the_block_patients_its_statements_name():
    if ptbxl.metadata().empty:
        pytest.skip(f"PTB-XL not found at {ptbxl.default_dir()}; set ECG_DATA_DIR to the folder holding ptbxl/")
    patients: dict[str, set] = {"L": set(), "R": set()}
    for record in ptbxl.records():
        rec = ptbxl.read(record)
        for label in ("L", "R"):
            if label in set(rec.labels):
                patients[label].add(rec.patient)
    assert len(patients["L"]) == 7, "SOURCE.md: complete LBBB in 7 patients"
    assert len(patients["R"]) == 8, "SOURCE.md: complete RBBB in 8 patients"
