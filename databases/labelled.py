"""What every database reader returns: one lead at 360 Hz with labelled beats and the patient they came from.

Training, cross-validation and evaluation treat databases alike through this,
so any one of them can be left out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecg.detection import clean, place_peaks
from ecg.preprocessing import SAMPLING_RATE

REPOSITORY = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """The folder holding mitdb/, svdb/, ptbxl/, ptbxl-extra/ and noise/: $ECG_DATA_DIR, else ../shared/data."""
    env = os.environ.get("ECG_DATA_DIR")
    return Path(env) if env else REPOSITORY.parent / "shared" / "data"


@dataclass(frozen=True)
class LabelledRecord:
    """A record's lead at 360 Hz (mV), its beats' R-peak samples and classes, and the patient's id."""

    database: str
    record: str
    patient: str
    signal: np.ndarray
    peaks: np.ndarray
    labels: np.ndarray


def recentre(signal: np.ndarray, marks: np.ndarray) -> tuple[np.ndarray, int]:
    """Marks moved by the record's median offset to the QRS's largest deflection, and that offset.

    MIT-BIH's annotators mark the largest deflection (the median offset is 0 samples on
    all but one record); other databases mark another fiducial. One shift per record
    keeps the beat-to-beat placement of the annotators and puts it on MIT-BIH's fiducial.
    """
    if len(marks) == 0:
        return marks, 0
    cleaned = clean(signal)
    placed = place_peaks(cleaned, marks)
    nearest = np.clip(np.searchsorted(placed, marks), 1, max(len(placed) - 1, 1))
    candidates = np.stack([placed[nearest - 1], placed[np.minimum(nearest, len(placed) - 1)]])
    offsets = candidates[np.argmin(np.abs(candidates - marks), axis=0), np.arange(len(marks))] - marks
    shift = int(np.median(offsets))
    return marks + shift, shift


def qrs_width_ms(signal: np.ndarray, peaks: np.ndarray) -> float:
    """Width of the median beat's QRS: the span where its slope exceeds a fifth of its steepest.

    It reads low against a cardiologist's onset-to-offset measure; on MIT-BIH it gives
    50 to 61 ms for records of normal beats and 97 to 125 ms for most bundle branch block records.
    """
    half = round(0.25 * SAMPLING_RATE)
    inside = peaks[(peaks >= half) & (peaks + half <= len(signal))]
    if len(inside) == 0:
        return float("nan")
    cleaned = clean(signal)
    return shape_width_ms(np.median(cleaned[inside[:, None] + np.arange(-half, half)], axis=0))


def shape_width_ms(shape: np.ndarray) -> float:
    """QRS width of one cleaned beat (R-peak at its middle) by `qrs_width_ms`' slope rule."""
    half = len(shape) // 2
    slope = np.abs(np.gradient(shape))
    near = min(round(0.11 * SAMPLING_RATE), half)
    region = slope[half - near:half + near]
    steep = np.flatnonzero(region > 0.2 * slope.max())
    return float((steep.max() - steep.min()) / SAMPLING_RATE * 1000) if len(steep) else 0.0
