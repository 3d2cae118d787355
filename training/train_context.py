"""Fit record mode's context model on out-of-fold beat-model predictions; report DS2 with and without it.

    python -m training.train_context [--weights weights] [--report reports/context.md]

training/train.py keeps, for every training patient, what a fold model that never saw that
patient answered (weights/oof.npz). The context model is fitted on those answers for
the 30-minute records (MIT-BIH DS1 and SVDB; PTB-XL's 10 s hold too few beats for a
rhythm or a dominant beat). Candidates (feature sets, class weighting, which beats context re-decides:
SCOPES_JUDGED, the learner: context.LEARNERS, a bias towards N, re-deciding every beat, how alike a
beat's QRS must be to the record's dominant beat to share its conduction, and the A gate: how irregular the
rhythm may be around a beat context calls A) are judged by patient-wise cross-validation. The rule
(docs/rules/context_rule.md, amended before the gated candidates were scored): the candidate with the highest
cross-validated mean of AAMI S and V F1, each database (MIT-BIH DS1, SVDB) weighing the same, among those that make
no training record lose more than HARM_MARGIN of accuracy against the beat model (the records of
`left_out_of_harm` aside; they stay in the report), that, fitted on every training row, call fewer than
FIBRILLATION_A_SHARE of the beats A and no more than the beat model on each synthetic record in atrial fibrillation
(FIBRILLATION_SEEDS), and that out of fold call no more beats A that are not A in the training records' atrial
fibrillation or flutter than the shipped context; ties go to the better 5-class macro-F1. It is used if it beats the
beat model alone on that mean. Each database left out in turn is reported beside it. DS2 is scored once, at the end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import wfdb
from sklearn.model_selection import GroupKFold

import inference
from databases import beatset, mitbih, svdb
from databases.labelled import LabelledRecord, recentre
from ecg import context, evaluation, record
from ecg.labels import BEAT_CLASSES, BEAT_SYMBOLS
from ecg.preprocessing import SAMPLING_RATE, preprocess
from ecg.synthetic import fibrillating_ecg

FOLDS = 5
HARM_MARGIN = 0.05
# Records left out of the harm rule, by a criterion fixed before any candidate was scored: over 5% of the beats
# labelled N outside atrial fibrillation or flutter come at least 20% early (RR before under 0.8 of the local
# median), and they outnumber the beats labelled S. Their labels contradict their timing, so a model that calls
# those beats premature is punished by the labels (docs/rules/context_rule.md has the figures).
LEFT_OUT_OF_HARM = ("svdb:804", "svdb:867", "svdb:893")  # as out_of_fold_rows names records
# Synthetic records in atrial fibrillation (the tests use seeds 0-2) and the share of their beats a candidate may call
# A: early beats in an irregular rhythm are no atrial premature beats, and the training records hold too few of them
# to show it (docs/rules/context_rule.md, amendment).
FIBRILLATION_SEEDS = tuple(range(10, 30))
FIBRILLATION_A_SHARE = 0.05
SCOPES_JUDGED = ("all",)  # re-deciding every beat won every run since stop 32 (docs/record_mode.md)
MODELS = tuple((feature_set, balanced, scope, learner) for learner in context.LEARNERS
               for feature_set in context.FEATURE_SETS for balanced in (False, True) for scope in SCOPES_JUDGED)
N_BIASES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
# QRS correlation with the record's dominant beat from which a conducted beat takes its conduction (None: its own)
DOMINANT_CORRELATIONS = (None, 0.9)
# Rhythm irregularity above which context answers no A (None: no gate), docs/rules/context_rule.md amendment 2
A_GATES = (None, 0.08, 0.12)
Setting = tuple[float, float | None, float | None]  # N bias, dominant QRS correlation, A gate
Candidate = tuple[str, bool, str, str, float, float | None, float | None]
LONG_RECORDS = ("mitdb", "svdb")  # PTB-XL's 10 s hold too few beats for a rhythm or a dominant beat
READERS = {database: beatset.READERS[database] for database in LONG_RECORDS}
FOLDERS = {"mitdb": mitbih.default_data_dir, "svdb": svdb.default_dir}


def reference_annotation(database: str, record_name: str) -> tuple[wfdb.Annotation, float]:
    """A training record's reference annotation and the sampling rate its samples count in, read once."""
    path = str(FOLDERS[database]() / record_name)
    return wfdb.rdann(path, "atr"), wfdb.rdheader(path).fs


