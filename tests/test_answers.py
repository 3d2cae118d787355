"""What a user reads: explain() answers as predict_proba() does, the verdict's warnings and share-right line, the
typicality distance, and the record tab's strip read from disk."""

from dataclasses import replace

import gradio as gr
import numpy as np
import pytest
import wfdb

import app
import inference
from databases import mitbih
from ecg import record_files, typicality
from ecg.synthetic import synthetic_beat, synthetic_ecg, varied_beat


@pytest.mark.parametrize("seed", range(8))
def test_explain_gives_the_probabilities_every_reported_figure_comes_from(seed):
    beat = varied_beat(seed)
    expected = inference.predict_proba(beat)[0]
    result = inference.explain(beat)
    np.testing.assert_allclose([result.probabilities[c] for c in inference.CLASSES], expected, atol=1e-6)
    assert result.label == inference.CLASSES[int(np.argmax(expected))]


@pytest.mark.parametrize("label", inference.CLASSES)
def test_the_share_right_line_gives_the_called_class_own_figure(label):
    measured = inference.shipped_model().metadata["cross_validation"]["confidence"]["all"]["per_call"]
    assert inference.right_share(inference.shipped_model().metadata, label) == measured[label]["right"]
    shares = {c: measured[c]["right"] for c in inference.CLASSES}
    assert len(set(shares.values())) > 1, "the classes' figures differ, so a mix-up would show"
    verdict = app.verdict_html(made_up(label, 0.9, atypical=False), None)
    assert f"{shares[label]:.0%} of its {label} calls were right" in verdict


def made_up(label: str, confidence: float, atypical: bool) -> inference.Explanation:
    rest = (1 - confidence) / 4
    return inference.Explanation(
        label=label, probabilities={c: confidence if c == label else rest for c in inference.CLASSES},
        saliency=np.zeros(180), atypicality=3.0 if atypical else 0.5, atypical=atypical,
        right_share=inference.right_share(inference.shipped_model().metadata, label))


@pytest.mark.parametrize("confidence, atypical, warned", [
    (0.9, False, set()), (0.45, False, {"Low confidence"}), (0.9, True, {"unlike the beats"}),
    (0.45, True, {"Low confidence", "unlike the beats"}),
])
def test_the_verdict_warns_of_low_confidence_and_atypical_beats_exactly_when_they_hold(confidence, atypical, warned):
    verdict = app.verdict_html(made_up("V", confidence, atypical), None)
    for warning in ("Low confidence", "unlike the beats"):
        assert (warning in verdict) is (warning in warned), warning
    assert verdict.count("verdict-warning") == len(warned)
    assert f"{confidence:.1%}" in verdict


def test_the_low_confidence_warning_starts_at_its_threshold():
    below = made_up("N", inference.LOW_CONFIDENCE - 0.01, atypical=False)
    at = made_up("N", inference.LOW_CONFIDENCE, atypical=False)
    assert below.low_confidence and not at.low_confidence


def test_a_reference_label_is_shown_agreeing_or_not():
    assert "the model agrees" in app.verdict_html(made_up("L", 0.8, False), "L")
    assert "the model disagrees" in app.verdict_html(made_up("L", 0.8, False), "R")


def test_typicality_is_the_standardised_distance_to_the_nearest_class_centre():
    stats = {"centres": [[0.0, 0.0], [10.0, 0.0]], "scale": [1.0, 2.0], "threshold": 2.0}
    points = np.array([[0.0, 0.0], [9.0, 0.0], [0.0, 4.0], [5.0, 0.0]])
    # RMS of the standardised differences: sqrt((dx^2 + (dy/2)^2) / 2)
    np.testing.assert_allclose(typicality.distance(points, stats), [0.0, np.sqrt(0.5), np.sqrt(2.0), np.sqrt(12.5)])


def test_an_ordinary_beat_is_not_flagged_atypical():
    assert not inference.explain(synthetic_beat()).atypical


def test_paced_beats_are_flagged_atypical_far_more_often_than_normal_beats(data_dir):
    """What the warning is for: beats outside the five classes. One made-up paced beat decides nothing (the
    warning catches some paced beats, not all), so MIT-BIH's paced records are set against DS2 patients' normal
    beats, every tenth beat."""
    paced = mitbih.load_beats(mitbih.PACED, data_dir, wanted=("/",)).windows[::10]
    normal = mitbih.load_beats(mitbih.DS2[:6], data_dir, wanted=("N",)).windows[::10]
    paced_share = np.mean([inference.explain(w).atypical for w in paced])
    normal_share = np.mean([inference.explain(w).atypical for w in normal])
    assert paced_share >= 0.10 and paced_share >= 10 * normal_share


