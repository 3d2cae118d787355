"""Example beats for the app, one per class, from DS2 patients the shipped model never saw.

They are read at run time, never committed: from the local MIT-BIH copy named by
``MITDB_DIR``, else streamed from PhysioNet with wfdb. With neither, the app
starts without examples and says why.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import wfdb

from ecg.labels import CLASS_NAMES
from ecg.preprocessing import SAMPLING_RATE, WINDOW_AFTER, WINDOW_BEFORE, cut_windows, lead_index

# (class, DS2 record, which beat of that class in the record, counted from 0).
CHOSEN = (("N", 100, 1000), ("L", 214, 1000), ("R", 212, 1000), ("V", 200, 300), ("A", 232, 500))
PHYSIONET_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Example:
    label: str
    record: int
    sample: int
    beat: np.ndarray

    @property
    def title(self) -> str:
        return (f"{self.label} ({CLASS_NAMES[self.label]}): record {self.record}, "
                f"{self.sample / SAMPLING_RATE:.1f} s")

    def as_text(self) -> str:
        return ", ".join(f"{v:.3f}" for v in self.beat)


def _read(record: int, source: dict) -> tuple[np.ndarray, wfdb.Annotation]:
    name = str(Path(source["dir"]) / str(record)) if "dir" in source else str(record)
    pn_dir = source.get("pn_dir")
    rec = wfdb.rdrecord(name, pn_dir=pn_dir)
    ann = wfdb.rdann(name, "atr", pn_dir=pn_dir)
    return rec.p_signal[:, lead_index(rec.sig_name)], ann


def _load(source: dict) -> list[Example]:
    found = []
    for label, record, nth in CHOSEN:
        signal, ann = _read(record, source)
        samples = np.asarray(ann.sample)[np.asarray(ann.symbol) == label]
        samples = samples[(samples >= WINDOW_BEFORE) & (samples + WINDOW_AFTER <= len(signal))]
        peak = int(samples[min(nth, len(samples) - 1)])
        found.append(Example(label, record, peak, cut_windows(signal, np.array([peak]))[0]))
    return found


def load_examples() -> tuple[list[Example], str]:
    """The example beats and a line saying where they came from, or why there are none."""
    local = os.environ.get("MITDB_DIR")
    if local:
        try:
            return _load({"dir": local}), f"Examples read from the local MIT-BIH copy in {local}."
        except Exception as err:
            return [], f"No examples: MITDB_DIR is set to {local}, but reading it failed ({err})."
    result: dict = {}

    def stream() -> None:
        try:
            result["examples"] = _load({"pn_dir": "mitdb"})
        except Exception as err:
            result["error"] = err

    worker = threading.Thread(target=stream, daemon=True)
    worker.start()
    worker.join(PHYSIONET_TIMEOUT_S)
    if "examples" in result:
        return result["examples"], "Examples streamed from PhysioNet (MIT-BIH Arrhythmia Database)."
    reason = result.get("error", f"no answer within {PHYSIONET_TIMEOUT_S:.0f} s")
    return [], (f"No examples: MITDB_DIR is not set and PhysioNet could not be reached ({reason}). "
                "Set MITDB_DIR to a local copy of the MIT-BIH Arrhythmia Database to get them.")