def every_beat(database: str, labelled: LabelledRecord, ann: wfdb.Annotation, fs: float) -> np.ndarray:
    """Every annotated beat of a record at 360 Hz, on the fiducial its labelled beats use: the beats that
    rhythm and the dominant beat are measured over, as record mode measures them over every detected beat."""
    beats = np.round(np.asarray(ann.sample)[np.isin(ann.symbol, BEAT_SYMBOLS)] * SAMPLING_RATE / fs).astype(int)
    return recentre(labelled.signal, beats)[0] if database == "svdb" else beats


def fibrillating_at(ann: wfdb.Annotation, fs: float, peaks: np.ndarray) -> np.ndarray:
    """Per R-peak (at 360 Hz): whether the reference's rhythm there is atrial fibrillation or flutter (MIT-BIH's
    rhythm notes; SVDB's annotations carry none)."""
    at = np.searchsorted(ann.sample, peaks * fs / SAMPLING_RATE, side="right") - 1
    return np.isin(mitbih.rhythm_at(ann)[np.maximum(at, 0)], mitbih.FIBRILLATION) & (at >= 0)


def context_of(database: str, labelled: LabelledRecord, peaks: np.ndarray, ann: wfdb.Annotation,
               fs: float) -> np.ndarray:
    """RR, shape, rhythm and P-wave features of the beats at `peaks`, measured over every beat of the record."""
    beats = every_beat(database, labelled, ann, fs)
    windows = record.beat_windows(labelled.signal, beats)
    preprocessed = preprocess(windows)
    rr = context.rr_features(beats, SAMPLING_RATE)
    shape = context.shape_features(windows, preprocessed)
    rhythm = context.rhythm_features(beats, SAMPLING_RATE)
    p_wave = context.p_wave_features(preprocessed, beats, SAMPLING_RATE)
    nearest = np.clip(np.searchsorted(beats, peaks), 1, len(beats) - 1)
    nearest -= np.abs(beats[nearest - 1] - peaks) < np.abs(beats[nearest] - peaks)
    return np.column_stack([rr[nearest], shape[nearest], rhythm[nearest], p_wave[nearest]])


def out_of_fold_rows(weights_dir: Path) -> dict:
    """Out-of-fold probabilities, context features, labels, patients, records, R-peaks (at 360 Hz) and whether the
    reference's rhythm there is atrial fibrillation or flutter, for the 30-minute records."""
    oof = np.load(weights_dir / inference.OOF_FILE)
    rows = {"p": [], "x": [], "y": [], "group": [], "record": [], "database": [], "peak": [], "fibrillating": []}
    pairs = sorted({(str(d), str(r)) for d, r in zip(oof["databases"], oof["records"]) if d in READERS})
    for database, name in pairs:
        mask = (oof["databases"] == database) & (oof["records"] == name)
        p, peaks = oof["probabilities"][mask].astype(float), oof["peaks"][mask]
        ann, fs = reference_annotation(database, name)
        rows["p"].append(p)
        if "left_out_probabilities" in oof:
            rows.setdefault("left_out_p", []).append(oof["left_out_probabilities"][mask].astype(float))
        rows["x"].append(np.column_stack([np.log(p + 1e-6),
                                          context_of(database, READERS[database].read(name), peaks, ann, fs)]))
        rows["y"].append(oof["labels"][mask])
        rows["group"].append(oof["patients"][mask])
        rows["record"].append(np.full(mask.sum(), f"{database}:{name}"))
        rows["database"].append(np.full(mask.sum(), database))
        rows["peak"].append(peaks)
        rows["fibrillating"].append(fibrillating_at(ann, fs, peaks))
    return {k: np.concatenate(v) for k, v in rows.items()}


def false_a_in_fibrillation(data: dict, labels: np.ndarray) -> int:
    """Beats in atrial fibrillation or flutter called A that are not A."""
    return int(((labels == "A") & (data["y"] != "A") & data["fibrillating"]).sum())


