"""Fit the RR-context model of record mode on out-of-fold beat-model predictions; report DS2 with and without it.

    python train_rhythm.py [--data-dir DIR] [--weights weights] [--report reports/rhythm.md]

train.py keeps, for every training patient, what a fold model that never saw that
patient answered (weights/oof.npz). The rhythm model is fitted on those answers for
the 30-minute records (MIT-BIH DS1 and SVDB; PTB-XL's 10 s give no rhythm), judged by
patient-wise cross-validation, and switched on only if it raises the mean of AAMI S
and V F1 without lowering 5-class macro-F1. DS2 is scored once, at the end.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import wfdb
from sklearn.model_selection import GroupKFold

import evaluation
import inference
import mitbih
import rhythm
import svdb
from labels import BEAT_CLASSES, BEAT_SYMBOLS
from preprocessing import SAMPLING_RATE
from train import OOF_FILE

FOLDS = 5


def record_rows(record: int, data_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Beat-model probabilities, rhythm features and labels of a record's N/L/R/V/A beats.

    RR intervals come from every annotated beat, as record mode takes them from every detected beat.
    """
    signal, ann, fs = mitbih.read_record(record, data_dir)
    symbols, samples = np.asarray(ann.symbol), np.asarray(ann.sample)
    all_beats = samples[np.isin(symbols, BEAT_SYMBOLS)]
    beats = mitbih.record_beats(record, data_dir)
    probabilities = inference.predict_proba(beats.windows)
    position = np.searchsorted(all_beats, beats.peaks)
    x = rhythm.features(probabilities, rhythm.rr_features(all_beats, fs)[position])
    return probabilities, x, beats.labels


def collect(records: tuple[int, ...], data_dir: Path) -> dict:
    parts = [record_rows(r, data_dir) for r in records]
    return {"p": np.concatenate([p[0] for p in parts]), "x": np.concatenate([p[1] for p in parts]),
            "y": np.concatenate([p[2] for p in parts]),
            "group": np.concatenate([np.full(len(p[2]), r) for p, r in zip(parts, records)])}


def beat_samples(database: str, record: str) -> np.ndarray:
    """Every annotated beat of a record, at 360 Hz: the beats RR intervals are measured between."""
    folder = {"mitdb": mitbih.default_data_dir(), "svdb": svdb.default_dir()}[database]
    header = wfdb.rdheader(str(folder / record))
    ann = wfdb.rdann(str(folder / record), "atr")
    beats = np.asarray(ann.sample)[np.isin(ann.symbol, BEAT_SYMBOLS)]
    return np.round(beats * SAMPLING_RATE / header.fs).astype(int)


def out_of_fold_rows(weights_dir: Path) -> dict:
    """Out-of-fold probabilities, rhythm features, labels and patients of the 30-minute training records."""
    oof = np.load(weights_dir / OOF_FILE)
    rows = {"p": [], "x": [], "y": [], "group": []}
    pairs = sorted({(str(d), str(r)) for d, r in zip(oof["databases"], oof["records"]) if d in ("mitdb", "svdb")})
    for database, record in pairs:
        mask = (oof["databases"] == database) & (oof["records"] == record)
        beats = beat_samples(database, record)
        nearest = np.clip(np.searchsorted(beats, oof["peaks"][mask]), 1, len(beats) - 1)
        nearest -= np.abs(beats[nearest - 1] - oof["peaks"][mask]) < np.abs(beats[nearest] - oof["peaks"][mask])
        p = oof["probabilities"][mask].astype(float)
        rows["p"].append(p)
        rows["x"].append(rhythm.features(p, rhythm.rr_features(beats, SAMPLING_RATE)[nearest]))
        rows["y"].append(oof["labels"][mask])
        rows["group"].append(oof["patients"][mask])
    return {k: np.concatenate(v) for k, v in rows.items()}


def labels_of(p: np.ndarray) -> np.ndarray:
    return np.asarray(BEAT_CLASSES)[p.argmax(axis=1)]


