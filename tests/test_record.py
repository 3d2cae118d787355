"""Whole-record analysis on synthetic signals and WFDB records written by the tests themselves."""

import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
import wfdb
from conftest import ROOT, matched_share, write_record

import inference
from databases import mitbih
from ecg import record, record_files
from ecg.synthetic import synthetic_ecg
from inference import InputError
from model import ECGCNN


def test_every_beat_is_found_and_classified_at_its_own_sample():
    signal, peaks = synthetic_ecg()
    table = record.analyze(signal, 360)
    assert {"sample", "time_s", "label", "confidence"} <= set(table.columns)
    assert len(table) == len(peaks)
    assert matched_share(table["sample"].to_numpy(), peaks, tolerance=3) == 1.0
    np.testing.assert_allclose(table["time_s"], table["sample"] / 360)
    assert table["label"].isin(["N", "L", "R", "V", "A"]).all()
    assert ((table["confidence"] > 0) & (table["confidence"] <= 1)).all()


def test_record_mode_classifies_with_the_models_it_is_given():
    """measure.record_eval scores each training patient with the fold model that never saw it: the beat model
    handed to record mode must be the one that answers, for every beat."""
    signal, peaks = synthetic_ecg()
    sure_of_v = ECGCNN().eval()
    with torch.no_grad():
        sure_of_v.head[-1].bias.copy_(torch.tensor([0.0, 0.0, 0.0, 50.0, 0.0]))
    table = record.analyze(signal, 360, models=record.Models(sure_of_v, None))
    assert len(table) == len(peaks)
    assert (table["beat_label"] == "V").all() and (table["label"] == "V").all()
    assert (record.analyze(signal, 360)["beat_label"] != "V").any()


@pytest.mark.parametrize("fs", [100, 250, 500, 1000])
def test_other_rates_are_resampled_and_reported_at_the_input_positions(fs):
    signal, peaks = synthetic_ecg(fs=fs)
    table = record.analyze(signal, fs)
    assert len(table) == len(peaks)
    assert matched_share(table["sample"].to_numpy(), peaks, tolerance=max(2, int(0.01 * fs))) == 1.0
    np.testing.assert_allclose(table["time_s"], table["sample"] / fs)


@pytest.mark.parametrize("signal, fs, message", [
    (np.ones(3600), 360, "flat"),
    (np.zeros(100), 360, "too short"),
    (synthetic_ecg()[0], 50, "outside what the app resamples"),
    (synthetic_ecg()[0], None, "No sampling rate"),
    (np.r_[synthetic_ecg()[0], np.nan], 360, "NaN"),
    (np.zeros((2, 5000)), 360, "one lead"),
])
def test_unusable_signals_are_refused_with_a_reason(signal, fs, message):
    with pytest.raises(InputError, match=message):
        record.analyze(signal, fs)


def test_a_wfdb_record_is_read_on_its_mlii_lead_and_compared_with_its_atr(tmp_path):
    header, peaks = write_record(tmp_path, names=("V1", "MLII"))
    rec = record_files.read_wfdb(header)
    assert rec.lead == "MLII" and rec.fs == 360 and rec.reference is not None
    np.testing.assert_allclose(rec.signal, synthetic_ecg()[0], atol=0.01)
    table = record.analyze(rec.signal, rec.fs)
    agreed = record.agreement(table, rec.reference, rec.fs)
    assert agreed["sensitivity"] == 1.0 and agreed["positive_predictivity"] == 1.0
    assert agreed["reference_beats"] == len(peaks)


def test_a_record_without_mlii_asks_for_a_channel(tmp_path):
    header, _ = write_record(tmp_path, names=("V1", "V5"))
    with pytest.raises(InputError, match="no MLII lead; choose a channel: 0 \\(V1\\), 1 \\(V5\\)"):
        record_files.read_wfdb(header)
    assert record_files.read_wfdb(header, channel=1).lead == "V5"


def test_a_truncated_dat_file_is_refused(tmp_path):
    header, _ = write_record(tmp_path)
    dat = tmp_path / "syn.dat"
    dat.write_bytes(dat.read_bytes()[:5000])
    with pytest.raises(InputError, match="truncated or does not belong to this header"):
        record_files.read_wfdb(header)


