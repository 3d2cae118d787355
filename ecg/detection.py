"""R-peaks of a 360 Hz ECG lead: gqrs finds the QRS complexes, each peak is placed, T waves are set aside."""

from __future__ import annotations

import neurokit2 as nk
import numpy as np
from scipy.ndimage import maximum_filter1d
from wfdb import processing

from ecg import gqrs_fast
from ecg.preprocessing import SAMPLING_RATE, lowpass

# Beats are found by gqrs (wfdb's port of PhysioNet's detector; gqrs_fast runs it, the same beats in a twentieth
# of the time), which tells QRS complexes from tall T waves,
# blocked P waves and noise far better than NeuroKit2's detectors: over the 44 MIT-BIH records NeuroKit2's
# own method scored Se 0.9878, +P 0.9813 (T waves in 113 and 231 counted as beats); its Pan-Tompkins,
# Hamilton, Elgendi, Engzee, Rodrigues, Kalidas and Nabian methods did no better overall, and wfdb's XQRS
# trailed gqrs on the eight hardest records (missed 352, false 679 against 52 and 537) at twice the time.
# gqrs runs at 120 Hz, where it does as well as at 360 Hz (DS1: Se 0.9978, +P 0.9928 against 0.9971,
# 0.9921) in a third of the time. It marks each QRS near its onset, so the R-peak is then placed where
# MIT-BIH's annotators put it, in two steps. Which wave: the largest deflection from the median of the stretch
# from 67 ms before the mark to 133 ms after, on the signal low-passed at 40 Hz as the beat model's windows are.
# Where on it: that wave's extreme within PEAK_REFINE_S on the cleaned signal. With the wave chosen on the
# cleaned signal instead, record 118's peaks (right bundle branch block: a tall narrow R, then a long low ST
# segment) sat a median 17 samples after the reference, on the ST segment: NeuroKit2's mains filter, a moving
# average, flattens the narrow R below the broad trough. Chosen on DS1 (runs/placement_probe5.py): every DS1
# record's median offset is then 0 but 109's (-1, as before), 118's 0 (0.92 of its beats within 3 samples, 0.23
# before), and no beat is lost. Measuring the wave from the level just before the QRS instead of the stretch's
# median (stop 35) put 119's and 208's wide ventricular beats on their T waves: gqrs marks a wide QRS late, so
# that level was the QRS itself.
DETECTION_RATE = 120
PEAK_SEARCH_S = (-0.067, 0.133)
PEAK_REFINE_S = 0.008
# gqrs's amplitude thresholds are in microvolts. A recording's unit is taken to be the power of ten that
# brings its typical QRS height nearest this (the median over MIT-BIH): mV and µV are then read exactly,
# ADC counts within a factor of 3. Scaling each recording to exactly this height instead cost +P on the
# records with long pauses (232: under 20 false beats became 358).
TYPICAL_QRS_MV = 1.7
# Pan and Tompkins' T-wave test (IEEE Trans Biomed Eng 1985): a detection soon after the beat before it,
# whose steepest slope is under half that beat's, is its T wave. We also require it to be under half the
# slope of the record's steeper beats (the 75th percentile, which stays a QRS slope even when every T wave
# was detected), so that a small premature beat after a tall one is kept. On DS1 this guard changed one
# beat each way. "Soon" is 450 ms, not their 360: SVDB's Holter T waves come later (record 877: 100 false
# beats a median 375 ms after a true one). Chosen on training patients: missed plus false beats over DS1
# and SVDB by window, 360 ms 1,127, 400 ms 1,099, 450 ms 1,078, 500 ms 1,149. At 450 ms the 44 MIT-BIH
# records keep Se 0.9976, +P 0.9959 and SVDB reaches Se 0.9980, +P 0.9954 (at 360 ms: +P 0.9945).
T_WAVE_WITHIN_S = 0.45
T_WAVE_SLOPE_RATIO = 0.5
SLOPE_WINDOW_S = 0.06


def detect_peaks(signal: np.ndarray, on_r_wave: bool = True) -> np.ndarray:
    """R-peaks of a 360 Hz signal in any linear unit: gqrs finds the QRS complexes, each peak is placed,
    and detections that are T waves are set aside.

    `on_r_wave` places each peak with `place_on_r_wave`, where MIT-BIH's annotators put it; off, with
    `place_peaks` alone, as PTB-XL's training beats were placed for the shipped weights (they differ where a
    deep S wave or ST segment outweighs the R wave), so that training still makes the weights that ship.
    """
    cleaned = clean(signal)
    marks = gqrs_fast.gqrs_detect(gqrs_input(cleaned), fs=DETECTION_RATE)
    marks = np.round(np.asarray(marks, dtype=float) * SAMPLING_RATE / DETECTION_RATE).astype(int)
    placed = place_on_r_wave(cleaned, lowpass(signal), marks) if on_r_wave else place_peaks(cleaned, marks)
    return _without_t_waves(cleaned, placed)


