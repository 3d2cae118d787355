"""Shared fixtures: synthetic beats for unit tests, the local MIT-BIH copy for data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb

from databases import mitbih
from ecg.synthetic import synthetic_beat, synthetic_ecg

ROOT = Path(__file__).resolve().parent.parent


def write_record(folder: Path, name: str = "syn", fs: float = 360, names: tuple[str, ...] = ("MLII", "V1"),
                 with_atr: bool = True, seed: int = 0) -> tuple[Path, np.ndarray]:
    """A synthetic WFDB record (format 212) with its .atr; returns its header and R-peak samples.

    The lead named MLII (the first where none is) carries `synthetic_ecg(fs, seed)`; every other lead carries
    that signal inverted and moved by a fraction of a beat, so a test can tell by the samples which lead was read."""
    signal, peaks = synthetic_ecg(fs=fs, seed=seed)
    main = names.index("MLII") if "MLII" in names else 0
    channels = np.column_stack([signal if i == main else -np.roll(signal, int(0.3 * fs) + i)
                                for i in range(len(names))])
    wfdb.wrsamp(name, fs=fs, units=["mV"] * len(names), sig_name=list(names), p_signal=channels,
                fmt=["212"] * len(names), write_dir=str(folder))
    if with_atr:
        wfdb.wrann(name, "atr", peaks, symbol=["N"] * len(peaks), write_dir=str(folder))
    return folder / f"{name}.hea", peaks


def matched_share(found: np.ndarray, truth: np.ndarray, tolerance: int) -> float:
    """The share of true peaks with a found peak within `tolerance` samples."""
    return float(np.mean([np.min(np.abs(found - t)) <= tolerance for t in truth]))


@pytest.fixture
def beat() -> np.ndarray:
    return synthetic_beat()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = mitbih.default_data_dir()
    if not mitbih.has_data(path):
        pytest.skip(f"MIT-BIH data not found at {path}; set MITDB_DIR to a local copy to run this test")
    return path


@pytest.fixture
def numbered_context(monkeypatch) -> list[int]:
    """Record mode's context replaced by one whose k-th call answers class k mod 5 (in CLASSES order) for every beat
    it is given, so that a test can tell which call answered each beat. Returns how many beats each call was given."""
    from ecg import record

    sizes: list[int] = []

    def numbered(params, probabilities, peaks, fs, windows, beats):
        sizes.append(len(peaks))
        answer = np.zeros_like(probabilities)
        answer[:, len(sizes) % probabilities.shape[1]] = 1.0
        return answer

    monkeypatch.setattr(record.context, "apply", numbered)
    return sizes
