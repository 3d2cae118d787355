"""Noise at a stated SNR as nst defines it, the synthetic families, and the real recordings' split."""

import numpy as np
import pytest

from databases import noise
from ecg.preprocessing import SAMPLING_RATE
from ecg.synthetic import synthetic_ecg


def _snr_db(clean: np.ndarray, added: np.ndarray, peaks: np.ndarray) -> float:
    return 10 * np.log10(noise.signal_power(noise.qrs_peak_to_peak(clean, peaks)) / noise.noise_power(added))


@pytest.mark.parametrize("kind", ["white", "em", "mains", "pink", "motion"])
@pytest.mark.parametrize("snr", [24, 6, 0])
def test_noise_scaled_by_gain_has_the_stated_snr(kind, snr):
    clean, peaks = synthetic_ecg(seconds=60)
    raw = noise.synthetic(kind, (len(clean),), np.random.default_rng(1))
    signal_pow = noise.signal_power(noise.qrs_peak_to_peak(clean, peaks))
    added = noise.gain(signal_pow, noise.noise_power(raw), snr) * raw
    assert _snr_db(clean, added, peaks) == pytest.approx(snr, abs=0.01)


def test_signal_power_is_that_of_a_sine_of_the_qrs_height():
    clean, peaks = synthetic_ecg(seconds=60)
    pp = noise.qrs_peak_to_peak(clean, peaks)
    assert noise.signal_power(pp) == pytest.approx(np.median(pp) ** 2 / 8, rel=0.05)


def _band_power(x: np.ndarray, low: float, high: float) -> float:
    freqs = np.fft.rfftfreq(x.shape[-1], 1 / SAMPLING_RATE)
    spectrum = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    return float(spectrum[..., (freqs >= low) & (freqs < high)].mean())


def test_each_synthetic_family_has_its_own_spectrum():
    rng = np.random.default_rng(0)
    shape = (64, 3600)
    pink, white, em, mains = (noise.synthetic(k, shape, rng) for k in ("pink", "white", "em", "mains"))
    assert _band_power(pink, 1, 2) > 10 * _band_power(pink, 40, 80)
    assert _band_power(white, 1, 2) == pytest.approx(_band_power(white, 40, 80), rel=0.3)
    assert _band_power(em, 40, 80) < 1e-3 * _band_power(em, 1, 5)
    assert _band_power(mains, 49, 61) > 100 * _band_power(mains, 5, 40)


def test_unknown_synthetic_noise_is_refused():
    with pytest.raises(ValueError, match="unknown"):
        noise.synthetic("brown", (10,), np.random.default_rng(0))


def test_real_noise_is_split_in_time_into_a_training_and_a_measuring_part():
    if not noise.has_data():
        pytest.skip(f"noise recordings not found at {noise.default_dir()}; set ECG_DATA_DIR")
    for name in noise.REAL:
        train, test = noise.recording(name, "train"), noise.recording(name, "test")
        assert len(train) == noise.TRAINING_SECONDS * SAMPLING_RATE
        assert 10 * 60 * SAMPLING_RATE <= len(test) < 11 * 60 * SAMPLING_RATE
        assert train.shape[1] == test.shape[1] == 2


def test_the_held_out_motion_family_reaches_the_qrs_band_where_trainings_em_does_not():
    """Motion artefact is held out of training: its sharp steps put power at 10-30 Hz, where a QRS lives, while the
    em family trained on stays below 10 Hz but for its slow steps."""
    rng = np.random.default_rng(0)
    motion, em = (noise.synthetic(k, (64, 3600), rng) for k in ("motion", "em"))
    assert _band_power(motion, 10, 30) > 5 * _band_power(em, 10, 30)
    assert np.sqrt((motion ** 2).mean(axis=-1)) == pytest.approx(1.0, abs=1e-6)
    jumps = np.abs(np.diff(motion, axis=-1)).max(axis=-1)
    assert np.median(jumps) > 2 * np.median(np.abs(np.diff(em, axis=-1)).max(axis=-1)), "steps a QRS could hide in"
    assert "motion" in noise.SYNTHETIC_HELD_OUT and "motion" not in noise.SYNTHETIC_TRAINING
