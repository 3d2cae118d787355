"""Training-time changes to a beat that a real recording makes: where the peak is placed, how fast the
heart beats, which recorder took it, baseline drift and noise.

Each is drawn per beat from a wide window (R-peak at WIDE_HALF) and returns the model's 180-sample window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, lfilter, lfilter_zi

from databases import noise
from databases.beatset import WIDE_HALF
from ecg.preprocessing import BEAT_LENGTH, SAMPLING_RATE, WINDOW_BEFORE


@dataclass(frozen=True)
class Settings:
    max_shift: int = 25  # R-peak moved up to this many samples either way
    wide_share: float = 0.5  # share of beats shifted over the full range; the rest within +-small_shift
    small_shift: int = 4
    stretch: float = 0.1  # time stretch around the R-peak, +-10%
    stretch_spares_s: float = 0.0  # the stretch leaves this much either side of the R-peak as it is (0: none)
    recorder_share: float = 0.0  # share of beats passed through another recorder's analogue filters (0: none)
    low_rate_share: float = 0.3  # share of beats passed through a recorder at 100 to 360 Hz
    drift_share: float = 0.5
    noisy_share: float = 0.7
    snr_db: tuple[float, float] = (0.0, 24.0)
    kinds: tuple[str, ...] = noise.REAL + noise.SYNTHETIC_TRAINING


def _gather(rows: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Linear interpolation of each row at fractional positions (clipped to the row)."""
    positions = np.clip(positions, 0, rows.shape[1] - 1)
    left = np.minimum(np.floor(positions).astype(int), rows.shape[1] - 2)
    frac = positions - left
    index = np.arange(len(rows))[:, None]
    return rows[index, left] * (1 - frac) + rows[index, left + 1] * frac


def place(wide: np.ndarray, rng: np.random.Generator, s: Settings) -> np.ndarray:
    """The 180-sample window with the peak shifted and the beat stretched in time. A faster or slower heart
    moves the P and T waves, not the QRS's width, which is what tells a bundle branch block: with
    `stretch_spares_s` the QRS stretch around the peak keeps its own time."""
    n = len(wide)
    wide_shift = rng.random((n, 1)) < s.wide_share
    shift = np.where(wide_shift, rng.uniform(-s.max_shift, s.max_shift, (n, 1)),
                     rng.uniform(-s.small_shift, s.small_shift, (n, 1)))
    stretch = rng.uniform(1 - s.stretch, 1 + s.stretch, (n, 1))
    t = np.arange(BEAT_LENGTH) - WINDOW_BEFORE
    spared = s.stretch_spares_s * SAMPLING_RATE
    warped = np.where(np.abs(t) <= spared, t, np.sign(t) * (spared + (np.abs(t) - spared) * stretch))
    return _gather(wide, WIDE_HALF - shift + warped)


# Analogue front ends differ: a Holter or monitor rolls off from 25 to 40 Hz, a diagnostic recorder at 100 Hz or
# more, and their high-pass corners run from 0.05 Hz (diagnostic) to 0.5 Hz and beyond (monitor mode). Both are
# causal, so they delay and smear the QRS and bend the ST segment, unlike the zero-phase low-pass of preprocess().
RECORDER_LOWPASS_HZ = (25.0, 30.0, 35.0, 40.0, 60.0, 100.0)
RECORDER_HIGHPASS_HZ = (0.05, 0.15, 0.3, 0.5, 0.7, 1.0)
# Each filter with its steady-state start for a unit level, (b, a, zi), so that training steps only scale it.
_RECORDER_FILTERS = tuple([(b, a, lfilter_zi(b, a)) for b, a in bank]
                          for bank in ([butter(2, f, fs=SAMPLING_RATE) for f in RECORDER_LOWPASS_HZ],
                                       [butter(1, f, "high", fs=SAMPLING_RATE) for f in RECORDER_HIGHPASS_HZ]))


def through_recorder(wide: np.ndarray, rng: np.random.Generator, share: float) -> np.ndarray:
    """Some wide windows passed through another recorder's causal low-pass and high-pass, corners drawn per beat
    from RECORDER_LOWPASS_HZ and RECORDER_HIGHPASS_HZ, each filter started as if the window's first sample had
    lasted: a beat as another recorder would have taken it, so its shape tells the class, not the recorder."""
    chosen = np.flatnonzero(rng.random(len(wide)) < share)
    if len(chosen) == 0:
        return wide
    out = wide.astype(np.float64)
    for bank in _RECORDER_FILTERS:
        corner = rng.integers(len(bank), size=len(chosen))
        for k, (b, a, zi) in enumerate(bank):
            rows = chosen[corner == k]
            if len(rows):
                out[rows], _ = lfilter(b, a, out[rows], axis=1, zi=zi[None] * out[rows, :1])
    return out