def test_a_header_that_promises_more_samples_than_its_data_is_refused(tmp_path):
    header, _ = write_record(tmp_path)
    lines = header.read_text().splitlines()
    first = lines[0].split()
    first[3] = str(int(first[3]) * 2)
    header.write_text("\n".join([" ".join(first)] + lines[1:]) + "\n")
    with pytest.raises(InputError, match="truncated or does not belong"):
        record_files.read_wfdb(header)


def test_a_missing_dat_file_is_named(tmp_path):
    header, _ = write_record(tmp_path)
    (tmp_path / "syn.dat").unlink()
    with pytest.raises(InputError, match="syn.dat named in syn.hea is missing"):
        record_files.read_wfdb(header)


def test_uploads_in_separate_folders_are_put_back_together(tmp_path):
    (tmp_path / "made").mkdir()
    header, _ = write_record(tmp_path / "made")
    uploads = []
    for i, f in enumerate(sorted((tmp_path / "made").iterdir())):
        (tmp_path / f"u{i}").mkdir()
        uploads.append((tmp_path / f"u{i}" / f.name))
        uploads[-1].write_bytes(f.read_bytes())
    (tmp_path / "together").mkdir()
    source = record_files.open_uploads(uploads, None, None, tmp_path / "together")
    assert source.name == "syn" and source.lead == "MLII" and source.reference() is not None
    assert sorted(f.name for f in (tmp_path / "together").iterdir()) == ["syn.atr", "syn.dat", "syn.hea"]


@pytest.mark.parametrize("files, message", [
    ([], "No file uploaded"),
    (["a.exe"], "not read"),
    (["a.dat"], "Found 0 .hea files"),
])
def test_uploads_that_are_not_a_recording_are_refused(tmp_path, files, message):
    paths = []
    for name in files:
        (tmp_path / name).write_bytes(b"\x00" * 10)
        paths.append(tmp_path / name)
    with pytest.raises(InputError, match=message):
        record_files.open_uploads(paths, 360, None, tmp_path)


def test_an_upload_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(record_files, "MAX_UPLOAD_BYTES", 1000)
    big = tmp_path / "big.csv"
    big.write_text("1\n" * 1000)
    with pytest.raises(InputError, match="over the limit"):
        record_files.open_uploads([big], 360, None, tmp_path)


def test_a_csv_with_a_header_row_is_read_and_text_inside_it_is_refused(tmp_path):
    signal, peaks = synthetic_ecg()
    good = tmp_path / "ecg.csv"
    good.write_text("MLII (mV)\n" + "\n".join(f"{v:.5f}" for v in signal))
    source = record_files.open_uploads([good], 360, None, tmp_path)
    np.testing.assert_allclose(source.read(0, source.n_samples), signal, atol=1e-5)
    np.testing.assert_allclose(source.read(100, 200), signal[100:200], atol=1e-5)
    bad = tmp_path / "bad.csv"
    bad.write_text("mv\n0.1\n0.2\nlead off\n0.3\n")
    with pytest.raises(InputError, match="row 4: 'lead off' is not a number"):
        record_files.open_uploads([bad], 360, None, tmp_path)
    with pytest.raises(InputError, match="state their sampling rate"):
        record_files.open_uploads([good], None, None, tmp_path)


def test_results_are_written_as_a_wfdb_annotation_that_reads_back(tmp_path):
    signal, _ = synthetic_ecg()
    table = record.analyze(signal, 360)
    path = record.write_annotations(table, "syn", 360, tmp_path)
    ann = wfdb.rdann(str(tmp_path / "syn"), "cnn")
    assert path.suffix == ".cnn"
    np.testing.assert_array_equal(ann.sample, table["sample"])
    assert ann.symbol == table["label"].tolist()
    assert ann.aux_note == [f"beat model: {b}" for b in table["beat_label"]]


# +P of NeuroKit2's detector, used before gqrs: 113 0.633, 231 0.793, 232 0.966; of gqrs without the
# T-wave test: 113 0.967.
@pytest.mark.parametrize("number, trouble, least_positive_predictivity", [
    (113, "tall T waves", 0.985), (231, "blocked P waves", 0.99), (232, "long pauses", 0.99)])
