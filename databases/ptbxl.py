"""Read PTB-XL lead II and label its beats from each record's statements.

PTB-XL labels records, not beats. A beat gets a label only where a rule makes it
safe: in a complete left (right) bundle branch block every conducted beat has the
block's shape, so the record's dominant beats are L (R); in a normal record with no
conduction or ectopy statement they are N. In a record with premature ventricular
(atrial) complexes, a premature beat unlike (like) the dominant one is V (A), and the
dominant beats are N when no conduction statement is made. In atrial fibrillation no beat is premature by
rule, so a PVC record there gives only its wide beats unlike the dominant one, as V. Every other beat is left out.

Two folders hold PTB-XL records: `ptbxl` as PhysioNet gives them (mV), and `ptbxl-extra`, which reached us
band-passed at 0.5-40 Hz and scaled to unit SD per lead (its SOURCE.md). One reader serves both: the first
passes through the same band-pass, so that the folder does not tell the class, and the second is scaled back to
about millivolts, so that detection's amplitude rules see the unit they expect.

Training may also show a labelled beat as another limb or lateral lead saw it (`lead_views`): a block
widens the QRS in every lead, so the other views teach the width, not one lead's shape.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import wfdb
from scipy.signal import butter, sosfiltfilt

from databases.labelled import LabelledRecord, data_root, shape_width_ms
from ecg.detection import clean, detect_peaks
from ecg.preprocessing import SAMPLING_RATE, to_model_rate

LEAD = "II"
# Leads whose QRS mostly points the way lead II's does; each view's R-peak is re-placed on its own lead.
VIEW_LEADS = ("I", "AVF", "V5")
VIEW_SEARCH_S = 0.04
CONDUCTION = {"CLBBB", "CRBBB", "IRBBB", "ILBBB", "LAFB", "LPFB", "IVCD", "WPW", "1AVB", "2AVB", "3AVB"}
ECTOPY = {"PVC", "PAC", "PRC(S)", "BIGU", "TRIGU", "SVARR", "SVTAC", "PSVT"}
NOT_SINUS = {"AFIB", "AFLT", "PACE", "SVTAC", "PSVT"}
PREMATURE = 0.85  # RR before the beat under this share of the record's median RR
ALIKE, UNLIKE = 0.9, 0.7  # correlation of the QRS with the record's median beat
SHAPE_S = 0.15
# In atrial fibrillation a PVC is told by shape and width alone: svdb's threshold on labelled.qrs_width_ms' rule.
WIDE_QRS_MS = 100.0
# Each folder under data_root() and whether its records reached us band-passed already.
FOLDERS = {"ptbxl": False, "ptbxl-extra": True}
# The band-pass ptbxl-extra's records went through (SOURCE.md), applied here to the folders that lack it.
BAND_HZ = (0.5, 40.0)
BAND_ORDER = 4
# A unit-SD lead back to about millivolts: a typical lead II standard deviation is 0.2 to 0.4 mV (SOURCE.md).
MV_PER_SD = 0.3


def default_dir() -> Path:
    return data_root() / "ptbxl"


@cache
def metadata(root: Path | None = None) -> pd.DataFrame:
    """The records present in every PTB-XL folder under `root` (default `data_root()`), with their statements as
    a set and their folder; empty when no folder is there. ecg_id and patient_id are PTB-XL's own in every folder."""
    tables = []
    for name in FOLDERS:
        folder = Path(root or data_root()) / name
        if not (folder / "ptbxl_database.csv").is_file():
            continue
        table = pd.read_csv(folder / "ptbxl_database.csv")
        table["folder"] = str(folder)
        tables.append(table[[(folder / f"{f}.hea").is_file() for f in table["filename_hr"]]])
    if not tables:
        return pd.DataFrame(columns=["ecg_id", "patient_id", "filename_hr", "statements", "folder"])
    table = pd.concat(tables, ignore_index=True)
    table["statements"] = [set(ast.literal_eval(codes)) for codes in table["scp_codes"]]
    return table


def record_rule(statements: set[str]) -> str | None:
    """Which rule labels this record's beats: 'L', 'R', 'N', 'V', 'A', or None (left out)."""
    if statements & {"PACE"}:
        return None
    if "CLBBB" in statements and "CRBBB" not in statements:
        return "L"
    if "CRBBB" in statements and "CLBBB" not in statements:
        return "R"
    if statements & NOT_SINUS:
        return "V" if "PVC" in statements and statements & NOT_SINUS == {"AFIB"} else None
    if "PVC" in statements:
        return "V"
    if "PAC" in statements:
        return "A"
    if "NORM" in statements and not statements & (CONDUCTION | ECTOPY):
        return "N"
    return None


def records(root: Path | None = None) -> list[str]:
    """The ecg_ids whose beats a rule can label."""
    table = metadata(root)
    return [str(i) for i, s in zip(table["ecg_id"], table["statements"]) if record_rule(s)]


