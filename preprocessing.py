"""The beat window and the one preprocessing step shared by training and inference.

Training writes these settings into the weights' metadata; inference checks the
metadata against them, so a model is never fed beats prepared another way.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import detrend

SAMPLING_RATE = 360
WINDOW_BEFORE = 90
WINDOW_AFTER = 90
BEAT_LENGTH = WINDOW_BEFORE + WINDOW_AFTER
PREPROCESSING = "linear detrend, then divide by the standard deviation (per beat)"


def cut_windows(signal: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Windows of BEAT_LENGTH samples with each R-peak at index WINDOW_BEFORE."""
    offsets = np.arange(-WINDOW_BEFORE, WINDOW_AFTER)
    return signal[np.asarray(peaks)[:, None] + offsets].astype(np.float32)


def preprocess(beats: np.ndarray) -> np.ndarray:
    """Remove baseline offset and drift, then scale each beat to unit variance.

    Both steps are linear per beat, so the result is the same whether the
    samples are in millivolts, microvolts or raw ADC units.
    """
    beats = np.atleast_2d(np.asarray(beats, dtype=np.float64))
    flat = detrend(beats, axis=1, type="linear")
    scale = flat.std(axis=1, keepdims=True)
    return (flat / np.maximum(scale, 1e-12)).astype(np.float32)