def test_real_records_that_fooled_the_first_detector_are_detected(data_dir, number, trouble,
                                                                 least_positive_predictivity):
    rec = record_files.read_wfdb(data_dir / f"{number}.hea")
    agreed = record.agreement(record.analyze(rec.signal, rec.fs), rec.reference, rec.fs)
    assert agreed["sensitivity"] > 0.995, trouble
    assert agreed["positive_predictivity"] > least_positive_predictivity, trouble


def test_a_real_record_is_detected_and_windowed_exactly_as_in_training(data_dir):
    rec = record_files.read_wfdb(data_dir / "100.hea")
    table = record.analyze(rec.signal, rec.fs)
    agreed = record.agreement(table, rec.reference, rec.fs)
    assert agreed["sensitivity"] > 0.995 and agreed["positive_predictivity"] > 0.995
    beats = mitbih.record_beats(100, data_dir)
    on_the_mark = table[table["sample"].isin(beats.peaks)]
    assert len(on_the_mark) > 0.8 * len(beats), "most detections should land on the annotated sample"
    expected = inference.predict_proba(beats.windows[np.searchsorted(beats.peaks, on_the_mark["sample"])])
    np.testing.assert_allclose(on_the_mark[[f"p_{c}" for c in inference.CLASSES]].to_numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("name, content, says", [
    ("missing.hea", None, "No header missing.hea"),
    ("missing.csv", None, "No file"),
    ("broken.hea", "not a header\n", "could not be read"),
    ("words.csv", "a\nb\nc\n", "is not a number"),
])
def test_command_line_names_a_bad_file_in_one_line_and_exits_2(tmp_path, name, content, says):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    done = subprocess.run([sys.executable, "-m", "ecg.analyze", str(path), "--fs", "360"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and name in lines[0] and says in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_agreement_reports_where_detected_peaks_sit_against_the_reference():
    peaks = np.arange(400, 36000, 300)
    reference = wfdb.Annotation("ref", "atr", sample=peaks, symbol=["N"] * len(peaks))
    late = peaks + np.where(np.arange(len(peaks)) % 2, 5, 7)
    table = pd.DataFrame({"sample": late, "label": "N", "beat_label": "N"})
    agreed = record.agreement(table, reference, 360)
    assert agreed["peak_offset_median"] == 7.0  # 60 beats 7 samples late, 59 beats 5
    assert agreed["peak_offset_iqr"] == pytest.approx(2.0)
    assert agreed["sensitivity"] == 1.0


def test_agreement_leaves_beats_of_other_classes_out_and_says_what_they_were_called():
    peaks = np.arange(400, 36000, 300)
    symbols = np.array(["N"] * len(peaks), dtype=object)
    symbols[[3, 10, 20]] = "F"
    symbols[30] = "/"
    reference = wfdb.Annotation("ref", "atr", sample=peaks, symbol=symbols.tolist())
    labels = np.array(["N"] * len(peaks), dtype=object)
    labels[[3, 10]] = "L"
    labels[5] = "V"
    table = pd.DataFrame({"sample": peaks, "label": labels, "beat_label": labels})
    agreed = record.agreement(table, reference, 360)
    assert agreed["matched_known_beats"] == len(peaks) - 4 and agreed["matched_other_beats"] == 4
    assert agreed["class_agreement"] == pytest.approx(1 - 1 / (len(peaks) - 4))
    assert agreed["other_beats_called"] == {"F as L": 2, "F as N": 1, "/ as N": 1}


def test_the_summary_counts_the_beats_the_atypical_warning_flags():
    signal, peaks = synthetic_ecg()
    table = record.analyze(signal, 360)
    assert record.summary(table, len(signal), 360)["atypical"] == int(table["atypical"].sum())
    shipped = record.shipped_models()
    strict = replace(shipped, typicality=dict(shipped.typicality, threshold=0.0))  # every beat unlike training's
    odd = record.analyze(signal, 360, models=strict)
    assert odd["atypical"].all()
    assert record.summary(odd, len(signal), 360)["atypical"] == len(odd) > 0


def test_command_line_writes_each_beat_beside_where_it_runs_and_says_where(tmp_path):
    signal, peaks = synthetic_ecg()
    path = tmp_path / "strip.csv"
    path.write_text("\n".join(f"{v:.5f}" for v in signal))
    workdir = tmp_path / "here"
    workdir.mkdir()
    done = subprocess.run([sys.executable, "-m", "ecg.analyze", str(path), "--fs", "360"], cwd=workdir,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    written = pd.read_csv(workdir / "strip_beats.csv")
    assert len(written) == len(peaks) and (written["record"] == "strip").all()
    assert "wrote" in done.stdout and "strip_beats.csv" in done.stdout


def test_each_beat_is_read_in_the_context_of_its_own_block(monkeypatch, numbered_context):
    """A Holter's rate and beat shape change through a day: context is measured per CONTEXT_S block (made 50 s
    here), with MARGIN_S either side, and each beat takes the answer of its own block."""
    monkeypatch.setattr(record, "CONTEXT_S", 50.0)
    calls = numbered_context
    signal, peaks = synthetic_ecg(seconds=200, seed=5)
    made_up_context = record.Models(inference.shipped_model().model, {"made up": True})
    table = record.analyze(signal, 360, segment_s=None, models=made_up_context)
    assert len(calls) == 4, "one context per 50-s block"
    block = table["sample"].to_numpy() // (50 * 360)
    np.testing.assert_array_equal(table["label"], np.asarray(inference.CLASSES)[(block + 1) % len(inference.CLASSES)])
    assert sum(calls) > len(table), "each block reads its neighbours' beats within the margin"


def test_a_long_recording_read_in_stretches_from_disk_gives_the_labels_of_the_whole_signal(tmp_path, monkeypatch):
    """Stretches of 60 s and context blocks of 60 s: the labels are those of the whole signal read at once."""
    monkeypatch.setattr(record, "CONTEXT_S", 60.0)
    signal, peaks = synthetic_ecg(seconds=200, seed=5)
    wfdb.wrsamp("long", fs=360, units=["mV"], sig_name=["MLII"], p_signal=signal[:, None], fmt=["16"],
                write_dir=str(tmp_path))
    source = record_files.open_wfdb(tmp_path / "long.hea")
    reads = []

    def read(start, stop):
        reads.append(stop - start)
        return source.read(start, stop)

    stretched = record.analyze_stretches(read, source.n_samples, source.fs, segment_s=60)
    whole = record.analyze(source.read(0, source.n_samples), 360, segment_s=None)
    assert max(reads) <= (60 + 2 * record.MARGIN_S) * 360 and len(reads) == 4
    np.testing.assert_array_equal(stretched["sample"], whole["sample"])
    np.testing.assert_array_equal(stretched["label"], whole["label"])
    assert matched_share(stretched["sample"].to_numpy(), peaks, tolerance=3) == 1.0
    assert stretched["sample"].is_monotonic_increasing and stretched["sample"].is_unique
    assert stretched["rr_before_s"].iloc[1:].between(0.6, 1.0).all()


def test_mit_bih_records_joined_into_ninety_minutes_agree_in_stretches_and_whole(data_dir):
    joined = np.concatenate([record_files.read_wfdb(data_dir / f"{n}.hea").signal for n in (100, 101, 103)])
    whole = record.analyze(joined, 360, segment_s=None)
    stretched = record.analyze(joined, 360)
    np.testing.assert_array_equal(stretched["sample"], whole["sample"])
    np.testing.assert_array_equal(stretched["label"], whole["label"])


def test_a_file_is_read_and_a_bad_one_refused_without_importing_the_model_or_the_detector(tmp_path):
    """The command line reads its file before the heavy imports, so a wrong path is answered at once."""
    code = ("import sys; from ecg import record_files\n"
            "try:\n    record_files.read_file(sys.argv[1], 360, None)\n"
            "except record_files.InputError as err:\n    print('refused:', err)\n"
            "print(sorted(m for m in ('torch', 'neurokit2', 'ecg.record', 'scipy.signal') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "absent.hea")], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert "refused: No header absent.hea" in done.stdout, done.stderr
    assert done.stdout.strip().endswith("[]"), done.stdout
