"""Labelled beats of every database in one set, cut wide for shifting, cached on disk.

Each beat is kept as a window of 2 x WIDE_HALF samples at 360 Hz centred on its
R-peak, so that training can move the peak by up to +-25 samples and stretch
the beat without running off the window. A beat is kept when its 180-sample
window lies inside the record, as `mitbih.record_beats` keeps it; the wide window
is padded with the record's edge values where it runs past the ends.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from databases import mitbih, ptbxl, svdb
from databases.labelled import REPOSITORY, LabelledRecord
from ecg.preprocessing import WINDOW_AFTER, WINDOW_BEFORE, cut_windows

WIDE_HALF = 128
CACHE_DIR = REPOSITORY / "runs" / "cache"
# Bump when any reader or labelling rule changes, so the cache is rebuilt.
CACHE_VERSION = 1


@dataclass(frozen=True)
class BeatSet:
    """Wide beat windows with their class, patient, database, record and R-peak sample."""

    windows: np.ndarray  # (n, 2 * WIDE_HALF) float32, mV, R-peak at WIDE_HALF
    labels: np.ndarray
    patients: np.ndarray
    databases: np.ndarray
    records: np.ndarray
    peaks: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask: np.ndarray) -> "BeatSet":
        return BeatSet(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))

    def centred(self, offset: int = 0) -> np.ndarray:
        """The model's 180-sample windows, with the R-peak moved `offset` samples (positive: later)."""
        start = WIDE_HALF - WINDOW_BEFORE - offset
        return self.windows[:, start:start + WINDOW_BEFORE + WINDOW_AFTER]


def from_record(rec: LabelledRecord) -> BeatSet:
    inside = (rec.peaks >= WINDOW_BEFORE) & (rec.peaks + WINDOW_AFTER <= len(rec.signal))
    peaks = rec.peaks[inside]
    padded = np.pad(rec.signal, WIDE_HALF, mode="edge")
    n = len(peaks)
    return BeatSet(cut_windows(padded, peaks + WIDE_HALF, WIDE_HALF, WIDE_HALF), rec.labels[inside],
                   np.full(n, rec.patient), np.full(n, rec.database), np.full(n, rec.record), peaks)


def concatenate(parts: list[BeatSet]) -> BeatSet:
    fields = BeatSet.__dataclass_fields__
    if not parts:
        return BeatSet(np.zeros((0, 2 * WIDE_HALF), np.float32), *(np.array([], dtype=str),) * 4,
                       np.array([], dtype=int))
    return BeatSet(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))


# One reader per database, each with records() (those training may use) and read(record) -> LabelledRecord.
READERS = {"mitdb": mitbih, "svdb": svdb, "ptbxl": ptbxl}


def load(sources: dict[str, list[str]], cache_dir: Path | None = CACHE_DIR) -> BeatSet:
    """The beats of these records ({database: [record, ...]}), from the cache when it has them."""
    key = hashlib.sha256(json.dumps([CACHE_VERSION, sources], sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir / f"beats-{key}.npz" if cache_dir else None
    if path and path.is_file():
        with np.load(path) as data:
            return BeatSet(**{f: data[f] for f in BeatSet.__dataclass_fields__})
    beats = concatenate([from_record(READERS[db].read(record)) for db, names in sources.items() for record in names])
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **{f: getattr(beats, f) for f in BeatSet.__dataclass_fields__})
    return beats


def training_sources() -> dict[str, list[str]]:
    """Every training patient: MIT-BIH DS1, the SVDB records here, the PTB-XL records a rule labels."""
    return {db: reader.records() for db, reader in READERS.items()}


def test_sources() -> dict[str, list[str]]:
    """MIT-BIH DS2: patients no model is chosen or trained on."""
    return {"mitdb": [str(r) for r in mitbih.DS2]}