def ds2_rows() -> dict:
    """The shipped beat model's answers and context features on DS2's reference beats."""
    rows = {"p": [], "x": [], "y": [], "record": []}
    for number in mitbih.DS2:
        labelled = mitbih.read(str(number))
        p = inference.predict_proba(record.beat_windows(labelled.signal, labelled.peaks)).astype(float)
        rows["p"].append(p)
        features = context_of("mitdb", labelled, labelled.peaks, *reference_annotation("mitdb", str(number)))
        rows["x"].append(np.column_stack([np.log(p + 1e-6), features]))
        rows["y"].append(labelled.labels)
        rows["record"].append(np.full(len(p), str(number)))
    return {k: np.concatenate(v) for k, v in rows.items()}


def fibrillation_rows() -> dict:
    """Record mode's beat-model answers and context features on the synthetic records of FIBRILLATION_SEEDS."""
    rows = {"p": [], "x": [], "record": []}
    for seed in FIBRILLATION_SEEDS:
        signal, _ = fibrillating_ecg(seed)
        table = record.analyze(signal, SAMPLING_RATE, use_context=False)
        p = table[[f"p_{c}" for c in BEAT_CLASSES]].to_numpy()
        peaks = table["sample"].to_numpy()
        rows["p"].append(p)
        rows["x"].append(context.record_features(p, peaks, SAMPLING_RATE, record.beat_windows(signal, peaks)))
        rows["record"].append(np.full(len(p), seed))
    return {k: np.concatenate(v) for k, v in rows.items()}


def calm_in_fibrillation(params: dict, fibrillation: dict) -> dict[Setting, bool]:
    """For each setting applied after fitting: whether the context model calls fewer than FIBRILLATION_A_SHARE of
    each synthetic fibrillating record's beats A, and no more than the beat model alone."""
    settings = labels_by_setting(params, fibrillation, np.arange(len(fibrillation["p"])))
    beat_only = labels_of(fibrillation["p"]) == "A"
    records = [fibrillation["record"] == r for r in np.unique(fibrillation["record"])]
    return {key: all((labels[rows] == "A").sum() <= beat_only[rows].sum()
                     and (labels[rows] == "A").mean() < FIBRILLATION_A_SHARE for rows in records)
            for key, labels in settings.items()}


def labels_of(p: np.ndarray) -> np.ndarray:
    return np.asarray(BEAT_CLASSES)[p.argmax(axis=1)]


def judged(y: np.ndarray, predicted: np.ndarray) -> dict:
    """What decides whether context is used: 5-class macro-F1 and the mean of AAMI S and V F1."""
    scores = evaluation.evaluate(y, predicted, BEAT_CLASSES)
    aami = scores["aami"]["per_class"]
    return {"macro_f1": scores["five_class"]["macro_f1"], "s_v_f1": (aami["S"]["f1"] + aami["V"]["f1"]) / 2}


def database_s_v_f1(data: dict, labels: np.ndarray) -> float:
    """The mean over databases of each one's mean of AAMI S and V F1: what the choice maximises."""
    return float(np.mean([judged(data["y"][rows], labels[rows])["s_v_f1"]
                          for rows in (data["database"] == database for database in READERS)]))


def fitted(data: dict, rows: np.ndarray, model: tuple[str, bool, str, str]) -> dict:
    """A context model (feature set, class weighting, scope, learner) fitted on the beats among `rows`."""
    return context.fit(data["x"][rows], data["y"][rows], *model)


def labels_by_setting(params: dict, data: dict, rows: np.ndarray) -> dict[Setting, np.ndarray]:
    """The labels of `rows` for each setting applied after fitting: N bias, re-deciding every beat dominant QRS
    correlation, and A gate."""
    dominant = DOMINANT_CORRELATIONS if params["scope"] == "all" else (None,)
    context_logits = context.logits(params, data["x"][rows])
    return {(b, d, g): labels_of(context.combine(dict(params, n_bias=b, dominant_qrs_correlation=d, a_gate=g),
                                                 data["p"][rows], data["x"][rows], context_logits,
                                                 data["record"][rows]))
            for b in N_BIASES for d in dominant for g in A_GATES}


def patient_folds(data: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rows fitted on, rows held out) of each fold of whole patients, as candidates are judged."""
    return list(GroupKFold(FOLDS).split(data["x"], data["y"], data["group"]))


def candidate_labels(data: dict, candidate: Candidate) -> np.ndarray:
    """Every beat labelled out of fold by one candidate, settings included: fitted on the other patients' folds."""
    labels = np.empty(len(data["y"]), dtype=object)
    for fit_on, test in patient_folds(data):
        params = chosen_params(data, fit_on, candidate)
        labels[test] = labels_of(context.rerank(params, data["p"][test], data["x"][test], data["record"][test]))
    return labels.astype(str)