def clean(signal: np.ndarray) -> np.ndarray:
    """NeuroKit2's cleaning of a 360 Hz ECG: what peaks are found and placed on."""
    return nk.ecg_clean(signal, sampling_rate=SAMPLING_RATE, method="neurokit")


def gqrs_input(cleaned: np.ndarray) -> np.ndarray:
    """The cleaned signal as gqrs reads it: in millivolts (to the nearest power of ten) at DETECTION_RATE."""
    in_mv = cleaned * 10.0 ** np.round(np.log10(TYPICAL_QRS_MV / _typical_qrs_height(cleaned)))
    low, _ = processing.resample_sig(in_mv, SAMPLING_RATE, DETECTION_RATE)
    return low


def _typical_qrs_height(cleaned: np.ndarray) -> float:
    """Median peak-to-peak height of 2-s stretches: each holds about one QRS, the tallest thing in it."""
    span = int(2 * SAMPLING_RATE)
    stretches = cleaned[:len(cleaned) // span * span].reshape(-1, span) if len(cleaned) >= span else cleaned[None]
    return float(np.median(np.ptp(stretches, axis=1))) or float(np.ptp(cleaned))


def place_peaks(cleaned: np.ndarray, marks: np.ndarray) -> np.ndarray:
    """Each mark moved to its QRS's largest deflection from the stretch's median, never past halfway to a
    neighbouring mark."""
    return np.unique(_largest_deflections(cleaned, marks)[0])


def place_on_r_wave(cleaned: np.ndarray, lowpassed: np.ndarray, marks: np.ndarray) -> np.ndarray:
    """Each mark moved to its QRS's largest deflection on `lowpassed` (the recording through
    `preprocessing.lowpass`), then to that wave's extreme on `cleaned` within PEAK_REFINE_S, never past
    halfway to a neighbouring mark."""
    waves, polarity, first, last = _largest_deflections(lowpassed, marks)
    refine = round(PEAK_REFINE_S * SAMPLING_RATE)
    near = np.clip(waves[:, None] + np.arange(-refine, refine + 1), first[:, None],
                   np.maximum(first, last - 1)[:, None])
    return np.unique(near[np.arange(len(near)), np.argmax(polarity[:, None] * cleaned[near], axis=1)])


def _largest_deflections(signal: np.ndarray, marks: np.ndarray) -> tuple[np.ndarray, ...]:
    """For each mark (sorted, once each): the sample of the largest deflection from the median of its search
    stretch (PEAK_SEARCH_S around it, inside the signal, short of halfway to a neighbouring mark), the
    deflection's sign, and the stretch's first and one-past-last samples."""
    marks = np.unique(np.clip(marks, 0, len(signal) - 1))
    before, after = (round(s * SAMPLING_RATE) for s in PEAK_SEARCH_S)
    halfway = (marks[1:] + marks[:-1]) // 2
    first = np.maximum(np.concatenate([[0], halfway]), marks + before)
    last = np.minimum(np.concatenate([halfway, [len(signal)]]), marks + after)
    positions = marks[:, None] + np.arange(before, after)
    inside = (positions >= first[:, None]) & (positions < last[:, None])
    stretches = np.where(inside, signal[np.clip(positions, 0, len(signal) - 1)], np.nan)
    deflection = np.nan_to_num(stretches - np.nanmedian(stretches, axis=1, keepdims=True), nan=0.0)
    wave = np.argmax(np.where(inside, np.abs(deflection), -1.0), axis=1)
    rows = np.arange(len(marks))
    return positions[rows, wave], np.sign(deflection[rows, wave]), first, last


def _without_t_waves(cleaned: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """The peaks less those that Pan and Tompkins' test calls the T wave of the beat kept before them."""
    if len(peaks) == 0:
        return peaks
    window = 2 * round(SLOPE_WINDOW_S * SAMPLING_RATE) + 1
    steepest = maximum_filter1d(np.abs(np.gradient(cleaned)), size=window)[peaks]
    shallow = steepest < T_WAVE_SLOPE_RATIO * np.percentile(steepest, 75)
    within = round(T_WAVE_WITHIN_S * SAMPLING_RATE)
    keep = np.ones(len(peaks), dtype=bool)
    kept = 0
    for i in range(1, len(peaks)):
        if shallow[i] and peaks[i] - peaks[kept] < within and steepest[i] < T_WAVE_SLOPE_RATIO * steepest[kept]:
            keep[i] = False
        else:
            kept = i
    return peaks[keep]
