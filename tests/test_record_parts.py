"""Whole-record analysis part by part: how a recording is read in stretches, what the progress bar and the beat table
say, and how agreement with a reference annotation is scored. Written from mutation testing (docs/mutation.md): each
test failed on a deliberate breakage the others let pass."""

import numpy as np
import pandas as pd
import pytest
import wfdb

import inference
from ecg import record
from ecg.synthetic import synthetic_ecg
from inference import InputError

FS = 360


def reference_of(samples, symbols) -> wfdb.Annotation:
    return wfdb.Annotation("ref", "atr", sample=np.asarray(samples), symbol=list(symbols))


def test_agreement_can_leave_ventricular_flutter_out_of_both_sides_as_ec57_scores_detection():
    peaks = np.arange(400, 36000, 300)
    marks = [2000, 5000]  # '[' and ']' around the beats between them
    samples = np.sort(np.concatenate([peaks, marks]))
    symbols = np.where(samples == marks[0], "[", np.where(samples == marks[1], "]", "N"))
    inside = (peaks >= marks[0]) & (peaks <= marks[1])
    table = pd.DataFrame({"sample": peaks[~inside | (np.arange(len(peaks)) % 2 == 0)], "label": "N",
                          "beat_label": "N"})
    everything = record.agreement(table, reference_of(samples, symbols), FS)
    assert everything["reference_beats"] == len(peaks) and everything["sensitivity"] < 1
    skipped = record.agreement(table, reference_of(samples, symbols), FS, skip_flutter=True)
    assert skipped["reference_beats"] == len(peaks) - inside.sum()
    assert skipped["detected_beats"] == (~inside).sum()
    assert skipped["sensitivity"] == 1.0 and skipped["positive_predictivity"] == 1.0


def test_agreement_gives_the_offsets_quartiles_and_hands_back_each_matched_beats_classes():
    peaks = np.arange(400, 400 + 101 * 300, 300)
    offsets = np.arange(101) % 41  # 0 to 40 samples late, well inside the 150 ms window
    labels = np.array(["N", "V", "A"] * 34)[:101]
    beat_labels = np.array(["N", "N", "A"] * 34)[:101]
    table = pd.DataFrame({"sample": peaks + offsets, "label": labels, "beat_label": beat_labels})
    agreed = record.agreement(table, reference_of(peaks, ["N"] * 101), FS)
    quartiles = np.percentile(offsets, [25, 50, 75])
    assert agreed["peak_offset_median"] == quartiles[1]
    assert agreed["peak_offset_iqr"] == quartiles[2] - quartiles[0]
    assert agreed["detected_beats"] == 101
    np.testing.assert_array_equal(agreed["truth"], ["N"] * 101)
    np.testing.assert_array_equal(agreed["predicted"], labels)
    np.testing.assert_array_equal(agreed["predicted_beat_only"], beat_labels)


def test_agreement_lists_what_other_beats_were_called_most_often_first():
    peaks = np.arange(400, 36000, 300)
    symbols = np.array(["N"] * len(peaks), dtype=object)
    symbols[[1, 2, 3]] = "F"
    symbols[[4, 5]] = "/"
    labels = np.array(["N"] * len(peaks), dtype=object)
    labels[[4, 5]] = "V"
    table = pd.DataFrame({"sample": peaks, "label": labels, "beat_label": labels})
    agreed = record.agreement(table, reference_of(peaks, symbols), FS)
    assert list(agreed["other_beats_called"].items()) == [("F as N", 3), ("/ as V", 2)]


def test_agreement_with_no_beat_matched_says_so_rather_than_inventing_figures():
    peaks = np.arange(400, 36000, 300)
    table = pd.DataFrame({"sample": peaks + 150, "label": "N", "beat_label": "N"})
    agreed = record.agreement(table, reference_of(peaks, ["N"] * len(peaks)), FS)
    assert agreed["sensitivity"] == 0.0 and agreed["detected_beats"] == len(peaks)
    assert np.isnan(agreed["peak_offset_median"]) and np.isnan(agreed["peak_offset_iqr"])
    assert np.isnan(agreed["class_agreement"]) and agreed["matched_known_beats"] == 0


