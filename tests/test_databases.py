"""Database readers: re-centring, QRS width, PTB-XL's labelling rules, SVDB on a record the test writes.

Tests that read the real databases skip when ../shared/data (or $ECG_DATA_DIR) lacks them.
"""

from collections import Counter

import numpy as np
import pytest
import wfdb

from databases import beatset, ptbxl, svdb
from databases.labelled import qrs_width_ms, recentre
from ecg.synthetic import ecg_with_beats_at

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
    ({"PVC", "AFIB"}, "V"), ({"PVC", "AFLT"}, None), ({"PVC", "AFIB", "PACE"}, None), ({"CRBBB", "AFIB"}, "R"),
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


def test_in_atrial_fibrillation_a_wide_beat_unlike_the_others_is_v_however_it_is_timed():
    rng = np.random.default_rng(3)
    times = np.cumsum(rng.uniform(0.45, 1.1, 12))
    widths = np.full(len(times), 0.011)
    widths[[4, 8]] = 0.045
    times[8] += 0.2  # late, not premature: in fibrillation timing tells nothing
    signal, peaks = ecg_with_beats_at(times, times[-1] + 0.6, qrs_width_s=widths)
    labels = ptbxl.label_beats(signal, peaks, "V", {"PVC", "AFIB"})
    assert np.flatnonzero(labels == "V").tolist() == [4, 8]
    assert set(np.delete(labels, [4, 8])) == {""}, "beats conducted in fibrillation are not labelled N"


def test_in_atrial_fibrillation_with_a_block_the_dominant_beats_take_the_block_whatever_their_timing():
    rng = np.random.default_rng(4)
    times = np.cumsum(rng.uniform(0.45, 1.1, 12))
    signal, peaks = ecg_with_beats_at(times, times[-1] + 0.6, qrs_width_s=0.03)
    labels = ptbxl.label_beats(signal, peaks, "L", {"CLBBB", "AFIB"})
    assert (labels == "L").sum() >= len(peaks) - 2


def _write_ptbxl_like_folder(root, folder: str, ecg_id: int, signal: np.ndarray, unit: str) -> None:
    """A PTB-XL folder with one 500 Hz record whose leads are all `signal`, and its metadata row."""
    base = root / folder
    (base / "records500").mkdir(parents=True)
    leads = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    wfdb.wrsamp(f"{ecg_id:05d}_hr", fs=500, units=[unit] * 12, sig_name=leads,
                p_signal=np.tile(signal[:, None], 12), fmt=["16"] * 12, adc_gain=[1000.0] * 12,
                baseline=[0] * 12, write_dir=str(base / "records500"))
    (base / "ptbxl_database.csv").write_text(
        'ecg_id,patient_id,filename_hr,scp_codes\n'
        f'{ecg_id},{ecg_id + 0.0},records500/{ecg_id:05d}_hr,"{{\'NORM\': 100.0, \'SR\': 0.0}}"\n')


def test_both_ptbxl_folders_are_read_in_millivolts_band_passed_once(tmp_path):
    """ptbxl-extra's unit-SD leads come back near mV; ptbxl's own leads lose their baseline drift as the
    other folder's did before it reached us, so that neither unit nor filter tells the folder."""
    signal, _ = ecg_with_beats_at(np.arange(0.5, 9.6, 0.8), 10, fs=500)
    drifting = signal + 2.0 + 0.5 * np.sin(2 * np.pi * 0.1 * np.arange(len(signal)) / 500)
    _write_ptbxl_like_folder(tmp_path, "ptbxl", 1, drifting, "mV")
    _write_ptbxl_like_folder(tmp_path, "ptbxl-extra", 900, signal / signal.std(), "SD")
    assert ptbxl.records(tmp_path) == ["1", "900"]
    own = ptbxl._leads_at_model_rate("1", ["II"], tmp_path)[0]
    extra = ptbxl._leads_at_model_rate("900", ["II"], tmp_path)[0]
    assert abs(own.mean()) < 0.01, "ptbxl's baseline is band-passed away"
    assert np.corrcoef(own, extra)[0, 1] > 0.95, "and its drift: what is left is the beats"
    assert extra.std() == pytest.approx(ptbxl.MV_PER_SD, rel=0.01)
    assert ptbxl.read("900", tmp_path).patient == "ptbxl:900"


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
    assert len(patients["L"]) == 20, "SOURCE.md of ptbxl and ptbxl-extra: complete LBBB in 7 + 13 patients"
    assert len(patients["R"]) == 17, "SOURCE.md of ptbxl and ptbxl-extra: complete RBBB in 8 + 9 patients"
