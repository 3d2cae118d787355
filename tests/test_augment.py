"""Training augmentation: peak placement, another recorder's filters, a slower recorder, drift, noise."""

from dataclasses import replace

import numpy as np
import pytest

from databases import noise
from databases.beatset import WIDE_HALF
from ecg.preprocessing import BEAT_LENGTH, WINDOW_BEFORE
from ecg.synthetic import ecg_with_beats_at
from training import augment


@pytest.fixture(scope="module")
def wide() -> np.ndarray:
    times = np.arange(1.0, 59.0, 0.8)
    signal, peaks = ecg_with_beats_at(times, 60)
    return np.stack([signal[p - WIDE_HALF:p + WIDE_HALF] for p in peaks])


def test_without_changes_the_window_is_the_centred_one(wide):
    still = augment.Settings(max_shift=0, small_shift=0, stretch=0)
    out = augment.place(wide, np.random.default_rng(0), still)
    np.testing.assert_allclose(out, wide[:, WIDE_HALF - WINDOW_BEFORE:WIDE_HALF - WINDOW_BEFORE + BEAT_LENGTH])


def test_peaks_are_moved_over_the_whole_range_both_ways(wide):
    settings = augment.Settings(wide_share=1.0, stretch=0)
    many = np.repeat(wide, 10, axis=0)
    peaks = augment.place(many, np.random.default_rng(0), settings).argmax(axis=1) - WINDOW_BEFORE
    assert peaks.min() < -20 and peaks.max() > 20
    assert np.abs(peaks).max() <= settings.max_shift + 1


def test_a_stretch_that_spares_the_qrs_moves_the_t_wave_and_keeps_the_qrs_width(wide):
    def qrs_width(beats):
        qrs = beats[:, WINDOW_BEFORE - 15:WINDOW_BEFORE + 15]
        return (qrs > qrs.max(axis=1, keepdims=True) / 2).sum(axis=1)

    def t_wave_peak(beats):
        return beats[:, WINDOW_BEFORE + 30:].argmax(axis=1)

    still = augment.place(wide, np.random.default_rng(0), augment.Settings(max_shift=0, small_shift=0, stretch=0))
    slow = augment.Settings(max_shift=0, small_shift=0, stretch=0.3)
    whole = augment.place(wide, np.random.default_rng(0), slow)
    spared = augment.place(wide, np.random.default_rng(0), replace(slow, stretch_spares_s=0.05))
    assert np.abs(qrs_width(whole) - qrs_width(still)).max() >= 2
    np.testing.assert_array_equal(qrs_width(spared), qrs_width(still))
    assert np.abs(t_wave_peak(spared) - t_wave_peak(still)).max() >= 5


def test_a_slower_recorder_keeps_the_beat(wide):
    beats = augment.place(wide, np.random.default_rng(0), augment.Settings(max_shift=0, small_shift=0, stretch=0))
    slow = augment.through_low_rate(beats, np.random.default_rng(1), share=1.0)
    assert not np.allclose(slow, beats)
    assert all(np.corrcoef(a, b)[0, 1] > 0.9 for a, b in zip(slow, beats))
    assert np.all(np.abs(slow.argmax(axis=1) - WINDOW_BEFORE) <= 3)


def test_another_recorder_smears_the_beat_but_keeps_its_shape_and_place(wide):
    other = augment.through_recorder(wide, np.random.default_rng(0), share=1.0)
    assert other.shape == wide.shape and np.all(np.isfinite(other))
    assert not np.allclose(other, wide)
    delay = other.argmax(axis=1) - WIDE_HALF
    assert np.all((delay >= 0) & (delay <= 5))
    centre = slice(WIDE_HALF - 88, WIDE_HALF + 88)
    for late, beat, lag in zip(other, wide, delay):
        assert np.corrcoef(late[centre.start + lag:centre.stop + lag], beat[centre])[0, 1] > 0.9
    steepest = np.abs(np.diff(wide, axis=1)).max(axis=1)
    assert np.median(np.abs(np.diff(other, axis=1)).max(axis=1) / steepest) < 0.95
    assert augment.through_recorder(wide, np.random.default_rng(0), share=0.0) is wide


def test_a_recorder_filter_starts_without_a_transient():
    level = np.full((4, 2 * WIDE_HALF), 0.7)
    other = augment.through_recorder(level, np.random.default_rng(0), share=1.0)
    assert np.allclose(other, other[:, :1])


def test_noise_is_added_at_the_drawn_snr(wide):
    beats = augment.place(wide, np.random.default_rng(0), augment.Settings(max_shift=0, small_shift=0, stretch=0))
    settings = augment.Settings(noisy_share=1.0, snr_db=(6.0, 6.0), kinds=("white",))
    added = augment.add_noise(beats, np.random.default_rng(0), settings) - beats
    centre = slice(WINDOW_BEFORE - 36, WINDOW_BEFORE + 36)
    signal_pow = np.ptp(beats[:, centre], axis=1) ** 2 / 8
    snr = 10 * np.log10(signal_pow.mean() / (added ** 2).mean())
    assert snr == pytest.approx(6.0, abs=0.5)


def test_augmented_beats_are_model_windows_and_differ_from_draw_to_draw(wide):
    first = augment.augment(wide, np.random.default_rng(0))
    again = augment.augment(wide, np.random.default_rng(0))
    other = augment.augment(wide, np.random.default_rng(1))
    assert first.shape == (len(wide), BEAT_LENGTH) and np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_training_noise_never_includes_the_held_out_family():
    assert not set(augment.Settings().kinds) & set(noise.SYNTHETIC_HELD_OUT)
