import numpy as np

from synthetic import synthetic_beat
from preprocessing import BEAT_LENGTH, WINDOW_BEFORE, cut_windows, preprocess


def test_windows_put_the_r_peak_at_sample_90():
    signal = np.zeros(1000)
    signal[[200, 500]] = 1.0
    windows = cut_windows(signal, np.array([200, 500]))
    assert windows.shape == (2, BEAT_LENGTH)
    assert np.all(windows.argmax(axis=1) == WINDOW_BEFORE)


def test_same_beat_in_mv_adc_and_microvolts_gives_the_same_input():
    mv = synthetic_beat()
    versions = [mv, mv * 200 + 1024, mv * 1000, mv - 3.7]
    prepared = [preprocess(v) for v in versions]
    for p in prepared[1:]:
        np.testing.assert_allclose(p, prepared[0], atol=1e-4)


def test_baseline_drift_is_removed():
    beat = synthetic_beat()
    drifted = beat + np.linspace(-2, 2, BEAT_LENGTH)
    np.testing.assert_allclose(preprocess(drifted), preprocess(beat), atol=1e-4)


def test_output_has_zero_mean_and_unit_variance_per_beat():
    x = preprocess(np.stack([synthetic_beat(seed=s) for s in range(4)]))
    assert x.shape == (4, BEAT_LENGTH) and x.dtype == np.float32
    np.testing.assert_allclose(x.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=1), 1, atol=1e-4)