def held_out_labels(data: dict, model: tuple[str, bool, str, str]) -> dict[Setting, np.ndarray]:
    """Every beat labelled by a context model fitted on other patients only, for each setting (N bias, dominant
    QRS correlation, A gate)."""
    labels: dict = {}
    for fit_on, test in patient_folds(data):
        for key, answer in labels_by_setting(fitted(data, fit_on, model), data, test).items():
            labels.setdefault(key, np.empty(len(data["y"]), dtype=object))[test] = answer
    return {key: v.astype(str) for key, v in labels.items()}


def harmed_records(data: dict, labels: np.ndarray) -> list[str]:
    """Records whose accuracy with context is more than HARM_MARGIN below the beat model's alone."""
    beat_only = labels_of(data["p"])
    return [name for name in np.unique(data["record"])
            if np.mean(beat_only[data["record"] == name] == data["y"][data["record"] == name])
            - np.mean(labels[data["record"] == name] == data["y"][data["record"] == name]) > HARM_MARGIN]


def left_out_of_harm(data: dict) -> list[str]:
    """The records the harm rule does not count: LEFT_OUT_OF_HARM, and those whose beats labelled A or V outnumber
    their conducted ones (amendment 3). There the record's dominant beat and rhythm, which context compares every beat
    against, are not a conducted rhythm, and accuracy measures ectopic beats alone (SVDB's wide-QRS patients, whose
    N beats are not scored, and runs of supraventricular tachycardia)."""
    ectopic_majority = [str(name) for name in np.unique(data["record"])
                        if np.isin(data["y"][data["record"] == name], context.CONDUCTED).mean() < 0.5]
    return sorted(set(LEFT_OUT_OF_HARM) | set(ectopic_majority))


def left_out_labels(data: dict, model: tuple[str, bool, str, str]) -> dict[str, tuple[np.ndarray, dict]]:
    """For each database: its rows, labelled by a context model fitted on the other, for each setting."""
    return {database: (test, labels_by_setting(fitted(data, np.flatnonzero(data["database"] != database), model),
                                               data, test))
            for database in READERS for test in [np.flatnonzero(data["database"] == database)]}


def judge(data: dict, fibrillation: dict, model: tuple[str, bool, str, str], false_a_limit: int,
          not_counted: list[str]) -> dict[tuple, dict]:
    """The verdict on every candidate of this model: cross-validated, harm per record (the records of `not_counted`
    reported, not counted), false A calls in the training records' fibrillation (at most `false_a_limit`), each
    database left out, and, fitted on every row, its calls in synthetic atrial fibrillation."""
    labels, left_out = held_out_labels(data, model), left_out_labels(data, model)
    calm = calm_in_fibrillation(fitted(data, np.arange(len(data["y"])), model), fibrillation)
    beat_only = dict(judged(data["y"], labels_of(data["p"])), objective=database_s_v_f1(data, labels_of(data["p"])))
    verdicts = {}
    for key, answer in labels.items():
        harmed = harmed_records(data, answer)
        verdict = {"beat_model": beat_only,
                   "with_context": dict(judged(data["y"], answer), objective=database_s_v_f1(data, answer)),
                   "harmed_records": harmed, "harm_counted": [r for r in harmed if r not in not_counted],
                   "left_out": {d: {"beat_model": judged(data["y"][rows], labels_of(data["p"][rows])),
                                    "with_context": judged(data["y"][rows], answers[key])}
                                for d, (rows, answers) in left_out.items()},
                   "calm_in_fibrillation": calm[key], "false_a_in_fibrillation": false_a_in_fibrillation(data, answer),
                   "false_a_limit": false_a_limit}
        verdict["eligible"] = (not verdict["harm_counted"] and verdict["calm_in_fibrillation"]
                               and verdict["false_a_in_fibrillation"] <= false_a_limit)
        verdict["helps"] = (verdict["eligible"]
                            and verdict["with_context"]["objective"] > beat_only["objective"])
        verdicts[(*model, *key)] = verdict
    return verdicts