def test_the_record_tab_keeps_the_recording_on_disk_and_reads_the_strip_from_it(tmp_path):
    signal, peaks = synthetic_ecg(seconds=60, seed=2)
    other = -np.roll(signal, 97)  # another lead of another shape: the strip must show the lead analysed
    wfdb.wrsamp("two", fs=360, units=["mV", "mV"], sig_name=["V1", "MLII"], p_signal=np.column_stack([other, signal]),
                fmt=["16", "16"], write_dir=str(tmp_path))
    outputs = app.analyze_recording([tmp_path / "two.hea", tmp_path / "two.dat"], 360, app.AUTOMATIC_LEAD, True,
                                    progress=lambda *args, **kwargs: None)
    strip = outputs[-1]
    assert isinstance(strip.source, record_files.WfdbSource) and strip.source.lead == "MLII"
    assert not any(isinstance(v, np.ndarray) and v.size > len(peaks) for v in vars(strip).values()), \
        "the strip keeps beats and labels, not the samples"
    np.testing.assert_allclose(strip.source.read(3600, 3700), signal[3600:3700], atol=1e-3)
    figure = strip.figure(20.0)
    line = figure.axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), signal[7200:10800], atol=1e-3)
    app.forget_strip(strip)
    assert not strip.folder.exists()


def test_a_moved_strip_whose_files_are_gone_is_refused_with_a_message(tmp_path):
    signal, _ = synthetic_ecg(seconds=30)
    csv = tmp_path / "strip.csv"
    csv.write_text("\n".join(f"{v:.5f}" for v in signal))
    strip = app.analyze_recording([csv], 360, None, True, progress=lambda *args, **kwargs: None)[-1]
    assert isinstance(strip.source, record_files.ArraySource)
    app.forget_strip(strip)
    gone = replace(strip, source=replace(strip.source, path=tmp_path / "absent.npy"))
    with pytest.raises(gr.Error, match="upload the file again"):
        app.move_strip(gone, 5.0)


def test_the_record_summary_names_the_premature_beats_found_and_the_atypical_ones():
    counts = {"beats": 100, "duration_s": 90.0, "per_class": {"N": 90, "L": 0, "R": 0, "V": 7, "A": 3},
              "mean_heart_rate_bpm": 66.0, "atypical": 4}
    summary = app.summary_html("rec", "MLII", 360, counts, None, use_context=False)
    assert "Found 7 premature ventricular (V) and 3 atrial premature (A) beats" in summary
    assert "4 of 100 beats look unlike" in summary
    assert "look unlike" not in app.summary_html("rec", "MLII", 360, dict(counts, atypical=0), None, False)


def test_the_page_shows_the_first_beats_and_the_summary_says_the_csv_holds_them_all(monkeypatch):
    import pandas as pd

    table = pd.DataFrame({c: range(12) for c in app.TABLE_COLUMNS})
    monkeypatch.setattr(app, "TABLE_ROWS", 5)
    assert len(app.beats_table(table)) == 5
    counts = {"beats": 12, "duration_s": 9.0, "per_class": dict.fromkeys("NLRVA", 0), "mean_heart_rate_bpm": 80.0,
              "atypical": 0}
    assert "shows the first 5 beats; the CSV download holds every beat" in app.summary_html(
        "rec", "MLII", 360, counts, None, False)
    assert "CSV download holds" not in app.summary_html("rec", "MLII", 360, dict(counts, beats=5), None, False)


def test_the_verdict_reads_as_written_with_both_warnings_and_a_reference():
    result = replace(made_up("V", 0.45, atypical=True), right_share=0.93)
    assert app.verdict_html(result, "N") == (
        '<div class="verdict verdict-V"><div class="verdict-class">V: Premature ventricular contraction</div>'
        '<div class="verdict-meta">AAMI group V · confidence <span class="verdict-confidence">45.0%</span></div>'
        '<div class="verdict-warning">⚠ Low confidence: the model gives this class only 45%. Treat the answer as '
        'uncertain.</div>'
        '<div class="verdict-warning">⚠ This beat looks unlike the beats the model learned from. It may be paced, a '
        'fusion beat, noise, another lead or not centred on its R-peak: the five classes may not apply.</div>'
        '<div class="verdict-meta">On patients it never trained on (cross-validation), 93% of its V calls were '
        'right.</div>'
        '<div class="verdict-reference">Reference annotation (MIT-BIH): N, Normal beat: <span class="mismatch">'
        'the model disagrees</span></div></div>')
    assert "calls were right" not in app.verdict_html(replace(result, right_share=None), None)


