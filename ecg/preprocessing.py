"""The beat window, the resampling and the one preprocessing step shared by training and inference.

Training writes these settings into the weights' metadata; inference checks the
metadata against them, so a model is never fed beats prepared another way.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, detrend, sosfiltfilt
from wfdb import processing

SAMPLING_RATE = 360
WINDOW_BEFORE = 90
WINDOW_AFTER = 90
BEAT_LENGTH = WINDOW_BEFORE + WINDOW_AFTER
# Recordings made at 128 Hz carry nothing above 64 Hz, MIT-BIH's 360 Hz up to 180 Hz. A 40 Hz low-pass
# makes beats from every recorder alike and removes mains hum and most muscle noise; QRS energy lies below it.
LOWPASS_HZ = 40.0
PREPROCESSING = (f"zero-phase 4th-order Butterworth low-pass at {LOWPASS_HZ:g} Hz, linear detrend, "
                 "then divide by the standard deviation (per beat)")
_LOWPASS = butter(4, LOWPASS_HZ, fs=SAMPLING_RATE, output="sos")


def cut_windows(signal: np.ndarray, peaks: np.ndarray, before: int = WINDOW_BEFORE,
                after: int = WINDOW_AFTER) -> np.ndarray:
    """Windows with each R-peak at index `before` (by default BEAT_LENGTH samples, R at WINDOW_BEFORE)."""
    offsets = np.arange(-before, after)
    return signal[np.asarray(peaks)[:, None] + offsets].astype(np.float32)


def lowpass(signal: np.ndarray) -> np.ndarray:
    """A whole recording at 360 Hz through the beat's own low-pass: where record mode chooses each R wave."""
    return sosfiltfilt(_LOWPASS, np.asarray(signal, dtype=np.float64))


def to_model_rate(signal: np.ndarray, fs: float) -> np.ndarray:
    """The signal at 360 Hz, the rate the model works at: one resampling for training and record mode."""
    if fs == SAMPLING_RATE:
        return np.asarray(signal)
    resampled, _ = processing.resample_sig(np.asarray(signal, dtype=np.float64), fs, SAMPLING_RATE)
    return resampled


def _linear_steps(length: int) -> np.ndarray:
    """The low-pass and the detrend as one (length, length) matrix: both are linear in the beat, so the
    library's own functions applied to the identity give a matrix that does the same to float rounding.
    One beat then costs one small matrix product instead of ~0.4 ms of filter set-up."""
    return detrend(lowpass(np.eye(length)), axis=1, type="linear")


_LINEAR_STEPS = _linear_steps(BEAT_LENGTH)


def preprocess(beats: np.ndarray) -> np.ndarray:
    """(n, 180) or (180,) beats -> low-passed, baseline offset and drift removed, each scaled to unit variance.

    Every step is linear per beat, so the result is the same whether the
    samples are in millivolts, microvolts or raw ADC units.
    """
    beats = np.atleast_2d(np.asarray(beats, dtype=np.float64))
    if beats.shape[1] != BEAT_LENGTH:
        raise ValueError(f"beats have {beats.shape[1]} samples; preprocess expects {BEAT_LENGTH}")
    flat = beats @ _LINEAR_STEPS
    scale = flat.std(axis=1, keepdims=True)
    return (flat / np.maximum(scale, 1e-12)).astype(np.float32)