def label_beats(signal: np.ndarray, peaks: np.ndarray, rule: str, statements: set[str]) -> np.ndarray:
    """One label per peak by the record's rule; '' where no rule labels the beat safely."""
    half = round(SHAPE_S * SAMPLING_RATE)
    cleaned = clean(signal)
    labels = np.full(len(peaks), "", dtype="<U1")
    inside = (peaks >= half) & (peaks + half <= len(signal))
    if inside.sum() < 3:
        return labels
    shapes = cleaned[peaks[inside][:, None] + np.arange(-half, half)]
    template = np.median(shapes, axis=0)
    likeness = np.full(len(peaks), np.nan)
    likeness[inside] = [np.corrcoef(s, template)[0, 1] for s in shapes]
    rr = np.diff(peaks).astype(float)
    rr_before = np.concatenate([[np.nan], rr])
    premature = rr_before < PREMATURE * np.median(rr)
    on_time = ~premature & ~np.isnan(rr_before)
    fibrillating = "AFIB" in statements  # every beat comes at its own time: none is premature by rule
    dominant = (likeness >= ALIKE) & (True if fibrillating else on_time)
    if rule in ("L", "R"):
        labels[dominant] = rule
        return labels
    if fibrillating:
        wide = np.zeros(len(peaks), dtype=bool)
        wide[inside] = [shape_width_ms(s) >= WIDE_QRS_MS for s in shapes]
        labels[wide & (likeness < UNLIKE)] = "V"
        return labels
    if not statements & CONDUCTION:
        labels[dominant] = "N"
    if rule == "V":
        labels[premature & (likeness < UNLIKE)] = "V"
    elif rule == "A":
        labels[premature & (likeness >= ALIKE)] = "A"
    return labels


def _row(record: str, root: Path | None) -> pd.Series:
    table = metadata(root)
    return table[table["ecg_id"] == int(record)].iloc[0]


def in_millivolts_band_passed(signal: np.ndarray, fs: float, unit: str, band_passed: bool) -> np.ndarray:
    """One lead as both folders give it: in mV (a unit-SD lead times MV_PER_SD) and band-passed once."""
    signal = np.asarray(signal, dtype=np.float64) * (MV_PER_SD if unit == "SD" else 1.0)
    if band_passed:
        return signal
    return sosfiltfilt(butter(BAND_ORDER, BAND_HZ, btype="bandpass", fs=fs, output="sos"), signal)


def _leads_at_model_rate(record: str, leads: list[str], root: Path | None) -> np.ndarray:
    """These leads of the record at 360 Hz in mV, band-passed once, (leads, samples), read from its file once."""
    row = _row(record, root)
    rec = wfdb.rdrecord(str(Path(row["folder"]) / row["filename_hr"]), channel_names=leads)
    band_passed = FOLDERS[Path(row["folder"]).name]
    return np.stack([to_model_rate(in_millivolts_band_passed(rec.p_signal[:, rec.sig_name.index(lead)], rec.fs,
                                                             rec.units[rec.sig_name.index(lead)], band_passed),
                                   rec.fs) for lead in leads])


@cache
def read(record: str, root: Path | None = None) -> LabelledRecord:
    """Lead II at 360 Hz, its beats found by the project's detector and labelled by the record's rule."""
    row = _row(record, root)
    signal = _leads_at_model_rate(record, [LEAD], root)[0]
    peaks = detect_peaks(signal, on_r_wave=False)
    rule = record_rule(row["statements"])
    labels = label_beats(signal, peaks, rule, row["statements"]) if rule else np.full(len(peaks), "")
    keep = labels != ""
    return LabelledRecord("ptbxl", record, f"ptbxl:{int(row['patient_id'])}", signal.astype(np.float32),
                          peaks[keep], labels[keep])


def lead_views(record: str, peaks: np.ndarray, root: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The VIEW_LEADS at 360 Hz, (leads, samples), and each beat's R-peak in each of them, (leads, beats).

    A view's peak is the largest deflection within VIEW_SEARCH_S of lead II's: detection.place_peaks' rule on a
    narrow window around a known R-peak, one peak per beat so that the views stay aligned with the beats.
    """
    half = round(VIEW_SEARCH_S * SAMPLING_RATE)
    signals = _leads_at_model_rate(record, list(VIEW_LEADS), root)
    positions = np.clip(np.asarray(peaks)[:, None] + np.arange(-half, half + 1), 0, signals.shape[1] - 1)
    placed = []
    for signal in signals:
        stretches = clean(signal)[positions]
        deflection = np.abs(stretches - np.median(stretches, axis=1, keepdims=True))
        placed.append(positions[np.arange(len(peaks)), np.argmax(deflection, axis=1)])
    return signals.astype(np.float32), np.array(placed).reshape(len(VIEW_LEADS), len(peaks))