def shipped_false_a_in_fibrillation(data: dict, weights_dir: Path) -> int:
    """The limit on false A calls in fibrillation: what the context model shipped now calls there out of fold (the
    beat model's count where none is shipped)."""
    shipped = context.shipped_params(weights_dir)
    labels = labels_of(data["p"]) if shipped is None else candidate_labels(data, candidate_of(shipped))
    return false_a_in_fibrillation(data, labels)


def unseen_svdb(data: dict, chosen: Candidate) -> dict | None:
    """SVDB's beats with SVDB unseen by both models: the beat model trained without it (training's
    leave-one-database-out model) and the chosen context fitted on MIT-BIH alone. None where the
    out-of-fold file predates those answers."""
    if "left_out_p" not in data:
        return None
    rows = np.flatnonzero(data["database"] == "svdb")
    p = data["left_out_p"][rows]
    x = np.column_stack([np.log(p + 1e-6), data["x"][rows, len(BEAT_CLASSES):]])
    params = chosen_params(data, np.flatnonzero(data["database"] != "svdb"), chosen)
    return {"beat model alone": evaluation.evaluate(data["y"][rows], labels_of(p), BEAT_CLASSES),
            "with context": evaluation.evaluate(data["y"][rows],
                                                labels_of(context.rerank(params, p, x, data["record"][rows])),
                                                BEAT_CLASSES)}


def chosen_params(data: dict, rows: np.ndarray, chosen: Candidate) -> dict:
    """The chosen candidate fitted on `rows`: its model with its N bias, dominant QRS correlation and A gate."""
    return dict(fitted(data, rows, chosen[:4]), n_bias=chosen[4], dominant_qrs_correlation=chosen[5],
                a_gate=chosen[6])


def candidate_of(params: dict) -> Candidate:
    """The candidate a fitted context model is, to fit it again on other rows with `chosen_params`."""
    return (params["feature_set"], params["balanced"], context.scope_of(params), context.learner_of(params),
            params["n_bias"], params.get("dominant_qrs_correlation"), params.get("a_gate"))


def candidate_name(candidate: Candidate) -> str:
    feature_set, balanced, scope, learner, n_bias, dominant, gate = candidate
    scope = "every beat" if scope == "all" else "beats called N, V or A"
    dominant = "" if dominant is None else f", conduction from dominant-like beats (QRS r >= {dominant:g})"
    gate = "" if gate is None else f", no A where the rhythm irregularity exceeds {gate:g}"
    return (f"{learner}, {feature_set}, {'balanced' if balanced else 'unweighted'} classes, {scope}, "
            f"N bias {n_bias:g}{dominant}{gate}")


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m training.train_context", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=inference.WEIGHTS_DIR)
    ap.add_argument("--report", type=Path, default=Path("reports/context.md"))
    args = ap.parse_args()
    train, fibrillation = out_of_fold_rows(args.weights), fibrillation_rows()
    limit = shipped_false_a_in_fibrillation(train, args.weights)
    not_counted = left_out_of_harm(train)
    verdicts = {c: v for model in MODELS for c, v in judge(train, fibrillation, model, limit, not_counted).items()}
    for c, v in verdicts.items():
        print(f"{candidate_name(c)}: macro-F1 {v['beat_model']['macro_f1']:.3f} -> "
              f"{v['with_context']['macro_f1']:.3f}, "
              f"S/V F1 by database {v['beat_model']['objective']:.3f} -> {v['with_context']['objective']:.3f}, "
              f"{len(v['harmed_records'])} records harmed ({len(v['harm_counted'])} counted); " + "; ".join(
                  f"{d} left out S/V {s['beat_model']['s_v_f1']:.3f} -> {s['with_context']['s_v_f1']:.3f}"
                  for d, s in v["left_out"].items()) + f"; calm in fibrillation: {v['calm_in_fibrillation']}; "
              f"false A in fibrillation {v['false_a_in_fibrillation']} (limit {limit}); helps: {v['helps']}",
              flush=True)
    eligible = [c for c in verdicts if verdicts[c]["eligible"]] or list(verdicts)
    chosen = max(eligible, key=lambda c: (verdicts[c]["with_context"]["objective"],
                                          verdicts[c]["with_context"]["macro_f1"]))
    params = chosen_params(train, np.arange(len(train["y"])), chosen)
    params["weights_sha256"] = inference.shipped_model().metadata["weights_sha256"]
    params["fitted_on"] = sorted(set(train["group"].tolist()))
    params["cross_validated"] = {k: v for k, v in verdicts[chosen].items() if k not in ("helps", "eligible")}
    params["used"] = verdicts[chosen]["helps"]
    context.save(params, args.weights)

    unseen = unseen_svdb(train, chosen)
    ds2 = ds2_rows()
    scores = {"beat model alone": evaluation.evaluate(ds2["y"], labels_of(ds2["p"]), BEAT_CLASSES),
              "with context": evaluation.evaluate(
                  ds2["y"], labels_of(context.rerank(params, ds2["p"], ds2["x"], ds2["record"])), BEAT_CLASSES)}
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(markdown(verdicts, chosen, params, scores, unseen, not_counted))
    for name, s in (unseen or {}).items():
        print(f"SVDB unseen by both models, {name}: {evaluation.summary_line(s)}")
    for name, s in scores.items():
        print(f"DS2 {name}: {evaluation.summary_line(s)}")
    print(f"chosen: {candidate_name(chosen)}, used: {params['used']}; wrote the context model to {args.weights} "
          f"and {args.report}")


