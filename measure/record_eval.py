"""Score record mode on whole recordings: detection, where peaks sit, and whether it ever does worse than
its own beat model.

    python -m measure.record_eval [--fs HZ] [--databases mitdb svdb] [--in-sample] [--out reports/record_mode.md]

Records: the 44 non-paced MIT-BIH records at 360 Hz and the 39 SVDB records at 128 Hz.
No-harm rule, per record: record mode's accuracy on the reference beats it found is
at least the beat model's accuracy on that record's reference-centred windows minus
NO_HARM_MARGIN. DS1 and SVDB patients trained the models: where training left its
fold models beside the weights, their records are scored out of fold (measure.held_out:
the beat and context models that never saw the patient, for both sides of the rule);
otherwise, or with --in-sample, by the shipped models that trained on them. DS2 rows
are scored by the shipped models, reported and never tuned on. With --fs every record
is first resampled to that rate.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm
from wfdb import processing

from databases import mitbih, svdb
from databases.labelled import LabelledRecord
from ecg import evaluation, record, record_files
from ecg.labels import BEAT_CLASSES
from ecg.preprocessing import SAMPLING_RATE, preprocess
from inference import WEIGHTS_DIR, predict_preprocessed, shipped_model
from measure import held_out

NO_HARM_MARGIN = 0.01
HARM_MARGINS = (0.01, 0.05)
DATABASES = ("mitdb", "svdb")
SPLIT_TITLES = {"DS2": "DS2 (22 patients never trained on)", "DS1": "DS1 (training patients)",
                "SVDB": "SVDB (training patients)"}


@dataclass(frozen=True)
class RecordScore:
    """One record: detection against its reference, and classes on reference and detected beats."""

    database: str
    name: str
    split: str
    detection: dict
    detection_outside_flutter: dict  # as ANSI/AAMI EC57 scores QRS detection
    reference_accuracy: float  # beat model on reference-centred windows
    beat_only_accuracy: float  # record mode's windows, beat model alone, matched beats
    record_accuracy: float  # record mode's labels (with context when shipped), matched beats
    truth: np.ndarray
    predicted: np.ndarray
    predicted_beat_only: np.ndarray

    @property
    def loss(self) -> float:
        return self.reference_accuracy - self.record_accuracy


def records(databases: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(database, record, split) of every record scored."""
    chosen = []
    if "mitdb" in databases:
        chosen += [("mitdb", str(n), "DS1" if n in mitbih.DS1 else "DS2") for n in sorted(mitbih.DS1 + mitbih.DS2)]
    if "svdb" in databases:
        chosen += [("svdb", name, "SVDB") for name in svdb.records()]
    return chosen


def read(database: str, name: str) -> tuple[record_files.Recording, LabelledRecord]:
    """The recording as record mode reads it, and its labelled beats at 360 Hz as training cuts them."""
    if database == "mitdb":
        return record_files.read_wfdb(mitbih.default_data_dir() / f"{name}.hea"), mitbih.read(name)
    return record_files.read_wfdb(svdb.default_dir() / f"{name}.hea", channel=svdb.LEAD), svdb.read(name)


def score(database: str, name: str, split: str, fs: float | None = None, models: record.Models | None = None
          ) -> RecordScore:
    """One record by `models` (the shipped ones unless given), record mode and its beat model alike."""
    models = record.shipped_models() if models is None else models
    recording, labelled = read(database, name)
    signal, rate, reference = recording.signal, recording.fs, recording.reference
    if fs and fs != rate:
        signal, _ = processing.resample_sig(signal, rate, fs)
        reference.sample = np.round(np.asarray(reference.sample) * fs / rate).astype(int)
        rate = fs
    table = record.analyze(signal, rate, models=models)
    reference_labels = np.asarray(BEAT_CLASSES)[predict_preprocessed(
        preprocess(record.beat_windows(labelled.signal, labelled.peaks)), models.beat).argmax(axis=1)]
    detected = np.round(table["sample"].to_numpy() * SAMPLING_RATE / rate).astype(int)
    matched = processing.compare_annotations(labelled.peaks, detected, int(record.MATCH_WINDOW_S * SAMPLING_RATE))
    ref_index, test_index = np.asarray(matched.matched_ref_inds), np.asarray(matched.matched_test_inds)
    truth = labelled.labels[ref_index]
    predicted = table["label"].to_numpy()[test_index]
    beat_only = table["beat_label"].to_numpy()[test_index]
    return RecordScore(database, name, split, record.agreement(table, reference, rate),
                       record.agreement(table, reference, rate, skip_flutter=True),
                       float(np.mean(reference_labels == labelled.labels)), float(np.mean(beat_only == truth)),
                       float(np.mean(predicted == truth)), truth, predicted, beat_only)


