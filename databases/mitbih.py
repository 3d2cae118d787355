"""Read the MIT-BIH Arrhythmia Database and cut labelled beats from it.

The database is never committed: it is read from a local WFDB folder, named by
``MITDB_DIR`` or found at ``../shared/data/mitdb`` beside the checkout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import wfdb

from databases.labelled import REPOSITORY, LabelledRecord
from ecg.labels import BEAT_CLASSES
from ecg.preprocessing import WINDOW_AFTER, WINDOW_BEFORE, cut_windows
from ecg.record_files import lead_index

# de Chazal et al., IEEE TBME 2004: train and test sets that keep patients apart.
DS1 = (101, 106, 108, 109, 112, 114, 115, 116, 118, 119, 122, 124, 201, 203,
       205, 207, 208, 209, 215, 220, 223, 230)
DS2 = (100, 103, 105, 111, 113, 117, 121, 123, 200, 202, 210, 212, 213, 214,
       219, 221, 222, 228, 231, 232, 233, 234)
PACED = (102, 104, 107, 217)
ALL_RECORDS = tuple(sorted(DS1 + DS2 + PACED))

# Beats outside the five classes: paced, fusion of paced and normal, fusion of
# ventricular and normal, and unclassifiable; used to test the atypicality warning.
OUTSIDE_CLASSES = ("/", "f", "F", "Q")
FIBRILLATION = ("(AFIB", "(AFL")  # rhythm notes of atrial fibrillation and flutter


def rhythm_at(ann: wfdb.Annotation) -> np.ndarray:
    """The rhythm in force at each annotation, from the last rhythm note before it (sinus, "(N", before any)."""
    current, out = "(N", []
    for symbol, note in zip(ann.symbol, ann.aux_note):
        if symbol == "+" and note.strip("\x00"):
            current = note.strip("\x00")
        out.append(current)
    return np.asarray(out)


def default_data_dir() -> Path:
    """The local MIT-BIH folder: $MITDB_DIR, else ../shared/data/mitdb."""
    env = os.environ.get("MITDB_DIR")
    if env:
        return Path(env)
    return REPOSITORY.parent / "shared" / "data" / "mitdb"


def has_data(data_dir: Path | None = None) -> bool:
    """True when the folder holds the WFDB header of record 100."""
    return (Path(data_dir or default_data_dir()) / "100.hea").is_file()


@dataclass(frozen=True)
class Beats:
    """Labelled beat windows with the record and R-peak sample each came from."""

    windows: np.ndarray  # (n, 180) float32, millivolts
    labels: np.ndarray  # (n,) str, one of BEAT_CLASSES
    records: np.ndarray  # (n,) int
    peaks: np.ndarray  # (n,) int, annotated R-peak sample in the record

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask: np.ndarray) -> "Beats":
        return Beats(self.windows[mask], self.labels[mask], self.records[mask], self.peaks[mask])


def read_record(record: int, data_dir: Path | None = None) -> tuple[np.ndarray, wfdb.Annotation, float]:
    """One record's lead in millivolts, its reference annotation and its sampling rate."""
    path = str(Path(data_dir or default_data_dir()) / str(record))
    rec = wfdb.rdrecord(path)
    signal = rec.p_signal[:, lead_index(rec.sig_name)].astype(np.float32)
    return signal, wfdb.rdann(path, "atr"), float(rec.fs)


def record_beats(record: int, data_dir: Path | None = None,
                 wanted: tuple[str, ...] = BEAT_CLASSES) -> Beats:
    """Every beat with one of these annotation symbols whose full window lies inside the record."""
    signal, ann, _ = read_record(record, data_dir)
    symbols = np.asarray(ann.symbol)
    samples = np.asarray(ann.sample)
    keep = np.isin(symbols, wanted)
    keep &= (samples >= WINDOW_BEFORE) & (samples + WINDOW_AFTER <= len(signal))
    peaks = samples[keep]
    return Beats(cut_windows(signal, peaks), symbols[keep],
                 np.full(len(peaks), record), peaks)


def load_beats(records: tuple[int, ...], data_dir: Path | None = None,
               wanted: tuple[str, ...] = BEAT_CLASSES) -> Beats:
    """The beats of several records, concatenated in record order."""
    parts = [record_beats(r, data_dir, wanted) for r in records]
    return Beats(
        np.concatenate([p.windows for p in parts]),
        np.concatenate([p.labels for p in parts]),
        np.concatenate([p.records for p in parts]),
        np.concatenate([p.peaks for p in parts]),
    )


def records(data_dir: Path | None = None) -> list[str]:
    """The records whose beats training may use: DS1 (DS2 is for testing, the paced ones for neither)."""
    return [str(r) for r in DS1]


def read(record: str, data_dir: Path | None = None) -> LabelledRecord:
    """One record's lead with its N, L, R, V and A beats, in the form every database reader returns."""
    signal, ann, fs = read_record(int(record), data_dir)
    symbols = np.asarray(ann.symbol)
    keep = np.isin(symbols, BEAT_CLASSES)
    return LabelledRecord("mitdb", str(record), f"mitdb:{record}", signal, np.asarray(ann.sample)[keep],
                          symbols[keep])