def reader_of(signal: np.ndarray, reads: list):
    def read(start: int, stop: int) -> np.ndarray:
        reads.append((start, stop))
        return signal[start:stop]
    return read


def test_a_recording_up_to_one_margin_longer_than_a_stretch_is_read_whole_and_a_longer_one_in_stretches():
    margin = int(record.MARGIN_S * FS)
    signal, _ = synthetic_ecg(seconds=200, seed=2)
    reads = []
    record.analyze_stretches(reader_of(signal[:60 * FS + margin], reads), 60 * FS + margin, FS, segment_s=60)
    assert reads == [(0, 60 * FS + margin)]
    reads.clear()
    record.analyze_stretches(reader_of(signal, reads), len(signal), FS, segment_s=60)
    assert reads == [(0, 70 * FS), (50 * FS, 130 * FS), (110 * FS, 190 * FS), (170 * FS, 200 * FS)]


def test_the_beat_table_has_its_columns_in_order():
    signal, _ = synthetic_ecg(seconds=20, seed=1)
    table = record.analyze(signal, FS)
    assert list(table.columns[:8]) == ["sample", "time_s", "label", "confidence", "beat_label", "beat_confidence",
                                       "rr_before_s", "rr_after_s"]
    np.testing.assert_allclose(table["rr_after_s"].to_numpy()[:-1], np.diff(table["sample"]) / FS)
    assert np.isnan(table["rr_after_s"].iloc[-1]) and np.isnan(table["rr_before_s"].iloc[0])


def test_progress_climbs_stretch_by_stretch_to_done():
    signal, _ = synthetic_ecg(seconds=200, seed=2)
    said = []
    record.analyze_stretches(reader_of(signal, []), len(signal), FS, progress=lambda f, m: said.append((f, m)),
                             segment_s=60)
    fractions = [f for f, _ in said]
    assert fractions == sorted(fractions) and 0 < fractions[0] < 0.25 and said[-1] == (1.0, "done")
    messages = [m for _, m in said]
    assert messages.count("finding R-peaks") == 4 and "resampling to 360 Hz" in messages
    assert any(m.startswith("classifying ") and m.endswith(" beats") for m in messages)
    assert max(f for f, m in said[:-1]) < 1.0
    also = []
    record.analyze(signal[:20 * FS], FS, progress=lambda f, m: also.append(m))
    assert also[-1] == "done"


@pytest.mark.parametrize("signal, message", [
    (np.zeros(10 * FS), "The recording is flat: every sample has the same value."),
    (np.random.default_rng(0).normal(0, 1e-9, 10 * FS) + np.sin(np.arange(10 * FS) / FS * 2 * np.pi * 0.05),
     "No heartbeat was found in the recording. Is it an ECG lead at the rate stated?"),
])
def test_recordings_with_nothing_to_classify_are_refused_in_full(signal, message):
    with pytest.raises(InputError) as err:
        record.analyze(signal, FS)
    assert str(err.value) == message


def test_context_is_on_unless_turned_off_and_the_atypical_column_stays_either_way(monkeypatch):
    def all_v(params, probabilities, peaks, fs, windows, beats):
        answer = np.zeros_like(probabilities)
        answer[:, inference.CLASSES.index("V")] = 1.0
        return answer

    monkeypatch.setattr(record.context, "apply", all_v)
    loaded = inference.shipped_model()
    models = record.Models(loaded.model, {"made up": True}, loaded.metadata["typicality"])
    signal, _ = synthetic_ecg(seconds=20, seed=1)
    read = reader_of(signal, [])
    with_context = record.analyze_stretches(read, len(signal), FS, models=models)
    assert (with_context["label"] == "V").all()
    without = record.analyze_stretches(read, len(signal), FS, models=models, use_context=False)
    np.testing.assert_array_equal(without["label"], without["beat_label"])
    assert "atypical" in without.columns and "atypical" in with_context.columns


