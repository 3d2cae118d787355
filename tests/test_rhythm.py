"""RR-interval context: features, the re-ranking rule, and its link to the shipped weights."""

import json

import numpy as np
import pytest

import inference
import mitbih
import record
import rhythm
from inference import WeightsError
from synthetic import synthetic_ecg


def regular_beats(n=30, rr=0.8, fs=360.0):
    return np.round(np.arange(1, n + 1) * rr * fs)


def test_a_premature_beat_has_a_short_rr_before_and_a_long_one_after():
    samples = regular_beats()
    samples[15] -= 0.3 * 360
    x = rhythm.rr_features(samples, 360)
    assert x[15, 0] == pytest.approx(0.625, abs=0.01) and x[15, 1] == pytest.approx(1.375, abs=0.01)
    assert x[5, 0] == pytest.approx(1.0) and x[5, 3] == pytest.approx(0.8)


def fitted_on_made_up_rhythm():
    """A rhythm model that learned: premature means A, on-time means N, whatever the beat model said."""
    rng = np.random.default_rng(0)
    rows, labels = [], []
    for label, before in (("N", 1.0), ("A", 0.6), ("V", 0.7)):
        for _ in range(200):
            p = np.full(5, 0.05)
            p[3 if label == "V" else 0] = 0.8  # the beat model calls A beats N: only rhythm tells them apart
            rr = [before + rng.normal(0, 0.03), 1.3 if before < 1 else 1.0, before, 0.8]
            rows.append(rhythm.features((p / p.sum())[None], np.array([rr]))[0])
            labels.append(label)
    return rhythm.fit(np.array(rows), np.array(labels))


def test_rhythm_turns_a_premature_n_looking_beat_into_a_and_leaves_l_and_r_alone():
    params = fitted_on_made_up_rhythm()
    samples = regular_beats()
    samples[15] -= 0.32 * 360
    p = np.tile([0.7, 0.05, 0.05, 0.05, 0.15], (30, 1))
    p[20] = [0.2, 0.6, 0.05, 0.05, 0.1]
    adjusted = rhythm.apply(params, p, samples, 360)
    np.testing.assert_allclose(adjusted.sum(axis=1), 1)
    assert adjusted[15].argmax() == 4 and adjusted[5].argmax() == 0
    np.testing.assert_array_equal(adjusted[20], p[20])


def test_without_rr_context_the_label_is_the_beat_models_own():
    signal, _ = synthetic_ecg()
    table = record.analyze(signal, 360, rr_context=False)
    assert (table["label"] == table["beat_label"]).all()
    np.testing.assert_allclose(table["confidence"], table["beat_confidence"])


def test_shipped_rhythm_model_belongs_to_the_shipped_weights_and_was_judged_on_training_patients():
    params = json.loads((inference.WEIGHTS_DIR / rhythm.RHYTHM_FILE).read_text())
    meta = inference.shipped_model().metadata
    assert params["weights_sha256"] == meta["weights_sha256"]
    training = {f"{db}:{r}" for db in ("mitdb", "svdb") for r in meta["training_data"][db]}
    assert set(params["fitted_on"]) == training
    assert not {f"mitdb:{r}" for r in mitbih.DS2} & set(params["fitted_on"])
    beat, context = params["cross_validated"]["beat_model"], params["cross_validated"]["with_rr_context"]
    assert params["used"] == (context["s_v_f1"] > beat["s_v_f1"] and context["macro_f1"] >= beat["macro_f1"])


def test_a_rhythm_model_for_other_weights_is_refused(monkeypatch):
    params = dict(rhythm.shipped_params(inference.WEIGHTS_DIR), weights_sha256="0" * 64, used=True)
    monkeypatch.setattr(rhythm, "shipped_params", lambda _: params)
    with pytest.raises(WeightsError, match="fitted for other weights"):
        record.rhythm_params()
