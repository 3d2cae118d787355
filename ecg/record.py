"""Whole recordings: read, resample to 360 Hz, find every beat, classify it.

The command line is ecg/analyze.py; a folder of records is spread over cores by ecg/archive.py.
Results are given at the input's own sample positions and times.
"""

from __future__ import annotations

import gc
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import wfdb
from wfdb import processing

from ecg import context, typicality
from ecg.detection import detect_peaks
from ecg.labels import BEAT_CLASSES, BEAT_SYMBOLS
from ecg.preprocessing import (
    SAMPLING_RATE,
    WINDOW_AFTER,
    WINDOW_BEFORE,
    cut_windows,
    preprocess,
    to_model_rate,
)
from inference import CLASSES, WEIGHTS_DIR, InputError, WeightsError, predict_with_hidden, shipped_model
from model import ECGCNN

MIN_FS, MAX_FS = 100.0, 1000.0
MIN_SECONDS = 2.0
SEGMENT_S = 1800.0  # longer recordings are analysed in stretches of 30 minutes
MARGIN_S = 10.0
# Context (rhythm, dominant beat) is that of the beat's own 30 minutes, counted from the recording's start, with
# MARGIN_S either side, however the recording is read: whole or a stretch at a time, a beat gets the same answer.
CONTEXT_S = SEGMENT_S
MATCH_WINDOW_S = 0.150
ANNOTATION_EXTENSION = "cnn"
Progress = Callable[[float, str], None]
Reader = Callable[[int, int], np.ndarray]


@dataclass(frozen=True)
class Models:
    """What record mode classifies with: a beat model and a context model (None: the beat model's answers stand).
    The shipped ones by default; measure.held_out gives each training patient the ones that never saw it."""

    beat: ECGCNN
    context: dict | None
    typicality: dict | None = None  # the beat model's class centres and threshold; None: no atypical column


def _check_recording(n_samples: int, fs: float, shape: tuple[int, ...] | None = None) -> None:
    """The rate and length of a recording, before any of it is analysed."""
    if fs is None or not np.isfinite(fs):
        raise InputError("No sampling rate given. State the rate of the recording in Hz (100 to 1000).")
    if not MIN_FS <= fs <= MAX_FS:
        raise InputError(f"Sampling rate {fs:g} Hz is outside what the app resamples: {MIN_FS:g} to {MAX_FS:g} Hz.")
    if shape is not None and len(shape) != 1:
        raise InputError(f"Expected one lead (a 1-D signal); got an array of shape {shape}.")
    if n_samples < MIN_SECONDS * fs:
        raise InputError(f"The recording is {n_samples / fs:.2f} s long, too short for one beat with its "
                         f"neighbours: at least {MIN_SECONDS:g} s is needed.")


def _check_samples(stretch: np.ndarray, first_sample: int) -> np.ndarray:
    stretch = np.asarray(stretch, dtype=np.float64)
    if not np.all(np.isfinite(stretch)):
        bad = first_sample + int(np.flatnonzero(~np.isfinite(stretch))[0])
        raise InputError(f"Sample {bad} is NaN or infinite; every sample must be a real number.")
    return stretch


def context_params() -> dict | None:
    """The context model when it was judged useful on held-out training patients and fits the shipped weights."""
    params = context.shipped_params(WEIGHTS_DIR)
    if params is None or not params["used"]:
        return None
    if params["weights_sha256"] != shipped_model().metadata["weights_sha256"]:
        raise WeightsError(f"{context.CONTEXT_FILE} was fitted for other weights: "
                           "rerun `python -m training.train_context`.")
    return params


def shipped_models(use_context: bool = True) -> Models:
    loaded = shipped_model()
    return Models(loaded.model, context_params() if use_context else None, loaded.metadata["typicality"])


def analyze(signal: np.ndarray, fs: float = SAMPLING_RATE, progress: Progress | None = None,
            use_context: bool = True, segment_s: float | None = SEGMENT_S, models: Models | None = None
            ) -> pd.DataFrame:
    """Every beat of a 1-D recording: sample (index into `signal`), time_s, label, confidence and more.

    `label` reads each beat in its context (rhythm, the record's dominant beat) when `use_context` is on and the
    context model is shipped; `beat_label` is always the beat model's own answer. Recordings longer than
    `segment_s` are analysed a stretch at a time (see analyze_stretches); None analyses them whole. `models`
    replaces the shipped beat and context models (`use_context` off still leaves context out).
    """
    signal = np.asarray(signal)
    _check_recording(signal.shape[0] if signal.ndim == 1 else 0, fs, signal.shape)
    return analyze_stretches(lambda start, stop: signal[start:stop], len(signal), fs, progress, use_context,
                             segment_s, models)


