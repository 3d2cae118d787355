"""R-peak detection on synthetic signals: T waves, units and premature beats."""

import numpy as np
import pytest
from conftest import matched_share

from ecg.detection import detect_peaks
from measure.synthetic import synthetic_ecg


@pytest.mark.parametrize("t_wave_mv, t_wave_after_s, t_wave_width_s", [(0.6, 0.32, 0.035), (1.2, 0.28, 0.045)])
def test_tall_t_waves_are_not_counted_as_beats(t_wave_mv, t_wave_after_s, t_wave_width_s):
    signal, peaks = synthetic_ecg(seconds=60, t_wave_mv=t_wave_mv, t_wave_after_s=t_wave_after_s,
                                  t_wave_width_s=t_wave_width_s)
    found = detect_peaks(signal)
    assert len(found) == len(peaks)
    assert matched_share(found, peaks, tolerance=3) == 1.0


def test_a_premature_beat_soon_after_a_taller_one_is_kept():
    signal, peaks = synthetic_ecg(seconds=60, seed=1)
    t = np.arange(len(signal)) / 360
    premature = []
    for tall in peaks[5::8] / 360:
        signal += 1.8 * np.exp(-((t - tall) / 0.011) ** 2)
        beat = tall + 0.3
        signal += 1.2 * np.exp(-((t - beat) / 0.011) ** 2) - 0.25 * np.exp(-((t - beat - 0.025) / 0.008) ** 2)
        premature.append(round(beat * 360))
    found = detect_peaks(signal)
    assert len(found) == len(peaks) + len(premature)
    assert matched_share(found, np.asarray(premature), tolerance=3) == 1.0


@pytest.mark.parametrize("unit, scale, offset", [("µV", 1000, 0), ("ADC counts", 200, 1024), ("volts", 0.001, 0)])
def test_beats_are_found_whatever_the_unit(unit, scale, offset):
    signal, peaks = synthetic_ecg(seconds=60)
    in_mv = detect_peaks(signal)
    other = detect_peaks(signal * scale + offset)
    assert matched_share(other, peaks, tolerance=3) == 1.0, unit
    np.testing.assert_array_equal(other, in_mv)