def markdown(verdicts: dict, chosen: Candidate, params: dict, scores: dict,
             unseen: dict | None, not_counted: list[str]) -> str:
    first = next(iter(verdicts.values()))
    lines = ["# Context in record mode", "",
             f"Fitted on the out-of-fold beat-model answers of {len(params['fitted_on'])} training patients "
             f"(MIT-BIH DS1 and SVDB), judged in {FOLDS} folds of whole patients and with each database left out "
             f"(fitted on the other). Records harmed: accuracy more than {HARM_MARGIN} below the beat model's, "
             f"out of fold; {', '.join(not_counted)} are listed but not counted "
             "(docs/rules/context_rule.md: premature beats labelled normal, or more ectopic beats scored than "
             "conducted ones). "
             "S/V F1 by database: the mean over MIT-BIH DS1 and SVDB of each one's mean of AAMI S and V F1, what the "
             "choice maximises. Calm in fibrillation: fitted on every training row, it calls fewer than "
             f"{FIBRILLATION_A_SHARE:.0%} of the beats A, and no more than the beat model, in each synthetic record "
             f"in atrial fibrillation (seeds {FIBRILLATION_SEEDS[0]}-{FIBRILLATION_SEEDS[-1]}).", "",
             "| candidate | macro-F1 | S/V F1 by database | records harmed | mitdb left out: S/V F1 "
             "| svdb left out: S/V F1 | calm in fibrillation | used if chosen |",
             "|---|---:|---:|---|---:|---:|---|---|",
             f"| beat model alone | {first['beat_model']['macro_f1']:.3f} | {first['beat_model']['objective']:.3f} "
             "| – | " + " | ".join(f"{v['beat_model']['s_v_f1']:.3f}" for v in first["left_out"].values()) + " | | |"]
    for c, v in verdicts.items():
        lines.append(f"| {candidate_name(c)} | {v['with_context']['macro_f1']:.3f} "
                     f"| {v['with_context']['objective']:.3f} | {', '.join(v['harmed_records']) or 'none'} | "
                     + " | ".join(f"{s['with_context']['s_v_f1']:.3f} (macro {s['with_context']['macro_f1']:.3f})"
                                  for s in v["left_out"].values())
                     + f" | {'yes' if v['calm_in_fibrillation'] else 'no'} | {'yes' if v['helps'] else 'no'} |")
    lines += ["", f"Chosen: {candidate_name(chosen)}; "
              + ("used in record mode." if params["used"] else "not used in record mode (no candidate raises S/V F1 "
                                                              "by database without harming a counted record "
                                                              "or calling beats in fibrillation A)."), ""]
    for name, s in (unseen or {}).items():
        lines += [f"## SVDB unseen by both models, {name}", "",
                  "The beat model trained without SVDB (training's leave-one-database-out model, with the shipped "
                  "offsets) and the chosen context fitted on MIT-BIH DS1 alone; reference beats.", "",
                  evaluation.markdown_table(s["five_class"]), "", "AAMI view:", "",
                  evaluation.markdown_table(s["aami"]), ""]
    for name, s in scores.items():
        lines += [f"## DS2, {name} (reference beats; context from the reference annotation)", "",
                  evaluation.markdown_table(s["five_class"]), "", "AAMI view:", "",
                  evaluation.markdown_table(s["aami"]), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