def analyze_stretches(read: Reader, n_samples: int, fs: float, progress: Progress | None = None,
                      use_context: bool = True, segment_s: float | None = SEGMENT_S, models: Models | None = None
                      ) -> pd.DataFrame:
    """Every beat of a recording that `read(start, stop)` gives a stretch at a time.

    A recording longer than `segment_s` is cut into stretches of that length, each read
    with MARGIN_S more on both sides so that detection and filters settle before its
    first beat; a beat belongs to the stretch its peak falls in. Memory then stays the
    same however long the recording is. Context (rhythm, dominant beat) is that of the
    beat's own CONTEXT_S block, as a Holter's rate and beat shape change through a day.
    """
    _check_recording(n_samples, fs)
    report = progress or (lambda fraction, message: None)
    segment = n_samples if segment_s is None else int(segment_s * fs)
    starts = [0] if n_samples <= segment + int(MARGIN_S * fs) else list(range(0, n_samples, segment))
    margin = int(MARGIN_S * fs) if len(starts) > 1 else 0
    models = shipped_models(use_context) if models is None else models
    if not use_context:
        models = Models(models.beat, None, models.typicality)
    tables, flat = [], True
    for k, start in enumerate(starts):
        stop = n_samples if len(starts) == 1 else min(start + segment, n_samples)
        low, high = max(0, start - margin), min(n_samples, stop + margin)
        stretch = _check_samples(read(low, high), low)
        flat_here = bool(np.ptp(stretch) == 0)
        flat &= flat_here
        table = None if flat_here else _beats_of(stretch, fs, models, lambda f, m: report((k + f) / len(starts), m),
                                                 low, n_samples)
        if table is not None:
            table["sample"] += low
            tables.append(table[(table["sample"] >= start) & (table["sample"] < stop)])
        if len(starts) > 1:
            # gqrs and the filters leave reference cycles that hold a stretch's arrays; collected only now
            # and then, they added about 17 MB a stretch (a 24-hour recording peaked at 1.5 GB).
            gc.collect()
    if flat:
        raise InputError("The recording is flat: every sample has the same value.")
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if table.empty:
        raise InputError("No heartbeat was found in the recording. Is it an ECG lead at the rate stated?")
    rr = np.diff(table["sample"].to_numpy()) / fs
    table.insert(1, "time_s", table["sample"] / fs)
    table.insert(6, "rr_before_s", np.concatenate([[np.nan], rr]))
    table.insert(7, "rr_after_s", np.concatenate([rr, [np.nan]]))
    report(1.0, "done")
    return table


def _beats_of(stretch: np.ndarray, fs: float, models: Models, report: Progress, offset: int,
              total: int) -> pd.DataFrame | None:
    """The beats of one stretch that starts `offset` samples into a recording of `total`, at sample positions
    within the stretch; None when it holds none."""
    report(0.1, "resampling to 360 Hz")
    resampled = to_model_rate(stretch, fs)
    report(0.3, "finding R-peaks")
    peaks = detect_peaks(resampled)
    if len(peaks) == 0:
        return None
    report(0.6, f"classifying {len(peaks)} beats")
    windows = beat_windows(resampled, peaks)
    beats = preprocess(windows)
    probabilities, hidden = predict_with_hidden(beats, models.beat)
    samples = np.minimum(np.round(peaks * fs / SAMPLING_RATE).astype(int), len(stretch) - 1)
    final = (_in_context(models.context, probabilities, peaks, windows, beats, samples + offset, fs, total)
             if models.context else probabilities)
    table = pd.DataFrame({
        "sample": samples,
        "label": np.asarray(CLASSES)[final.argmax(axis=1)],
        "confidence": final.max(axis=1),
        "beat_label": np.asarray(CLASSES)[probabilities.argmax(axis=1)],
        "beat_confidence": probabilities.max(axis=1),
    })
    for i, c in enumerate(CLASSES):
        table[f"p_{c}"] = probabilities[:, i]
    if models.typicality:
        table["atypical"] = typicality.distance(hidden, models.typicality) > models.typicality["threshold"]
    return table


def _in_context(params: dict, probabilities: np.ndarray, peaks: np.ndarray, windows: np.ndarray, beats: np.ndarray,
                at: np.ndarray, fs: float, total: int) -> np.ndarray:
    """Each beat's answer in the context of its own CONTEXT_S block of the recording (`at`: its sample there)."""
    block, margin = int(CONTEXT_S * fs), int(MARGIN_S * fs)
    if total <= block + margin:
        return context.apply(params, probabilities, peaks, SAMPLING_RATE, windows, beats)
    final = probabilities.copy()
    for start in range(0, total, block):
        own = (at >= start) & (at < start + block)
        if own.any():
            near = (at >= start - margin) & (at < start + block + margin)
            answer = context.apply(params, probabilities[near], peaks[near], SAMPLING_RATE, windows[near], beats[near])
            final[own] = answer[own[near]]
    return final