def test_the_record_summary_reads_as_written_against_a_reference():
    counts = {"beats": 120, "duration_s": 90.0, "per_class": {"N": 100, "L": 0, "R": 10, "V": 7, "A": 3},
              "mean_heart_rate_bpm": 80.4, "atypical": 0}
    agreed = {"reference_beats": 121, "sensitivity": 0.99, "positive_predictivity": 0.995, "matched_known_beats": 118,
              "class_agreement": 0.9321, "matched_other_beats": 0, "other_beats_called": {}}
    assert app.summary_html("100", "MLII", 360, counts, agreed, use_context=False) == (
        '<div class="verdict"><div class="verdict-class">120 beats in 1.5 min</div>'
        '<div class="verdict-meta">Record 100, lead MLII, 360 Hz · mean heart rate 80 bpm</div>'
        '<div class="verdict-meta">Found 7 premature ventricular (V) and 3 atrial premature (A) beats · N 100 · L 0 · '
        'R 10 · V 7 · A 3</div>'
        '<div class="verdict-meta">Labels come from the beat model alone; the table keeps the beat model\'s own '
        'answer as beat_label.</div>'
        '<div class="verdict-reference">Against the uploaded .atr (121 beats): detection sensitivity 99.00%, +P '
        '99.50%; class agreement on 118 matched N/L/R/V/A beats 93.2%.</div></div>')
    one_beat = app.summary_html("100", "MLII", 360, dict(counts, beats=1), None, use_context=False)
    assert "mean heart rate n/a" in one_beat


def test_reference_beats_outside_the_five_classes_are_named_six_at_most():
    called = {f"{s} as N": 10 - i for i, s in enumerate("FQ/fjJe")}
    agreed = {"matched_other_beats": 49, "other_beats_called": called}
    assert app.outside_classes(agreed) == (" 49 matched reference beats lie outside the five classes and are not in "
                                           "that figure (reference as label: F as N 10, Q as N 9, / as N 8, f as N 7, "
                                           "j as N 6, J as N 5).")
    assert app.outside_classes({"matched_other_beats": 0, "other_beats_called": {}}) == ""


def test_the_lead_picker_offers_automatic_then_each_lead_of_the_header(tmp_path):
    signal, _ = synthetic_ecg(seconds=10)
    wfdb.wrsamp("two", fs=360, units=["mV", "mV"], sig_name=["V1", "MLII"], p_signal=np.column_stack([signal, signal]),
                fmt=["16", "16"], write_dir=str(tmp_path))
    assert app.lead_choices([tmp_path / "two.hea", tmp_path / "two.dat"]) == [
        ("Automatic (MLII)", app.AUTOMATIC_LEAD), ("0: V1", "0"), ("1: MLII", "1")]
    for automatic in (None, "", app.AUTOMATIC_LEAD):
        assert app.channel_number(automatic) is None
    assert app.channel_number("1") == 1 and app.channel_number(0) == 0
    with pytest.raises(inference.InputError) as err:
        app.channel_number("the second lead of the record")
    assert str(err.value) == ("Lead 'the second lead of t' is not a channel number: choose a lead from the list, or "
                              "leave it automatic for MLII.")


def test_the_context_switch_says_what_the_shipped_context_reads_and_nothing_without_one(monkeypatch):
    label, note = app.context_switch_text()
    params = app.context.shipped_params(inference.WEIGHTS_DIR)
    assert label == f"Read each beat in its context ({app.context.reads(params)})"
    assert note.startswith(app.context.re_decides(params) + " Fitted on what the beat model answered")
    monkeypatch.setattr(app.context, "shipped_params", lambda folder: None)
    label, note = app.context_switch_text()
    assert label == "Read each beat in its context"
    assert note == ("Fitted on what the beat model answered for patients it never trained on (MIT-BIH DS1 and SVDB, "
                    "cross-validated). Off: the beat model alone.")


def test_the_record_summary_reads_as_written_with_context_and_atypical_beats():
    counts = {"beats": 2, "duration_s": 3660.0, "per_class": {"N": 1, "L": 0, "R": 0, "V": 1, "A": 0},
              "mean_heart_rate_bpm": 61.0, "atypical": 1}
    reads = app.context.reads(app.record.context_params())
    assert app.summary_html("x", "II", 128, counts, None, use_context=True) == (
        '<div class="verdict"><div class="verdict-class">2 beats in 61.0 min</div>'
        '<div class="verdict-meta">Record x, lead II, 128 Hz · mean heart rate 61 bpm</div>'
        '<div class="verdict-meta">Found 1 premature ventricular (V) and 0 atrial premature (A) beats · N 1 · L 0 · '
        'R 0 · V 1 · A 0</div>'
        f'<div class="verdict-meta">Labels read each beat in its context ({reads}); the table keeps the beat '
        'model\'s own answer as beat_label.</div>'
        '<div class="verdict-warning">⚠ 1 of 2 beats look unlike the beats the model learned from (column atypical): '
        'they may be paced, fusion or noise, and the five classes may not apply to them.</div></div>')


def test_a_reference_the_model_agrees_with_is_marked_as_a_match():
    verdict = app.verdict_html(made_up("L", 0.8, atypical=False), "L")
    assert verdict.endswith('<div class="verdict-reference">Reference annotation (MIT-BIH): L, Left bundle branch '
                            'block beat: <span class="match">the model agrees</span></div></div>')
