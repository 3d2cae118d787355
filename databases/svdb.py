"""Read the MIT-BIH Supraventricular Arrhythmia Database: Holter records at 128 Hz of 39 new patients.

Its beats are labelled N, S and V; S (supraventricular ectopic) is this model's A.
Its reference marks sit on another fiducial than MIT-BIH's, so each record's marks
are re-centred on the largest deflection. SVDB calls every conducted beat N, bundle
branch block or not, so the N beats of patients whose QRS is wide are left out.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import wfdb

from databases.labelled import LabelledRecord, data_root, qrs_width_ms, recentre
from ecg.preprocessing import to_model_rate

SYMBOLS = {"N": "N", "S": "A", "V": "V"}
LEAD = 0  # ECG1: usually the better lead and the nearest to lead II
WIDE_QRS_MS = 100.0


def default_dir() -> Path:
    return data_root() / "svdb"


def records(data_dir: Path | None = None) -> list[str]:
    """The record names listed in the folder's RECORDS file (none when the folder is absent)."""
    listing = Path(data_dir or default_dir()) / "RECORDS"
    return listing.read_text().split() if listing.is_file() else []


@cache
def read(record: str, data_dir: Path | None = None) -> LabelledRecord:
    """ECG1 at 360 Hz with its N, A and V beats re-centred; N left out where the QRS is wide."""
    path = str(Path(data_dir or default_dir()) / record)
    rec = wfdb.rdrecord(path, channels=[LEAD])
    ann = wfdb.rdann(path, "atr")
    signal = to_model_rate(rec.p_signal[:, 0], rec.fs)
    symbols = np.asarray(ann.symbol)
    keep = np.isin(symbols, list(SYMBOLS))
    marks = np.round(np.asarray(ann.sample)[keep] * len(signal) / rec.sig_len).astype(int)
    labels = np.vectorize(SYMBOLS.get)(symbols[keep]) if keep.any() else np.array([], dtype=str)
    peaks, _ = recentre(signal, marks)
    if qrs_width_ms(signal, peaks[labels == "N"]) >= WIDE_QRS_MS:
        peaks, labels = peaks[labels != "N"], labels[labels != "N"]
    return LabelledRecord("svdb", record, f"svdb:{record}", signal.astype(np.float32), peaks, labels)