def pooled_detection(detections: list[dict]) -> tuple[int, float, float]:
    """Reference beats, sensitivity and +P over the records together."""
    ref_total = sum(d["reference_beats"] for d in detections)
    true_pos = sum(round(d["sensitivity"] * d["reference_beats"]) for d in detections)
    found = sum(d["detected_beats"] for d in detections)
    return ref_total, true_pos / ref_total, true_pos / found


def class_scores(scores: list[RecordScore], beat_only: bool = False) -> dict:
    truth = np.concatenate([s.truth for s in scores])
    predicted = np.concatenate([s.predicted_beat_only if beat_only else s.predicted for s in scores])
    return evaluation.evaluate(truth, predicted, BEAT_CLASSES)


def split_scores(scores: list[RecordScore]) -> list[tuple[str, str, dict]]:
    """(split, whose labels, class scores) for each split scored: the beat model's labels, then record mode's."""
    return [(split, name, class_scores(chosen, beat_only)) for split in SPLIT_TITLES
            for chosen in [[s for s in scores if s.split == split]] if chosen
            for name, beat_only in (("beat model alone", True), ("record mode's labels", False))]


def scored_by(out_of_fold: bool, folds_here: bool) -> str:
    """How the training patients' rows were scored, for the report's first line."""
    if out_of_fold:
        return ("Training patients (DS1, SVDB) scored out of fold: each record by the fold model that never saw its "
                "patient and the context model fitted again without its patient's fold (measure/held_out.py); "
                "DS2 by the shipped models.")
    return ("Training patients (DS1, SVDB) scored in sample, by the shipped models that trained on them"
            + ("." if folds_here else f" (no fold models in {WEIGHTS_DIR}: `python -m training.train` writes them)."))