def judged(y: np.ndarray, predicted: np.ndarray) -> dict:
    """What decides whether context is used: 5-class macro-F1 and the mean of AAMI S and V F1."""
    scores = evaluation.evaluate(y, predicted, BEAT_CLASSES)
    aami = scores["aami"]["per_class"]
    return {"macro_f1": scores["five_class"]["macro_f1"], "s_v_f1": (aami["S"]["f1"] + aami["V"]["f1"]) / 2}


def with_rhythm(params: dict, data: dict, mask: np.ndarray) -> np.ndarray:
    return rhythm.rerank(params, data["p"][mask], data["x"][mask])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=mitbih.default_data_dir())
    ap.add_argument("--weights", type=Path, default=inference.WEIGHTS_DIR)
    ap.add_argument("--report", type=Path, default=Path("reports/rhythm.md"))
    args = ap.parse_args()
    train = out_of_fold_rows(args.weights)
    fit_rows = np.isin(train["y"], rhythm.RHYTHM_CLASSES)
    held_out = np.empty(len(train["y"]), dtype=object)
    for fit_on, test in GroupKFold(FOLDS).split(train["x"], train["y"], train["group"]):
        params = rhythm.fit(train["x"][fit_on[fit_rows[fit_on]]], train["y"][fit_on[fit_rows[fit_on]]])
        mask = np.zeros(len(train["y"]), dtype=bool)
        mask[test] = True
        held_out[test] = labels_of(with_rhythm(params, train, mask))
    beat_only = judged(train["y"], labels_of(train["p"]))
    context = judged(train["y"], held_out.astype(str))
    print(f"{len(set(train['group']))} training patients, {FOLDS} folds of whole patients: "
          f"beat model macro-F1 {beat_only['macro_f1']:.3f}, S/V F1 {beat_only['s_v_f1']:.3f}; "
          f"with RR context {context['macro_f1']:.3f}, {context['s_v_f1']:.3f}")

    params = rhythm.fit(train["x"][fit_rows], train["y"][fit_rows])
    params["weights_sha256"] = inference.shipped_model().metadata["weights_sha256"]
    params["fitted_on"] = sorted(set(train["group"].tolist()))
    params["cross_validated"] = {"beat_model": beat_only, "with_rr_context": context}
    params["used"] = context["s_v_f1"] > beat_only["s_v_f1"] and context["macro_f1"] >= beat_only["macro_f1"]
    (args.weights / rhythm.RHYTHM_FILE).write_text(json.dumps(params, indent=1))

    ds2 = collect(mitbih.DS2, args.data_dir)
    everything = np.ones(len(ds2["y"]), dtype=bool)
    scores = {"beat model alone": evaluation.evaluate(ds2["y"], labels_of(ds2["p"]), BEAT_CLASSES),
              "with RR context": evaluation.evaluate(ds2["y"], labels_of(with_rhythm(params, ds2, everything)),
                                                     BEAT_CLASSES)}
    lines = ["# RR context in record mode", "",
             f"Fitted on the out-of-fold beat-model answers of {len(params['fitted_on'])} training patients "
             f"(MIT-BIH DS1 and SVDB). In {FOLDS} folds of whole patients: 5-class macro-F1 "
             f"{beat_only['macro_f1']:.3f} for the beat model, {context['macro_f1']:.3f} with RR context; mean "
             f"AAMI S and V F1 {beat_only['s_v_f1']:.3f} and {context['s_v_f1']:.3f}: "
             + ("used in record mode." if params["used"] else "not used in record mode."), ""]
    for name, s in scores.items():
        lines += [f"## DS2, {name} (reference beats, RR from the reference annotation)", "",
                  evaluation.markdown_table(s["five_class"]), "", "AAMI view:", "",
                  evaluation.markdown_table(s["aami"]), ""]
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text("\n".join(lines))
    for name, s in scores.items():
        five = s["five_class"]
        print(f"DS2 {name}: accuracy {five['accuracy']:.4f}, macro-F1 {five['macro_f1']:.3f}; "
              + ", ".join(f"{c} F1 {v['f1']:.3f}" for c, v in five["per_class"].items()))
    print(f"wrote {args.weights / rhythm.RHYTHM_FILE} and {args.report}")


if __name__ == "__main__":
    main()
