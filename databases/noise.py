"""Real and synthetic ECG noise, added at a signal-to-noise ratio defined as WFDB's nst defines it.

nst's SNR: the signal power S is (QRS peak-to-peak amplitude)^2 / 8, the power of a sine
wave of that amplitude, from the mean of the beats' peak-to-peak amplitudes with the
largest and smallest 5% left out; the noise power N is the squared RMS of the noise
in 1-s chunks (each chunk's mean removed), trimmed and averaged the same way.
SNR = 10 log10(S / N).

The real recordings (MIT-BIH Noise Stress Test Database, 360 Hz) are split in time:
the first 20 minutes train, the last 10 minutes measure. Of the synthetic families,
electrode-motion-like, mains and white noise train; pink noise is kept for measuring only.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import wfdb
from scipy import stats
from scipy.special import expit

from databases.labelled import data_root
from ecg.preprocessing import SAMPLING_RATE

REAL = ("bw", "ma")
SYNTHETIC_TRAINING = ("em", "mains", "white")
SYNTHETIC_HELD_OUT = ("pink", "motion")
# The held-out motion family: electrode shifts as sudden steps (rising in 2 samples, 6 ms, so that they reach the
# QRS band of 10-30 Hz, unlike training's em steps over about 4 samples' logistic) on 1-30 Hz wobble.
MOTION_STEPS_PER_S = 0.5
MOTION_RISE_SAMPLES = 2
TRAINING_SECONDS = 20 * 60
QRS_HALF_WIDTH_S = 0.1
TRIM = 0.05


def default_dir() -> Path:
    return data_root() / "noise"


def has_data(data_dir: Path | None = None) -> bool:
    return all((Path(data_dir or default_dir()) / f"{name}.hea").is_file() for name in REAL)


@cache
def recording(name: str, part: str, data_dir: Path | None = None) -> np.ndarray:
    """Both channels of a real noise recording in mV, (n, 2): its 'train' or 'test' part."""
    rec = wfdb.rdrecord(str(Path(data_dir or default_dir()) / name))
    assert rec.fs == SAMPLING_RATE, f"{name} is at {rec.fs} Hz; expected {SAMPLING_RATE}"
    cut = TRAINING_SECONDS * SAMPLING_RATE
    signal = rec.p_signal[:cut] if part == "train" else rec.p_signal[cut:]
    return np.ascontiguousarray(signal, dtype=np.float32)


@cache
def channel_powers(name: str, part: str) -> np.ndarray:
    """nst's N of each channel of a real noise recording's part, measured once."""
    source = recording(name, part)
    return np.array([noise_power(source[:, c]) for c in range(source.shape[1])])


def signal_power(peak_to_peak: np.ndarray) -> float:
    """nst's S from the beats' QRS peak-to-peak amplitudes."""
    return float(stats.trim_mean(peak_to_peak, TRIM)) ** 2 / 8


def qrs_peak_to_peak(signal: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Peak-to-peak amplitude within 100 ms of each R-peak."""
    half = round(QRS_HALF_WIDTH_S * SAMPLING_RATE)
    peaks = peaks[(peaks >= half) & (peaks + half <= len(signal))]
    return np.ptp(signal[peaks[:, None] + np.arange(-half, half)], axis=1)


def noise_power(noise: np.ndarray) -> float:
    """nst's N: trimmed mean of the squared RMS of 1-s chunks, each chunk's mean removed."""
    n = len(noise) // SAMPLING_RATE * SAMPLING_RATE
    chunks = noise[:n].reshape(-1, SAMPLING_RATE)
    rms = np.sqrt(((chunks - chunks.mean(axis=1, keepdims=True)) ** 2).mean(axis=1))
    return float(stats.trim_mean(rms, TRIM)) ** 2


def gain(signal_pow: float | np.ndarray, noise_pow: float | np.ndarray, snr_db: float | np.ndarray):
    """The factor that brings noise of power N to the given SNR against signal power S."""
    return np.sqrt(np.asarray(signal_pow) / (np.asarray(noise_pow) * 10.0 ** (np.asarray(snr_db) / 10)))


def synthetic(kind: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Synthetic noise along the last axis at 360 Hz, roughly unit power.

    em: electrode-motion-like, 0.5-10 Hz bursts and steps; mains: 50 or 60 Hz with its
    third harmonic; white: flat spectrum; pink: 1/f from 0.5 Hz to Nyquist (held out); motion: sharp steps
    on 1-30 Hz wobble, reaching the QRS band (held out).
    """
    length = shape[-1]
    t = np.arange(length) / SAMPLING_RATE
    lead = shape[:-1] + (1,)
    if kind == "mains":
        base = rng.choice([50.0, 60.0], size=lead)
        phase = rng.uniform(0, 2 * np.pi, size=lead)
        return np.sin(2 * np.pi * base * t + phase) + rng.uniform(0, 0.3, lead) * np.sin(
            2 * np.pi * 3 * base * t + 3 * phase)
    if kind == "white":
        return rng.standard_normal(shape)
    freqs = np.fft.rfftfreq(length, 1 / SAMPLING_RATE)
    spectrum = rng.standard_normal(shape[:-1] + (len(freqs),)) + 1j * rng.standard_normal(
        shape[:-1] + (len(freqs),))
    if kind == "pink":
        shaped = spectrum / np.sqrt(np.maximum(freqs, 0.5))
        shaped[..., freqs < 0.5] = 0
    elif kind == "em":
        shaped = spectrum * ((freqs >= 0.5) & (freqs <= 10))
    elif kind == "motion":
        shaped = spectrum * ((freqs >= 1) & (freqs <= 30))
    else:
        raise ValueError(f"unknown synthetic noise {kind!r}")
    out = np.fft.irfft(shaped, n=length, axis=-1)
    if kind == "em":
        where = rng.uniform(0, length, lead)
        steps = rng.normal(0, 1.0, lead) * (rng.random(lead) < 0.5)
        out = out / (out.std(axis=-1, keepdims=True) + 1e-12) + steps * expit((np.arange(length) - where) / 4)
    if kind == "motion":
        count = max(1, int(length / SAMPLING_RATE * MOTION_STEPS_PER_S))
        where = rng.uniform(0, length, shape[:-1] + (count, 1))
        ramps = np.clip((np.arange(length) - where) / MOTION_RISE_SAMPLES, 0, 1)
        out = 0.5 * out / (out.std(axis=-1, keepdims=True) + 1e-12) + (
            rng.normal(0, 2.0, shape[:-1] + (count, 1)) * ramps).sum(axis=-2)
        out = out - out.mean(axis=-1, keepdims=True)
    return out / (np.sqrt((out ** 2).mean(axis=-1, keepdims=True)) + 1e-12)


def noise_signal(kind: str, length: int, part: str, rng: np.random.Generator) -> np.ndarray:
    """`length` samples of one noise type: a real recording's channel (cycled) or a synthetic draw."""
    if kind in REAL:
        source = recording(kind, part)[:, rng.integers(2)]
        start = int(rng.integers(len(source)))
        return np.resize(np.roll(source, -start), length).astype(np.float64)
    return synthetic(kind, (length,), rng)
