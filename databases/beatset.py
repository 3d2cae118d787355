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
# The code that decides which beats there are, where their peaks sit and how they are labelled: the cache key
# holds its text, so a change to any of it rebuilds the cache (a version number to bump by hand once collided
# with an experiment's cache and served stale beats).
BEAT_CODE = ("databases/*.py", "ecg/detection.py", "ecg/gqrs_fast.py", "ecg/preprocessing.py", "ecg/labels.py")


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


def kept_peaks(rec: LabelledRecord) -> np.ndarray:
    """Whether each beat's 180-sample window lies inside the record: the beats a BeatSet keeps."""
    return (rec.peaks >= WINDOW_BEFORE) & (rec.peaks + WINDOW_AFTER <= len(rec.signal))


def wide_windows(signal: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    padded = np.pad(signal, WIDE_HALF, mode="edge")
    return cut_windows(padded, peaks + WIDE_HALF, WIDE_HALF, WIDE_HALF)


def from_record(rec: LabelledRecord) -> BeatSet:
    inside = kept_peaks(rec)
    peaks = rec.peaks[inside]
    n = len(peaks)
    return BeatSet(wide_windows(rec.signal, peaks), rec.labels[inside],
                   np.full(n, rec.patient), np.full(n, rec.database), np.full(n, rec.record), peaks)


def concatenate(parts: list[BeatSet]) -> BeatSet:
    fields = BeatSet.__dataclass_fields__
    if not parts:
        return BeatSet(np.zeros((0, 2 * WIDE_HALF), np.float32), *(np.array([], dtype=str),) * 4,
                       np.array([], dtype=int))
    return BeatSet(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))


# One reader per database, each with records() (those training may use) and read(record) -> LabelledRecord.
READERS = {"mitdb": mitbih, "svdb": svdb, "ptbxl": ptbxl}


def beat_code() -> str:
    """The sha256 of BEAT_CODE's files, in order, as they are on disk now."""
    digest = hashlib.sha256()
    for pattern in BEAT_CODE:
        for path in sorted(REPOSITORY.glob(pattern)):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _cache_path(kind: str, sources: dict[str, list[str]], cache_dir: Path | None, code: str | None) -> Path | None:
    key = hashlib.sha256(json.dumps([code or beat_code(), sources], sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir / f"{kind}-{key}.npz" if cache_dir else None


def load(sources: dict[str, list[str]], cache_dir: Path | None = CACHE_DIR, code: str | None = None) -> BeatSet:
    """The beats of these records ({database: [record, ...]}), from the cache when it has them. `code` is
    `beat_code()` as a training run read it when it started (None: read it now), so that its workers read the
    beats its folds were drawn on even if that code is edited while it runs."""
    path = _cache_path("beats", sources, cache_dir, code)
    if path and path.is_file():
        with np.load(path) as data:
            return BeatSet(**{f: data[f] for f in BeatSet.__dataclass_fields__})
    beats = concatenate([from_record(READERS[db].read(record)) for db, names in sources.items() for record in names])
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **{f: getattr(beats, f) for f in BeatSet.__dataclass_fields__})
    return beats


def view_rows(beats: BeatSet) -> np.ndarray:
    """Each beat's row in `lead_views`' table (its PTB-XL beats in order), -1 for beats of other databases."""
    multi_lead = beats.databases == "ptbxl"
    return np.where(multi_lead, np.cumsum(multi_lead) - 1, -1)


def lead_views(sources: dict[str, list[str]], cache_dir: Path | None = CACHE_DIR,
               code: str | None = None) -> np.ndarray:
    """Every PTB-XL beat of `load(sources)`, in its order, as each of ptbxl.VIEW_LEADS saw it:
    (beats, leads, 2 x WIDE_HALF), R-peak at WIDE_HALF in each lead. `code` as for `load`."""
    path = _cache_path("views", sources, cache_dir, code)
    if path and path.is_file():
        with np.load(path) as data:
            return data["views"]
    parts = [np.zeros((0, len(ptbxl.VIEW_LEADS), 2 * WIDE_HALF), np.float32)]
    for record in sources.get("ptbxl", []):
        rec = ptbxl.read(record)
        signals, placed = ptbxl.lead_views(record, rec.peaks[kept_peaks(rec)])
        parts.append(np.stack([wide_windows(signal, peaks) for signal, peaks in zip(signals, placed)], axis=1))
    views = np.concatenate(parts)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, views=views)
    return views


def training_sources() -> dict[str, list[str]]:
    """Every training patient: MIT-BIH DS1, the SVDB records here, the PTB-XL records a rule labels."""
    return {db: reader.records() for db, reader in READERS.items()}


def test_sources() -> dict[str, list[str]]:
    """MIT-BIH DS2: patients no model is chosen or trained on."""
    return {"mitdb": [str(r) for r in mitbih.DS2]}