def report(scores: list[RecordScore], rate: str, how: str) -> list[str]:
    """The markdown report; its first lines are the summary printed at the end."""
    lines = [f"# Record mode, {rate}", "", how]
    for database in DATABASES:
        chosen = [s for s in scores if s.database == database]
        if not chosen:
            continue
        total, sensitivity, predictivity = pooled_detection([s.detection for s in chosen])
        _, ec57_sensitivity, ec57_predictivity = pooled_detection([s.detection_outside_flutter for s in chosen])
        far = [s for s in chosen if abs(s.detection["peak_offset_median"]) > 3]
        lines += [f"{database}: detection over {len(chosen)} records ({total} reference beats, 150 ms window): "
                  f"sensitivity {sensitivity:.4f}, +P {predictivity:.4f} (outside ventricular flutter, as "
                  f"ANSI/AAMI EC57 scores it: {ec57_sensitivity:.4f}, {ec57_predictivity:.4f}). "
                  "Records whose detected peaks sit a "
                  "median of more than 3 samples from the reference: "
                  + (", ".join(f"{s.name} ({s.detection['peak_offset_median']:+.0f})" for s in far) or "none") + "."]
    losing = [s for s in scores if s.loss > NO_HARM_MARGIN]
    worst = max(scores, key=lambda s: s.loss)
    lines += [f"No-harm rule: {len(losing)} of {len(scores)} records lose more than {NO_HARM_MARGIN} accuracy "
              f"against the beat model on their reference-centred windows"
              + (f" ({', '.join(f'{s.name} {s.loss:+.3f}' for s in sorted(losing, key=lambda s: -s.loss))})"
                 if losing else "")
              + f"; worst {worst.database} {worst.name}: {worst.reference_accuracy:.3f} -> "
              f"{worst.record_accuracy:.3f}.", ""]
    for split, name, both in split_scores(scores):
        lines += [f"## {SPLIT_TITLES[split]}, detected beats matched to the reference: {name}", "",
                  evaluation.markdown_table(both["five_class"]), "", "AAMI:", "",
                  evaluation.markdown_table(both["aami"]), ""]
    lines += ["## Per record", "",
              "Accuracy of the beat model on reference-centred windows, of the beat model on record mode's own "
              "windows, and of record mode's labels, on the beats it matched. Loss: the first minus the last. "
              "Peak offset: detected minus reference R-peak on matched beats, in samples at the record's rate "
              "(positive: later); median and interquartile range.", "",
              "| database | record | split | reference beats | Se | +P | offset median | offset IQR "
              "| beat model | record windows | record mode | loss |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in scores:
        d = s.detection
        lines.append(f"| {s.database} | {s.name} | {s.split} | {d['reference_beats']} | {d['sensitivity']:.4f} "
                     f"| {d['positive_predictivity']:.4f} | {d['peak_offset_median']:+.0f} "
                     f"| {d['peak_offset_iqr']:.0f} | {s.reference_accuracy:.3f} | {s.beat_only_accuracy:.3f} "
                     f"| {s.record_accuracy:.3f} | {s.loss:+.3f} |")
    return lines


def figures(scores: list[RecordScore], how: str, out_of_fold: bool) -> dict:
    """The report's figures for other tools (the README's table): detection per database, the no-harm counts for
    training and DS2 records apart, class scores per split, and whether the training patients were scored out of
    fold (only then are their figures those of patients the models never saw)."""
    detection = {}
    for database in DATABASES:
        chosen = [s for s in scores if s.database == database]
        if chosen:
            total, sensitivity, predictivity = pooled_detection([s.detection for s in chosen])
            detection[database] = {"records": len(chosen), "reference_beats": total, "sensitivity": sensitivity,
                                   "positive_predictivity": predictivity}
    harm = {group: {"records": len(chosen), **{f"losing_over_{m:g}": sum(s.loss > m for s in chosen)
                                               for m in HARM_MARGINS}}
            for group, chosen in (("training", [s for s in scores if s.split != "DS2"]),
                                  ("DS2", [s for s in scores if s.split == "DS2"])) if chosen}
    return {"weights_sha256": shipped_model().metadata["weights_sha256"], "scored": how,
            "training_out_of_fold": out_of_fold, "detection": detection, "no_harm": harm,
            "splits": {f"{split}, {name}": both for split, name, both in split_scores(scores)}}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m measure.record_eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fs", type=float, help="resample each record to this rate before analysis")
    p.add_argument("--databases", nargs="+", choices=DATABASES, default=list(DATABASES))
    p.add_argument("--in-sample", action="store_true",
                   help="score the training patients with the shipped models too, even where fold models are there")
    p.add_argument("--out", type=Path, default=Path("reports/record_mode.md"))
    args = p.parse_args()
    chosen = records(tuple(args.databases))
    folds_here = held_out.available(WEIGHTS_DIR)
    out_of_fold = folds_here and not args.in_sample
    held = held_out.held_out_models(WEIGHTS_DIR, record.context_params()) if out_of_fold else {}
    scores = [score(database, name, split, args.fs, held[database, name] if held and split != "DS2" else None)
              for database, name, split in tqdm(chosen, desc="records", unit="record", disable=not sys.stderr.isatty())]
    lines = report(scores, f"{args.fs:g} Hz (resampled)" if args.fs else "each database at its own rate",
                   scored_by(out_of_fold, folds_here))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(figures(scores, lines[2], out_of_fold), indent=1,
                                                        default=float) + "\n")
    print("\n".join(lines[2:3 + len(args.databases) + 1]))
    for split, name, both in split_scores(scores):
        print(f"{split} detected beats, {name}: {evaluation.summary_line(both)}")
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