def through_low_rate(beats: np.ndarray, rng: np.random.Generator, share: float) -> np.ndarray:
    """Some beats sampled at 100 to 360 Hz and interpolated back to 360 Hz, as a slower recorder gives them."""
    chosen = np.flatnonzero(rng.random(len(beats)) < share)
    if len(chosen) == 0:
        return beats
    out = beats.copy()
    step = SAMPLING_RATE / rng.uniform(100, SAMPLING_RATE, (len(chosen), 1))
    coarse_at = np.arange(BEAT_LENGTH)[None] * step + rng.uniform(0, 1, (len(chosen), 1)) * step
    coarse = _gather(beats[chosen], coarse_at)
    index = np.arange(BEAT_LENGTH)[None] / step
    out[chosen] = _gather(coarse, index - coarse_at[:, :1] / step)
    return out


def add_drift(beats: np.ndarray, rng: np.random.Generator, share: float) -> np.ndarray:
    """Baseline wander of breathing and movement: a slow sine and a slope, up to the beat's own height."""
    n = len(beats)
    height = np.ptp(beats, axis=1, keepdims=True)
    on = rng.random((n, 1)) < share
    t = np.arange(BEAT_LENGTH) / SAMPLING_RATE
    sine = rng.uniform(0, 1, (n, 1)) * np.sin(2 * np.pi * rng.uniform(0.05, 0.7, (n, 1)) * t
                                               + rng.uniform(0, 2 * np.pi, (n, 1)))
    slope = rng.uniform(-1, 1, (n, 1)) * t / t[-1]
    return beats + on * height * (sine + slope)


def add_noise(beats: np.ndarray, rng: np.random.Generator, s: Settings) -> np.ndarray:
    """Noise of a random kind at a random SNR (nst's definition, from the beat's own QRS height)."""
    n = len(beats)
    on = np.flatnonzero(rng.random(n) < s.noisy_share)
    if len(on) == 0:
        return beats
    out = beats.copy()
    kinds = rng.choice(len(s.kinds), size=len(on))
    centre = slice(WINDOW_BEFORE - round(noise.QRS_HALF_WIDTH_S * SAMPLING_RATE),
                   WINDOW_BEFORE + round(noise.QRS_HALF_WIDTH_S * SAMPLING_RATE))
    signal_pow = np.ptp(beats[on][:, centre], axis=1) ** 2 / 8
    snr = rng.uniform(*s.snr_db, len(on))
    for k, kind in enumerate(s.kinds):
        rows = np.flatnonzero(kinds == k)
        if len(rows) == 0:
            continue
        if kind in noise.REAL:
            segments, power = _real_segments(kind, len(rows), rng)
        else:
            segments, power = noise.synthetic(kind, (len(rows), BEAT_LENGTH), rng), 1.0
        out[on[rows]] += noise.gain(signal_pow[rows], power, snr[rows])[:, None] * segments
    return out


def _real_segments(kind: str, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random stretches of a real noise recording's training part, with their channel's nst power."""
    source = noise.recording(kind, "train")
    channel = rng.integers(2, size=count)
    start = rng.integers(len(source) - BEAT_LENGTH, size=count)
    segments = source[start[:, None] + np.arange(BEAT_LENGTH), channel[:, None]]
    return segments, noise.channel_powers(kind, "train")[channel]


def blend(wide: np.ndarray, mates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each wide window mixed with its mate, a beat of the same class from another patient, scaled to the
    window's own spread: a beat from a patient between the two, of whom the data hold too few (nine with
    LBBB, eleven with RBBB). The window keeps at least half its weight, so it stays its own patient's."""
    weight = rng.uniform(0.5, 1.0, (len(wide), 1))
    scale = wide.std(axis=1, keepdims=True) / np.maximum(mates.std(axis=1, keepdims=True), 1e-12)
    return weight * wide + (1 - weight) * mates * scale


def augment(wide: np.ndarray, rng: np.random.Generator, s: Settings = Settings()) -> np.ndarray:
    """Wide windows -> 180-sample training windows with recorder, placement, rate, drift and noise drawn per beat."""
    if s.recorder_share:
        wide = through_recorder(wide, rng, s.recorder_share)
    beats = place(wide.astype(np.float64), rng, s)
    beats = through_low_rate(beats, rng, s.low_rate_share)
    return add_noise(add_drift(beats, rng, s.drift_share), rng, s)
