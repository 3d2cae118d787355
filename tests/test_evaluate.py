"""evaluate.py's noise stress: noise of each kind added to whole records at the SNR asked for."""

import numpy as np
import pytest

from databases import mitbih, noise
from ecg import evaluation
from measure import evaluate


@pytest.mark.parametrize("kind", evaluate.NOISE_KINDS)
def test_six_db_less_snr_adds_four_times_the_noise_power(data_dir, kind):
    if kind in noise.REAL and not noise.has_data():
        pytest.skip(f"noise recordings not found at {noise.default_dir()}; set ECG_DATA_DIR")
    clean = mitbih.record_beats(100, data_dir)
    louder, labels = evaluate.noisy_windows((100,), kind, 0)
    softer, _ = evaluate.noisy_windows((100,), kind, 6)
    np.testing.assert_array_equal(labels, clean.labels)
    ratio = ((louder - clean.windows) ** 2).mean() / ((softer - clean.windows) ** 2).mean()
    assert ratio == pytest.approx(10 ** 0.6, rel=0.01)


def test_the_same_seed_adds_the_same_noise(data_dir):
    first, _ = evaluate.noisy_windows((100,), "pink", 12)
    again, _ = evaluate.noisy_windows((100,), "pink", 12)
    np.testing.assert_array_equal(first, again)


def test_the_confidence_section_sets_each_calls_confidence_beside_how_often_it_was_right():
    classes = evaluate.BEAT_CLASSES
    probabilities = np.eye(len(classes))[[0, 0, 3, 3]] * 0.5 + 0.1
    table = evaluation.confidence_by_call(np.array(list("NNVN")), probabilities, classes, low_confidence=0.65)
    text = evaluate.confidence_section(table, None)
    assert "| N | 2 | 0.60 | 1.00 | – | – | – |" in text
    assert "| V | 2 | 0.60 | 0.50 | – | – | – |" in text
    assert "| A | 0 | – | – | – | – | – |" in text
    assert "raised on 1.000 of beats, which were right 0.750 of the time" in text
    assert "Out of fold" not in text
    assert "Out of fold: raised on 1.000" in evaluate.confidence_section(table, table)


def test_the_p_stretch_probe_straightens_only_the_stretch_before_the_qrs():
    from ecg.synthetic import synthetic_beat
    from measure import p_stretch

    beat = synthetic_beat()[None] + np.sin(np.arange(180) / 3.0)[None]
    flat = p_stretch.straightened(beat)[0]
    start, stop = 0, 90 - round(0.07 * 360)
    np.testing.assert_allclose(np.diff(flat[start:stop], 2), 0, atol=1e-9)
    np.testing.assert_array_equal(flat[stop:], beat[0, stop:])
    assert flat[start] == beat[0, start] and flat[stop - 1] == beat[0, stop - 1]