def beat_windows(resampled: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """The model's windows around peaks of a 360 Hz signal; beats near either end are padded with the edge."""
    padded = np.pad(resampled, (WINDOW_BEFORE, WINDOW_AFTER), mode="edge")
    return cut_windows(padded, np.asarray(peaks) + WINDOW_BEFORE)


def summary(table: pd.DataFrame, n_samples: int, fs: float) -> dict:
    """Beats per class, mean heart rate, duration, and the beats the atypical warning flags (None: not measured)."""
    duration = n_samples / fs
    rr = table["rr_after_s"].dropna()
    return {
        "duration_s": duration,
        "beats": len(table),
        "per_class": {c: int((table["label"] == c).sum()) for c in CLASSES},
        "mean_heart_rate_bpm": float(60 / rr.mean()) if len(rr) else float("nan"),
        "atypical": int(table["atypical"].sum()) if "atypical" in table else None,
    }


def agreement(table: pd.DataFrame, reference: wfdb.Annotation, fs: float, skip_flutter: bool = False) -> dict:
    """Detection sensitivity and +P against a reference annotation, where the detected peaks sit against the
    reference (median and interquartile range of the offset, in samples; positive: later), and class
    agreement on matched beats.

    With `skip_flutter`, beats and detections inside ventricular flutter or fibrillation episodes (between
    the reference's '[' and ']') are left out, as ANSI/AAMI EC57 scores QRS detection.
    """
    symbols = np.asarray(reference.symbol)
    all_samples = np.asarray(reference.sample)
    is_beat = np.isin(symbols, BEAT_SYMBOLS)
    ref_samples = all_samples[is_beat]
    ref_symbols = symbols[is_beat]
    if skip_flutter:
        keep = ~_in_flutter(ref_samples, all_samples, symbols)
        ref_samples, ref_symbols = ref_samples[keep], ref_symbols[keep]
        table = table[~_in_flutter(table["sample"].to_numpy(), all_samples, symbols)]
    comparison = processing.compare_annotations(ref_samples, table["sample"].to_numpy(),
                                                int(MATCH_WINDOW_S * fs))
    matched_ref = np.asarray(comparison.matched_ref_inds)
    matched_test = np.asarray(comparison.matched_test_inds)
    truth = ref_symbols[matched_ref]
    predicted = table["label"].to_numpy()[matched_test]
    beat_only = table["beat_label"].to_numpy()[matched_test]
    known = np.isin(truth, BEAT_CLASSES)
    outside = Counter(zip(truth[~known].tolist(), predicted[~known].tolist()))
    offsets = table["sample"].to_numpy()[matched_test] - ref_samples[matched_ref]
    quartiles = np.percentile(offsets, [25, 50, 75]) if len(offsets) else np.full(3, np.nan)
    return {
        "reference_beats": len(ref_samples),
        "peak_offset_median": float(quartiles[1]),
        "peak_offset_iqr": float(quartiles[2] - quartiles[0]),
        "detected_beats": len(table),
        "sensitivity": float(comparison.sensitivity),
        "positive_predictivity": float(comparison.positive_predictivity),
        "matched_known_beats": int(known.sum()),
        "class_agreement": float((truth[known] == predicted[known]).mean()) if known.any() else float("nan"),
        "matched_other_beats": int((~known).sum()),
        "other_beats_called": {f"{t} as {p}": n for (t, p), n in sorted(outside.items(), key=lambda kv: -kv[1])},
        "truth": truth[known],
        "predicted": predicted[known],
        "predicted_beat_only": beat_only[known],
    }


def _in_flutter(samples: np.ndarray, annotated: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """Which samples lie in a ventricular flutter or fibrillation episode, from '[' to ']'."""
    starts, ends = annotated[symbols == "["], annotated[symbols == "]"]
    inside = np.zeros(len(samples), dtype=bool)
    for start in starts:
        later_ends = ends[ends > start]
        end = later_ends[0] if len(later_ends) else np.inf
        inside |= (samples >= start) & (samples <= end)
    return inside


def write_annotations(table: pd.DataFrame, name: str, fs: float, out_dir: Path) -> Path:
    """The beats as a WFDB annotation file (extension .cnn), to open beside the record in WFDB viewers: each
    beat's label as its symbol, and the beat model's own answer in its aux_note ("beat model: V")."""
    out_dir.mkdir(parents=True, exist_ok=True)
    wfdb.wrann(name, ANNOTATION_EXTENSION, table["sample"].to_numpy(dtype=np.int64),
               symbol=table["label"].tolist(), aux_note=[f"beat model: {b}" for b in table["beat_label"]],
               fs=fs, write_dir=str(out_dir))
    return out_dir / f"{name}.{ANNOTATION_EXTENSION}"
