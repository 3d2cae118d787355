import numpy as np
import pytest
from scipy.signal import butter, detrend, sosfiltfilt

from ecg import preprocessing
from ecg.preprocessing import BEAT_LENGTH, WINDOW_BEFORE, cut_windows, lowpass, preprocess, to_model_rate
from ecg.synthetic import synthetic_beat


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
    # A 4 mV ramp, three times the QRS, changes the input by under 0.5% of its spread: the low-pass
    # filter's start-up at the window's edges is all that is left of it.
    np.testing.assert_allclose(preprocess(drifted), preprocess(beat), atol=5e-3)


@pytest.mark.parametrize("hz, at_least", [(50, 4), (60, 10), (90, 15)])
def test_mains_hum_and_muscle_noise_above_40_hz_are_cut(hz, at_least):
    beat = synthetic_beat()
    hum = 0.3 * np.sin(2 * np.pi * hz * np.arange(BEAT_LENGTH) / 360)
    inner = slice(20, -20)
    unfiltered = detrend(beat + hum) - detrend(beat)
    left = preprocess(beat + hum)[0] * detrend(beat).std() - preprocess(beat)[0] * detrend(beat).std()
    assert np.abs(unfiltered[inner]).max() > at_least * np.abs(left[inner]).max()


def test_the_one_matrix_does_what_the_filter_and_detrend_it_was_built_from_do():
    beats = np.random.default_rng(0).normal(size=(50, BEAT_LENGTH)).cumsum(axis=1)
    flat = detrend(sosfiltfilt(butter(4, 40, fs=360, output="sos"), beats, axis=1), axis=1, type="linear")
    expected = flat / flat.std(axis=1, keepdims=True)
    np.testing.assert_allclose(preprocess(beats), expected, atol=1e-5)
    built_again = preprocessing._linear_steps(BEAT_LENGTH)  # the module builds it once, on import
    np.testing.assert_allclose(beats @ built_again, flat, atol=1e-9)
    np.testing.assert_array_equal(built_again, preprocessing._LINEAR_STEPS)


def test_windows_are_kept_in_single_precision():
    """A 24-hour record holds about 100,000 windows: float32 halves what they take."""
    assert cut_windows(np.arange(1000.0), np.array([200, 500])).dtype == np.float32


@pytest.mark.parametrize("fs", [360, 128])
def test_a_single_precision_recording_is_filtered_and_resampled_in_double_precision(fs):
    """Upload readers may give float32 samples; a day-long IIR filter or FFT resampling run in float32 would
    differ from the same recording read as float64."""
    signal = np.random.default_rng(1).normal(size=fs * 60).cumsum()
    as_float32 = signal.astype(np.float32)
    np.testing.assert_array_equal(lowpass(as_float32), lowpass(as_float32.astype(np.float64)))
    np.testing.assert_array_equal(to_model_rate(as_float32, fs), to_model_rate(as_float32.astype(np.float64), fs))


def test_a_window_of_another_length_is_refused():
    with pytest.raises(ValueError, match="expects 180"):
        preprocess(np.zeros((2, 200)))
