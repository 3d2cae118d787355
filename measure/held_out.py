"""Record mode as a new patient would get it, for the training patients: for each MIT-BIH DS1 and SVDB record, the
fold model that never saw its patient (training.train's fold models, beside the weights) and the shipped context
model fitted again without its patient's fold (training.train_context's folds). So record_eval's rows for the
patients that trained the models are out of fold, as its DS2 rows are by construction.

One leak is left: the context is fitted on other patients' out-of-fold answers, given by fold models that saw this
patient; it reaches the context only through other patients' answers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import inference
from ecg import record
from training import train, train_context


def available(weights_dir: Path) -> bool:
    """Whether training left its fold models and out-of-fold answers here (they are not committed)."""
    return (weights_dir / train.FOLDS_FILE).is_file() and (weights_dir / inference.OOF_FILE).is_file()


def held_out_models(weights_dir: Path, context_params: dict | None) -> dict[tuple[str, str], record.Models]:
    """(database, record) -> the models that never saw its patient, for every record of the out-of-fold answers
    that record mode can read whole (MIT-BIH and SVDB). `context_params`: the shipped context model, fitted
    again per fold, or None for the beat model alone."""
    oof = np.load(weights_dir / inference.OOF_FILE)
    beat_models = [m.fold_batchnorm() for m in train.fold_models(weights_dir)]
    keys = list(zip(oof["databases"].astype(str), oof["records"].astype(str)))
    beat_fold = {}
    for key, fold in zip(keys, oof["folds"]):
        if beat_fold.setdefault(key, int(fold)) != fold:
            raise ValueError(f"record {key} lies in two folds of the out-of-fold answers")
    contexts = held_out_contexts(weights_dir, context_params)
    return {key: record.Models(beat_models[fold], contexts[key] if context_params else None)
            for key, fold in beat_fold.items() if key[0] in train_context.LONG_RECORDS}


def held_out_contexts(weights_dir: Path, params: dict | None) -> dict[tuple[str, str], dict]:
    """(database, record) -> the context model `params` is, fitted on the other folds' patients only."""
    if params is None:
        return {}
    data = train_context.out_of_fold_rows(weights_dir)
    candidate = train_context.candidate_of(params)
    contexts = {}
    for fit_on, test in train_context.patient_folds(data):
        fitted = dict(train_context.chosen_params(data, fit_on, candidate), used=True)
        for name in np.unique(data["record"][test]):
            database, number = str(name).split(":", 1)
            contexts[database, number] = fitted
    return contexts
