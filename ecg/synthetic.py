"""Made-up ECG signals for tests, benchmarks, the soak test and training's fibrillation check: no MIT-BIH sample is
ever committed."""

from __future__ import annotations

import numpy as np


def synthetic_beat(qrs_width: float = 4.0, seed: int = 0) -> np.ndarray:
    """A made-up beat in mV: P, QRS and T waves as Gaussians, R-peak at index 90, a little noise."""
    t = np.arange(180, dtype=float)
    rng = np.random.default_rng(seed)
    wave = (0.15 * np.exp(-((t - 55) / 8) ** 2) + 1.1 * np.exp(-((t - 90) / qrs_width) ** 2)
            - 0.2 * np.exp(-((t - 98) / 3) ** 2) + 0.3 * np.exp(-((t - 150) / 12) ** 2))
    return wave + rng.normal(0, 0.005, 180)


def synthetic_ecg(seconds: float = 30.0, fs: float = 360.0, seed: int = 0,
                  t_wave_mv: float = 0.3, t_wave_after_s: float = 0.17,
                  t_wave_width_s: float = 0.035) -> tuple[np.ndarray, np.ndarray]:
    """A made-up single-lead ECG in mV with slightly irregular beats; returns it and its R-peak samples.

    A tall, late T wave (t_wave_mv 0.6, t_wave_after_s 0.32) is what makes simple detectors count beats twice;
    a taller, broader one (1.2 mV, 0.045 s wide, at 0.28 s) fools gqrs too.
    """
    rng = np.random.default_rng(seed)
    peaks_s = np.cumsum(rng.uniform(0.7, 0.95, int(seconds / 0.7)))
    peaks_s = peaks_s[(peaks_s > 0.5) & (peaks_s < seconds - 0.5)]
    return ecg_with_beats_at(peaks_s, seconds, fs, rng=rng, t_wave_mv=t_wave_mv,
                             t_wave_after_s=t_wave_after_s, t_wave_width_s=t_wave_width_s)


def fibrillating_ecg(seed: int, seconds: float = 120.0) -> tuple[np.ndarray, np.ndarray]:
    """A made-up ECG whose R-R intervals are drawn uniformly from 0.4-1.2 s, as irregular as atrial fibrillation:
    early beats that are no atrial premature beats. Returns it in mV at 360 Hz and its R-peak samples."""
    rng = np.random.default_rng(seed)
    peaks_s = np.cumsum(rng.uniform(0.4, 1.2, int(seconds / 0.4))) + 0.5
    return ecg_with_beats_at(peaks_s[peaks_s < seconds - 1], seconds)


def ecg_with_beats_at(peaks_s: np.ndarray, seconds: float, fs: float = 360.0, qrs_width_s=0.011,
                      rng: np.random.Generator | None = None, t_wave_mv: float = 0.3, t_wave_after_s: float = 0.17,
                      t_wave_width_s: float = 0.035) -> tuple[np.ndarray, np.ndarray]:
    """A made-up ECG in mV with beats at the given times; `qrs_width_s` may give each beat its own width."""
    rng = rng or np.random.default_rng(0)
    n = int(seconds * fs)
    t = np.arange(n) / fs
    stretch = np.broadcast_to(np.asarray(qrs_width_s, dtype=float), np.shape(peaks_s)) / 0.011
    signal = 0.05 * np.sin(2 * np.pi * 0.2 * t) + rng.normal(0, 0.01, n)
    for p, k in zip(peaks_s, stretch):
        d = t - p
        signal += (0.15 * np.exp(-((d + 0.1) / 0.02) ** 2) + 1.2 * np.exp(-(d / (0.011 * k)) ** 2)
                   - 0.25 * np.exp(-((d - 0.025 * k) / (0.008 * k)) ** 2)
                   + t_wave_mv * np.exp(-((d - t_wave_after_s) / t_wave_width_s) ** 2))
    return signal, np.round(np.asarray(peaks_s) * fs).astype(int)


def varied_beat(seed: int) -> np.ndarray:
    """A varied made-up beat: QRS width, amplitude, offset and noise differ from seed to seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(180, dtype=float)
    width = rng.uniform(3, 14)
    return (rng.uniform(0.5, 2) * np.exp(-((t - 90) / width) ** 2) + 0.2 * np.exp(-((t - 150) / 12) ** 2)
            + rng.uniform(-1, 1) + rng.normal(0, 0.02, 180)) * rng.choice([1, 200, 1000])
