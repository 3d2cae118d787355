"""gqrs_fast against wfdb's own gqrs, beat for beat: synthetic signals here, MIT-BIH when present."""

import numpy as np
import pytest
import wfdb
from wfdb import processing

from databases import mitbih
from ecg import detection, gqrs_fast
from ecg.synthetic import ecg_with_beats_at, synthetic_ecg


def _same_as_wfdb(signal: np.ndarray, fs: float) -> np.ndarray:
    ours = gqrs_fast.gqrs_detect(signal, fs)
    theirs = processing.gqrs_detect(sig=signal, fs=fs)
    np.testing.assert_array_equal(ours, theirs)
    return ours


def _quieter_after_a_pause(fs: float = 120) -> tuple[np.ndarray, int]:
    """Tall beats, a 6-s pause, then 42 beats at an eighth of the height: gqrs finds those only because
    its thresholds fall during the pause. Returns the signal and the sample where the pause ends."""
    rng = np.random.default_rng(5)
    before, _ = ecg_with_beats_at(np.arange(1, 20, 0.8), 60, fs, rng=rng)
    after, _ = ecg_with_beats_at(np.arange(26, 59, 0.8), 60, fs, rng=rng)
    quiet_from = int(23 * fs)
    return np.concatenate([before[:quiet_from], 0.12 * after[quiet_from:]]), quiet_from


def test_the_same_beats_as_wfdb_when_thresholds_fall_in_a_pause():
    signal, quiet_from = _quieter_after_a_pause()
    found = _same_as_wfdb(signal, 120)
    assert (found > quiet_from).sum() >= 40


@pytest.mark.parametrize("fs", [120, 250, 360])
def test_the_same_beats_as_wfdb_on_a_regular_rhythm(fs):
    signal, peaks = synthetic_ecg(seconds=60, fs=fs)
    found = _same_as_wfdb(signal, fs)
    assert abs(len(found) - len(peaks)) <= 1


@pytest.mark.parametrize("make", [
    lambda: synthetic_ecg(seconds=60, fs=120, t_wave_mv=1.2, t_wave_after_s=0.28, t_wave_width_s=0.045)[0],
    lambda: np.random.default_rng(0).normal(0, 0.3, 120 * 40),
    lambda: synthetic_ecg(seconds=60, fs=120)[0] + np.random.default_rng(1).normal(0, 0.4, 7200),
    lambda: -synthetic_ecg(seconds=30, fs=120, seed=2)[0] * 1000,
], ids=["tall T waves", "noise alone", "noisy beats", "inverted, in µV"])
def test_the_same_beats_as_wfdb_on_hard_signals(make):
    _same_as_wfdb(make(), 120)


def test_the_same_beats_as_wfdb_past_the_filter_buffer():
    """Over 32,768 samples gqrs's ring buffers wrap, and its last samples read what they held before."""
    signal, peaks = synthetic_ecg(seconds=300, fs=120, seed=4)
    assert len(signal) > 32768
    found = _same_as_wfdb(signal, 120)
    assert abs(len(found) - len(peaks)) <= 1


def test_a_signal_too_short_for_the_fast_path_is_left_to_wfdb():
    signal = synthetic_ecg(seconds=1.5, fs=120)[0]
    _same_as_wfdb(signal, 120)


@pytest.fixture(scope="module")
def mitdb_dir():
    path = mitbih.default_data_dir()
    if not mitbih.has_data(path):
        pytest.skip(f"MIT-BIH data not found at {path}; set MITDB_DIR to a local copy to run this test")
    return path


def test_the_same_beats_as_wfdb_on_all_48_mit_bih_records(mitdb_dir):
    """As record mode runs it: the cleaned MLII lead in mV at gqrs's 120 Hz."""
    differ = []
    for record in mitbih.ALL_RECORDS:
        lead = wfdb.rdrecord(str(mitdb_dir / str(record)), channels=[0]).p_signal[:, 0]
        low = detection.gqrs_input(detection.clean(lead))
        if not np.array_equal(gqrs_fast.gqrs_detect(low, detection.DETECTION_RATE),
                              processing.gqrs_detect(sig=low, fs=detection.DETECTION_RATE)):
            differ.append(record)
    assert differ == []