def test_one_stretch_reports_its_steps_in_order():
    signal, _ = synthetic_ecg(seconds=20, seed=1)
    said = []
    table = record.analyze(signal, FS, progress=lambda f, m: said.append((f, m)))
    assert said == [(0.1, "resampling to 360 Hz"), (0.3, "finding R-peaks"), (0.6, f"classifying {len(table)} beats"),
                    (1.0, "done")]


def test_a_non_finite_sample_is_named_by_its_place_in_the_whole_recording():
    signal, _ = synthetic_ecg(seconds=200, seed=2)
    signal[100 * FS + 7] = np.nan
    with pytest.raises(InputError) as err:
        record.analyze_stretches(reader_of(signal, []), len(signal), FS, segment_s=60)
    assert str(err.value) == f"Sample {100 * FS + 7} is NaN or infinite; every sample must be a real number."


def test_a_recording_too_short_or_without_a_rate_is_refused_in_full():
    with pytest.raises(InputError) as err:
        record.analyze(np.zeros(FS // 2), FS)
    assert str(err.value) == ("The recording is 0.50 s long, too short for one beat with its neighbours: at least 2 s "
                              "is needed.")
    with pytest.raises(InputError) as err:
        record.analyze(np.zeros(10 * FS), None)
    assert str(err.value) == "No sampling rate given. State the rate of the recording in Hz (100 to 1000)."


def test_read_in_stretches_each_beat_takes_the_context_of_its_block_counted_from_the_recordings_start(
        monkeypatch, numbered_context):
    """Stretches of 60 s and context blocks of 50 s: a beat's block is where it lies in the recording, not in the
    stretch it was read with, and each block's context reads only its own beats and a margin's."""
    monkeypatch.setattr(record, "CONTEXT_S", 50.0)
    sizes = numbered_context
    signal, _ = synthetic_ecg(seconds=200, seed=5)
    models = record.Models(inference.shipped_model().model, {"made up": True})
    table = record.analyze_stretches(reader_of(signal, []), len(signal), FS, segment_s=60, models=models)
    calls_per_stretch = [2, 2, 2, 1]  # blocks 0-50 s and 50-100 s overlap stretch 0-60 s, and so on
    first_block = np.cumsum([0] + calls_per_stretch[:-1])
    stretch = table["sample"].to_numpy() // (60 * FS)
    block = table["sample"].to_numpy() // (50 * FS)
    first_in_stretch = (stretch * 60) // 50
    call = first_block[stretch] + block - first_in_stretch + 1
    np.testing.assert_array_equal(table["label"], np.asarray(inference.CLASSES)[call % len(inference.CLASSES)])
    assert max(sizes) < len(table) / 2


def test_the_summary_counts_each_class_and_gives_the_mean_heart_rate():
    table = pd.DataFrame({"label": ["N", "N", "V", "A"], "rr_after_s": [0.8, 0.7, 0.9, np.nan]})
    summary = record.summary(table, 10 * FS, FS)
    assert summary["per_class"] == {"N": 2, "L": 0, "R": 0, "V": 1, "A": 1}
    assert summary["mean_heart_rate_bpm"] == pytest.approx(75.0)
    assert summary["duration_s"] == 10.0 and summary["atypical"] is None
    one = record.summary(table.iloc[3:], 10 * FS, FS)
    assert np.isnan(one["mean_heart_rate_bpm"]) and one["beats"] == 1


def test_annotations_are_written_into_a_new_folder_and_read_back_at_the_records_rate(tmp_path):
    table = pd.DataFrame({"sample": [100, 400, 700], "label": ["N", "V", "A"], "beat_label": ["N", "N", "A"]})
    path = record.write_annotations(table, "strip", 250, tmp_path / "new" / "folder")
    written = wfdb.rdann(str(path.with_suffix("")), record.ANNOTATION_EXTENSION)
    assert written.sample.tolist() == [100, 400, 700] and written.symbol == ["N", "V", "A"]
    assert written.fs == 250 and written.aux_note == ["beat model: N", "beat model: N", "beat model: A"]
