"""RR-interval context for record mode: prematurity is what marks an atrial premature beat.

A multinomial logistic regression reads the beat model's log-probabilities and
the RR intervals around each beat (relative to the local rhythm) and decides
between N, V and A for the beats the beat model puts in one of those classes.
Bundle branch blocks are a matter of conduction, not timing, so beats it calls
L or R keep its answer. Its coefficients are plain numbers in JSON.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from labels import BEAT_CLASSES

RHYTHM_CLASSES = ("N", "V", "A")
CONTEXT_BEATS = 10
RHYTHM_FILE = "rhythm.json"
_COLUMNS = [BEAT_CLASSES.index(c) for c in RHYTHM_CLASSES]


def rr_features(samples: np.ndarray, fs: float) -> np.ndarray:
    """Per beat: RR before and after over the local median RR, their ratio, and the local RR in seconds."""
    samples = np.asarray(samples, dtype=float)
    if len(samples) < 2:
        return np.ones((len(samples), 4))
    rr = np.diff(samples) / fs
    before = np.concatenate([[rr[0]], rr])
    after = np.concatenate([rr, [rr[-1]]])
    local = pd.Series(before).rolling(2 * CONTEXT_BEATS + 1, center=True, min_periods=1).median().to_numpy()
    return np.column_stack([before / local, after / local, before / after, local])


def features(probabilities: np.ndarray, rr: np.ndarray) -> np.ndarray:
    """The rhythm model's input: log-probabilities beside the rows of rr_features, one row per beat."""
    return np.column_stack([np.log(probabilities + 1e-6), rr])


def fit(x: np.ndarray, labels: np.ndarray) -> dict:
    """Fit on beats of N, V and A; returns the parameters as plain lists."""
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(class_weight="balanced", max_iter=2000).fit(scaler.transform(x), labels)
    order = [list(model.classes_).index(c) for c in RHYTHM_CLASSES]
    return {"classes": list(RHYTHM_CLASSES), "mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist(),
            "coef": model.coef_[order].tolist(), "intercept": model.intercept_[order].tolist()}


def apply(params: dict, probabilities: np.ndarray, samples: np.ndarray, fs: float) -> np.ndarray:
    """The beat model's probabilities with N, V and A decided with rhythm; L and R beats keep theirs."""
    return rerank(params, probabilities, features(probabilities, rr_features(samples, fs)))


def rerank(params: dict, probabilities: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Beats the beat model calls N, V or A get the rhythm model's N/V/A distribution; L and R rows stay."""
    x = (x - np.asarray(params["mean"])) / np.asarray(params["scale"])
    logits = x @ np.asarray(params["coef"]).T + np.asarray(params["intercept"])
    logits -= logits.max(axis=1, keepdims=True)
    share = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    adjusted = probabilities.copy()
    rows = np.isin(probabilities.argmax(axis=1), _COLUMNS)
    adjusted[rows] = 0.0
    adjusted[np.ix_(rows, _COLUMNS)] = share[rows]
    return adjusted


@cache
def shipped_params(weights_dir: Path) -> dict | None:
    """The fitted rhythm model beside the weights, or None when there is none."""
    path = Path(weights_dir) / RHYTHM_FILE
    return json.loads(path.read_text()) if path.is_file() else None
