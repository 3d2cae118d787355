"""Fit the RR-context model of record mode on held-out DS1 patients; report DS2 with and without it.

    python train_rhythm.py [--data-dir DIR] [--weights weights] [--report reports/rhythm.md]

The shipped beat model never trained on the DS1 validation patients, so its
probabilities there are what it gives on unseen patients. The rhythm model is
fitted on them, judged by leaving one patient out at a time, and kept only if
that held-out score beats the beat model alone. DS2 is scored once, at the end.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import evaluation
import inference
import mitbih
import rhythm
from labels import BEAT_CLASSES, BEAT_SYMBOLS


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


def labels_of(p: np.ndarray) -> np.ndarray:
    return np.asarray(BEAT_CLASSES)[p.argmax(axis=1)]


def present_macro_f1(y: np.ndarray, predicted: np.ndarray) -> float:
    scores = evaluation.class_scores(y, predicted, BEAT_CLASSES)
    return float(np.mean([s["f1"] for s in scores["per_class"].values() if s["support"]]))


def with_rhythm(params: dict, data: dict, mask: np.ndarray) -> np.ndarray:
    return rhythm.rerank(params, data["p"][mask], data["x"][mask])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=mitbih.default_data_dir())
    ap.add_argument("--weights", type=Path, default=inference.WEIGHTS_DIR)
    ap.add_argument("--report", type=Path, default=Path("reports/rhythm.md"))
    args = ap.parse_args()
    val = collect(mitbih.VALIDATION, args.data_dir)
    fit_rows = np.isin(val["y"], rhythm.RHYTHM_CLASSES)

    held_out = np.empty(len(val["y"]), dtype=object)
    for patient in mitbih.VALIDATION:
        train = fit_rows & (val["group"] != patient)
        test = val["group"] == patient
        params = rhythm.fit(val["x"][train], val["y"][train])
        held_out[test] = labels_of(with_rhythm(params, val, test))
    beat_only = present_macro_f1(val["y"], labels_of(val["p"]))
    context = present_macro_f1(val["y"], held_out.astype(str))
    print(f"held-out DS1 patients {mitbih.VALIDATION}, one left out at a time: macro-F1 "
          f"beat model {beat_only:.3f}, with RR context {context:.3f}")

    params = rhythm.fit(val["x"][fit_rows], val["y"][fit_rows])
    params["weights_sha256"] = inference.shipped_model().metadata["weights_sha256"]
    params["fitted_on"] = list(mitbih.VALIDATION)
    params["held_out_macro_f1"] = {"beat_model": beat_only, "with_rr_context": context}
    params["used"] = context > beat_only
    (args.weights / rhythm.RHYTHM_FILE).write_text(json.dumps(params, indent=1))

    ds2 = collect(mitbih.DS2, args.data_dir)
    everything = np.ones(len(ds2["y"]), dtype=bool)
    scores = {"beat model alone": evaluation.evaluate(ds2["y"], labels_of(ds2["p"]), BEAT_CLASSES),
              "with RR context": evaluation.evaluate(ds2["y"], labels_of(with_rhythm(params, ds2, everything)),
                                                     BEAT_CLASSES)}
    lines = ["# RR context in record mode", "",
             f"Fitted on DS1 validation patients {', '.join(map(str, mitbih.VALIDATION))} (never used to train the "
             "beat model). Held out one patient at a time, macro-F1 over the classes present: "
             f"beat model {beat_only:.3f}, with RR context {context:.3f}: "
             + ("used in record mode." if params["used"] else "not used."), ""]
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
