"""Shared fixtures: synthetic beats for unit tests, the local MIT-BIH copy for data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mitbih
from synthetic import synthetic_beat

ROOT = Path(__file__).resolve().parent.parent


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
