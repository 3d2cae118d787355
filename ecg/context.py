"""Record mode's context for each beat: the rhythm around it and how it differs from the record's own
dominant beat, as the best inter-patient methods read a beat.

An atrial premature beat looks like its patient's normal beat but comes early; a
ventricular one comes early and looks unlike it. A learner (one of LEARNERS) reads these measures beside the
beat model's log-probabilities and decides between N, V and A:
- "logistic": a multinomial logistic regression, its coefficients plain numbers in the JSON file;
- "trees": gradient-boosted trees, which can read measures together (an early beat in a regular rhythm, not
  an early beat in atrial fibrillation), saved beside the JSON file by skops, which rebuilds only the
  scikit-learn types it is told to trust (no pickle).
Its scope is one of SCOPES:
- "nva": only beats the beat model calls N, V or A are re-decided; L and R keep its answer.
- "all": every beat is re-decided between conducted, V and A, where conducted is N, L or R as the beat
  model ranks them, or, with a dominant QRS correlation set, as it ranks them on average over the beats
  shaped like the record's dominant beat (a patient's conducted beats share one conduction). A bundle
  branch block is a matter of conduction, not timing, so an atrial premature beat in a patient with one
  has the block's shape: the AAMI groups (N with L and R, S, V) are what timing and the patient's own
  dominant beat can tell.
"""

from __future__ import annotations

import json
import zipfile
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.typing import Rolling

from ecg.labels import BEAT_CLASSES
from ecg.preprocessing import SAMPLING_RATE, WINDOW_BEFORE, preprocess
from inference import WeightsError

CONTEXT_CLASSES = ("N", "V", "A")  # in scope "all", N stands for every conducted beat: N, L or R
CONDUCTED = ("N", "L", "R")
SCOPES = ("nva", "all")
LEARNERS = ("logistic", "trees")
CONTEXT_BEATS = 10
CONTEXT_FILE = "context.json"
TREES_FILE = "context_trees.skops"
# Fixed before any candidate was judged, not tuned: 200 rounds of trees with at most 15 leaves each.
TREE_SETTINGS = {"max_iter": 200, "learning_rate": 0.1, "max_leaf_nodes": 15, "l2_regularization": 1.0,
                 "early_stopping": False, "random_state": 0}
# What skops may rebuild from TREES_FILE: a fitted HistGradientBoostingClassifier's parts, nothing else.
TRUSTED_TREE_TYPES = ["sklearn._loss._loss.CyHalfMultinomialLoss", "sklearn._loss.link.Interval",
                      "sklearn._loss.link.MultinomialLogit", "sklearn._loss.loss.HalfMultinomialLoss",
                      "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
                      "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
RR_COLUMNS = ("rr_before_local", "rr_after_local", "rr_before_over_after", "local_rr_s",
              "rr_before_global", "rr_after_global")
SHAPE_COLUMNS = ("template_correlation", "qrs_template_correlation", "log_qrs_height_ratio",
                 "log_qrs_width_ratio")
RHYTHM_COLUMNS = ("rr_irregularity", "earliness_over_irregularity")
P_COLUMNS = ("p_sinus_correlation", "log_p_spread_ratio", "p_peak_before_r_s")
# Where a conducted beat's P wave lies in the model's window: from its start, 250 ms before the R-peak, to 60 ms
# before it (a PR interval of 120-200 ms, the QRS starting some 40 ms before its peak).
P_STRETCH_S = (-0.25, -0.06)
# A beat counts towards the record's sinus P wave when it is not early: its RR before is at least this share of the
# record's median RR. Runs of ectopic beats are faster than the rhythm they interrupt, so the record's slower beats,
# not its most common shape, are taken as sinus.
SINUS_RR_SHARE = 0.95
IRREGULARITY_FLOOR = 0.05
IRREGULARITY_QUANTILE = 0.25
# A feature set names its parts joined by "+"; FEATURE_SETS are the ones training judges.
FEATURE_PARTS = {"rr": RR_COLUMNS, "shape": SHAPE_COLUMNS, "rhythm": RHYTHM_COLUMNS, "p": P_COLUMNS}
FEATURE_SETS = ("rr", "rr+shape", "rr+shape+rhythm", "rr+shape+rhythm+p")
FEATURE_WORDS = {"rr": "RR intervals", "shape": "the record's dominant beat", "rhythm": "how regular the rhythm is",
                 "p": "the P wave against the record's sinus P wave"}
QRS_HALF_S = 0.1
_COLUMNS = [BEAT_CLASSES.index(c) for c in CONTEXT_CLASSES]
_CONDUCTED = [BEAT_CLASSES.index(c) for c in CONDUCTED]
# Where context's own answer (CONTEXT_CLASSES) keeps each share: conducted, atrial, and the ectopic ones with the beat
# model's columns they go to.
_CONDUCTED_SHARE, _ATRIAL_SHARE = CONTEXT_CLASSES.index("N"), CONTEXT_CLASSES.index("A")
_ECTOPIC_SHARES = [i for i, c in enumerate(CONTEXT_CLASSES) if c != "N"]
_ECTOPIC_COLUMNS = [_COLUMNS[i] for i in _ECTOPIC_SHARES]
# The columns of `features`: the beat model's log-probabilities, then every candidate input.
_FEATURE_NAMES = ("p",) * len(BEAT_CLASSES) + RR_COLUMNS + SHAPE_COLUMNS + RHYTHM_COLUMNS + P_COLUMNS
_QRS_CORRELATION = _FEATURE_NAMES.index("qrs_template_correlation")
_IRREGULARITY = _FEATURE_NAMES.index("rr_irregularity")


def _rolling(values: np.ndarray) -> Rolling:
    """A centred window of 2 * CONTEXT_BEATS + 1 beats, shortened at the record's ends."""
    return pd.Series(values).rolling(2 * CONTEXT_BEATS + 1, center=True, min_periods=1)


def _rr_before_and_local(samples: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Per beat (at least two): the RR interval before it (the first beat's taken from the one after) and the
    local median RR, in seconds."""
    before = np.diff(samples, prepend=2 * samples[0] - samples[1]) / fs
    return before, _rolling(before).median().to_numpy()


def rr_features(samples: np.ndarray, fs: float) -> np.ndarray:
    """Per beat: RR before and after over the local median RR, their ratio, the local RR in seconds, and RR
    before and after over the record's median RR."""
    samples = np.asarray(samples, dtype=float)
    if len(samples) < 2:
        return np.ones((len(samples), len(RR_COLUMNS)))
    before, local = _rr_before_and_local(samples, fs)
    after = np.append(before[1:], before[-1])
    overall = np.median(before[1:])
    return np.column_stack([before / local, after / local, before / after, local, before / overall, after / overall])


def rhythm_features(samples: np.ndarray, fs: float) -> np.ndarray:
    """Per beat: how irregular the rhythm around it is (the lower quartile of the changes between successive
    RR intervals over 21 beats, over the local median RR), and how early the beat comes in units of that
    irregularity. Early beats up to about one in five (each moves two changes) leave the first small and
    get a large second; in atrial fibrillation, where an early beat is no atrial premature beat, the
    first is large and the second small."""
    samples = np.asarray(samples, dtype=float)
    if len(samples) < 2:
        return np.zeros((len(samples), len(RHYTHM_COLUMNS)))
    before, local = _rr_before_and_local(samples, fs)
    change = np.abs(np.diff(before, prepend=before[0]))
    irregularity = _rolling(change).quantile(IRREGULARITY_QUANTILE).to_numpy() / local
    earliness = 1 - before / local
    return np.column_stack([irregularity, earliness / (irregularity + IRREGULARITY_FLOOR)])


def shape_features(windows: np.ndarray, preprocessed: np.ndarray | None = None) -> np.ndarray:
    """Per beat: its correlation with the record's median beat over the whole window and over the QRS, and
    the logs of its QRS height and width over the record's median ones (a ventricular beat is wide). Windows
    are the model's, in any linear unit; `preprocessed` is preprocess(windows) where the caller has it
    already."""
    windows = np.asarray(windows, dtype=np.float64)
    if len(windows) == 0:
        return np.empty((0, len(SHAPE_COLUMNS)))
    beats = (preprocess(windows) if preprocessed is None else preprocessed).astype(np.float64)
    template = np.median(beats, axis=0)
    qrs = slice(WINDOW_BEFORE - round(QRS_HALF_S * SAMPLING_RATE), WINDOW_BEFORE + round(QRS_HALF_S * SAMPLING_RATE))
    height = np.maximum(np.ptp(windows[:, qrs], axis=1), 1e-12)
    width = qrs_width(beats[:, qrs])
    return np.column_stack([_correlation(beats, template), _correlation(beats[:, qrs], template[qrs]),
                            np.log(height / np.median(height)), np.log(width / np.median(width))])


def p_wave_features(preprocessed: np.ndarray, samples: np.ndarray, fs: float) -> np.ndarray:
    """Per beat: how its P-wave stretch (P_STRETCH_S, each beat's own line from end to end taken away) correlates
    with the record's sinus P wave, the log of its spread over the sinus beats' median spread, and where its
    largest deflection lies before the R-peak, in seconds. The sinus P wave is the median stretch of the beats
    that are not early (SINUS_RR_SHARE), so that an atrial premature beat's P wave, born elsewhere in the atrium
    or hidden in the T wave before it, reads as unlike it, and a beat with none (ventricular, or in atrial
    fibrillation, where the stretch holds only fibrillation waves) reads flat or unlike it."""
    beats = np.asarray(preprocessed, dtype=np.float64)
    if len(beats) == 0:
        return np.empty((0, len(P_COLUMNS)))
    start, stop = (WINDOW_BEFORE + round(t * SAMPLING_RATE) for t in P_STRETCH_S)
    stretch = beats[:, start:stop]
    ends = np.linspace(0.0, 1.0, stop - start)
    stretch = stretch - (stretch[:, :1] + (stretch[:, -1:] - stretch[:, :1]) * ends)
    samples = np.asarray(samples, dtype=float)
    before = np.diff(samples, prepend=2 * samples[0] - samples[1]) if len(samples) > 1 else np.ones(1)
    sinus = before >= SINUS_RR_SHARE * np.median(before)
    if sinus.sum() < 3:
        sinus = np.ones(len(beats), dtype=bool)
    template = np.median(stretch[sinus], axis=0)
    spread = np.maximum(stretch.std(axis=1), 1e-12)
    peak = np.argmax(np.abs(stretch), axis=1)
    return np.column_stack([_correlation(stretch, template), np.log(spread / np.median(spread[sinus])),
                            (WINDOW_BEFORE - start - peak) / SAMPLING_RATE])


def qrs_width(qrs: np.ndarray) -> np.ndarray:
    """Per beat, in samples: how long the middle 80% of the QRS stretch's slope energy (its squared first
    difference) takes. Slopes mark where the QRS moves, whatever its polarity or shape."""
    energy = np.diff(qrs, axis=1) ** 2
    share = np.cumsum(energy, axis=1) / np.maximum(energy.sum(axis=1, keepdims=True), 1e-12)
    return (np.argmax(share >= 0.9, axis=1) - np.argmax(share >= 0.1, axis=1) + 1).astype(np.float64)


def _correlation(rows: np.ndarray, reference: np.ndarray) -> np.ndarray:
    rows = rows - rows.mean(axis=1, keepdims=True)
    reference = reference - reference.mean()
    norms = np.linalg.norm(rows, axis=1) * np.linalg.norm(reference)
    return (rows @ reference) / np.maximum(norms, 1e-12)


def features(probabilities: np.ndarray, rr: np.ndarray, shape: np.ndarray, rhythm: np.ndarray,
             p_wave: np.ndarray) -> np.ndarray:
    """Every candidate input, one row per beat: log-probabilities, then RR_COLUMNS, SHAPE_COLUMNS, RHYTHM_COLUMNS
    and P_COLUMNS."""
    return np.column_stack([np.log(probabilities + 1e-6), rr, shape, rhythm, p_wave])


def input_names(columns: list[int]) -> list[str]:
    """What the columns of `features` a model reads measure; saved with it, so that a model fitted when the
    columns lay otherwise is refused rather than read on the wrong measures."""
    return [_FEATURE_NAMES[i] for i in columns]


def input_columns(feature_set: str) -> list[int]:
    """Which columns of `features` a model with this feature set ("rr+shape", any parts of FEATURE_PARTS) reads."""
    wanted = {name for part in feature_set.split("+") for name in FEATURE_PARTS[part]}
    return [i for i, name in enumerate(_FEATURE_NAMES) if name == "p" or name in wanted]


def fit(x: np.ndarray, labels: np.ndarray, feature_set: str = "rr+shape", balanced: bool = False,
        scope: str = "nva", learner: str = "logistic", n_bias: float = 0.0) -> dict:
    """Fit on the beats the scope re-decides (in "nva" those labelled N, V or A; in "all" every beat, L and R
    counted as conducted, N). A logistic model's parameters are plain lists; a trees model keeps the fitted
    trees under "trees" (`save` writes them apart). `n_bias` is added to N's logit when applied: a larger one
    keeps more beats N, trading atrial premature beats found for normal ones kept."""
    from sklearn.ensemble import HistGradientBoostingClassifier  # fitting only: record mode starts without them
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    labels = np.asarray(labels)
    if scope == "all":
        labels = np.where(np.isin(labels, CONDUCTED), "N", labels)
    keep = np.isin(labels, CONTEXT_CLASSES)
    x, labels = x[keep], labels[keep]
    columns = input_columns(feature_set)
    params = {"classes": list(CONTEXT_CLASSES), "feature_set": feature_set, "balanced": balanced, "scope": scope,
              "learner": learner, "n_bias": n_bias, "columns": columns, "inputs": input_names(columns)}
    weights = "balanced" if balanced else None
    if learner == "trees":
        return dict(params, trees=HistGradientBoostingClassifier(class_weight=weights, **TREE_SETTINGS)
                    .fit(x[:, columns], labels))
    scaler = StandardScaler().fit(x[:, columns])
    model = LogisticRegression(class_weight=weights, max_iter=3000).fit(scaler.transform(x[:, columns]), labels)
    order = [list(model.classes_).index(c) for c in CONTEXT_CLASSES]
    return dict(params, mean=scaler.mean_.tolist(), scale=scaler.scale_.tolist(), coef=model.coef_[order].tolist(),
                intercept=model.intercept_[order].tolist())


def logits(params: dict, x: np.ndarray) -> np.ndarray:
    """The context model's logits for N, V and A, before the N bias: log-probabilities for trees."""
    inputs = x[:, params["columns"]]
    if learner_of(params) == "trees":
        trees = params["trees"]
        order = [list(trees.classes_).index(c) for c in CONTEXT_CLASSES]
        return np.log(trees.predict_proba(inputs)[:, order] + 1e-12)
    scaled = (inputs - np.asarray(params["mean"])) / np.asarray(params["scale"])
    return scaled @ np.asarray(params["coef"]).T + np.asarray(params["intercept"])


def apply(params: dict, probabilities: np.ndarray, samples: np.ndarray, fs: float, windows: np.ndarray,
          preprocessed: np.ndarray | None = None) -> np.ndarray:
    """The beat model's probabilities with N, V and A decided in context, within the model's scope."""
    return rerank(params, probabilities, record_features(probabilities, samples, fs, windows, preprocessed))


def record_features(probabilities: np.ndarray, samples: np.ndarray, fs: float, windows: np.ndarray,
                    preprocessed: np.ndarray | None = None) -> np.ndarray:
    """`features` of one record's beats, measured over those beats as record mode measures them."""
    preprocessed = preprocess(np.asarray(windows, dtype=np.float64)) if preprocessed is None else preprocessed
    return features(probabilities, rr_features(samples, fs), shape_features(windows, preprocessed),
                    rhythm_features(samples, fs), p_wave_features(preprocessed, samples, fs))


def rerank(params: dict, probabilities: np.ndarray, x: np.ndarray, records: np.ndarray | None = None) -> np.ndarray:
    """In scope "nva", beats the beat model calls N, V or A get the context model's N/V/A distribution and L
    and R rows stay. In scope "all" every beat gets the context's V and A, and its conducted share is split
    between N, L and R by `conducted_split`. Context models saved before scopes existed are "nva". `records`
    names each row's record where rows of several are reranked at once (None: all of one record)."""
    return combine(params, probabilities, x, logits(params, x), records)


def combine(params: dict, probabilities: np.ndarray, x: np.ndarray, context_logits: np.ndarray,
            records: np.ndarray | None = None) -> np.ndarray:
    """`rerank` from the context model's logits already computed: settings applied after fitting (N bias,
    dominant QRS correlation, A gate) can then be tried without running the model again. With an A gate, a beat
    whose rhythm irregularity exceeds it gets no A: in an irregular rhythm such as atrial fibrillation an early beat
    is no atrial premature beat, and A's share goes to N (conducted)."""
    context_logits = context_logits.copy()
    context_logits[:, _CONDUCTED_SHARE] += params["n_bias"]
    context_logits -= context_logits.max(axis=1, keepdims=True)
    share = np.exp(context_logits) / np.exp(context_logits).sum(axis=1, keepdims=True)
    if params.get("a_gate") is not None:
        irregular = x[:, _IRREGULARITY] > params["a_gate"]
        share[irregular, _CONDUCTED_SHARE] += share[irregular, _ATRIAL_SHARE]
        share[irregular, _ATRIAL_SHARE] = 0.0
    if scope_of(params) == "all":
        split = conducted_split(probabilities, x[:, _QRS_CORRELATION], share[:, _CONDUCTED_SHARE],
                                params.get("dominant_qrs_correlation"), records)
        adjusted = np.zeros_like(probabilities)
        adjusted[:, _CONDUCTED] = share[:, [_CONDUCTED_SHARE]] * split
        adjusted[:, _ECTOPIC_COLUMNS] = share[:, _ECTOPIC_SHARES]
        return adjusted
    adjusted = probabilities.copy()
    rows = np.isin(probabilities.argmax(axis=1), _COLUMNS)
    adjusted[rows] = 0.0
    adjusted[np.ix_(rows, _COLUMNS)] = share[rows]
    return adjusted


def conducted_split(probabilities: np.ndarray, qrs_correlation: np.ndarray, conducted_share: np.ndarray,
                    dominant_correlation: float | None, records: np.ndarray | None = None) -> np.ndarray:
    """How each beat's conducted share divides between N, L and R: as the beat model splits it or, where
    `dominant_correlation` is set, for the beats whose QRS correlates with the record's dominant beat at least
    that much, as the beat model splits it on average over those of them context calls conducted. A patient's
    conducted beats share one conduction, and the record's many beats tell it more surely than one."""
    conducted = probabilities[:, _CONDUCTED]
    split = conducted / np.maximum(conducted.sum(axis=1, keepdims=True), 1e-12)
    if dominant_correlation is None:
        return split
    records = np.zeros(len(split)) if records is None else np.asarray(records)
    for record in np.unique(records):
        like = (records == record) & (qrs_correlation >= dominant_correlation)
        voters = like & (conducted_share >= 0.5)
        if voters.any():
            split[like] = split[voters].mean(axis=0)
    return split


def learner_of(params: dict) -> str:
    """A context model's learner; those saved before learners existed are logistic."""
    return params.get("learner", "logistic")


def scope_of(params: dict) -> str:
    """A context model's scope; those saved before scopes existed re-decide only beats called N, V or A."""
    return params.get("scope", "nva")


def reads(params: dict) -> str:
    """What a context model reads, in a user's words."""
    return ", ".join(FEATURE_WORDS[part] for part in params["feature_set"].split("+"))


def re_decides(params: dict) -> str:
    """Which beats a context model re-decides and between what, in a user's words."""
    gate = ("" if params.get("a_gate") is None else
            " No beat is called A where the rhythm around it is irregular (as in atrial fibrillation).")
    if scope_of(params) == "nva":
        return "Beats the beat model calls N, V or A are re-decided between those three; L and R stay." + gate
    if params.get("dominant_qrs_correlation") is not None:
        return ("Every beat is re-decided between conducted, V and A; conducted beats shaped like the record's "
                "dominant beat share one of N, L or R, the one the beat model gives them most on average." + gate)
    return "Every beat is re-decided between conducted (N, L or R, as the beat model ranks them), V and A." + gate


def save(params: dict, weights_dir: Path) -> None:
    """Write a fitted context model beside the weights: CONTEXT_FILE, and for trees TREES_FILE."""
    import skops.io  # about 5 s to import: only where trees are written or read

    weights_dir = Path(weights_dir)
    trees = weights_dir / TREES_FILE
    if learner_of(params) == "trees":
        skops.io.dump(params["trees"], trees, compression=zipfile.ZIP_DEFLATED)
    else:
        trees.unlink(missing_ok=True)
    plain = {key: value for key, value in params.items() if key != "trees"}
    (weights_dir / CONTEXT_FILE).write_text(json.dumps(plain, indent=1))


@cache
def shipped_params(weights_dir: Path) -> dict | None:
    """The fitted context model beside the weights, or None when there is none."""
    path = Path(weights_dir) / CONTEXT_FILE
    if not path.is_file():
        return None
    params = json.loads(path.read_text())
    if params.get("inputs") != input_names(params["columns"]):
        raise WeightsError(f"{path} was fitted on other inputs than record mode now measures: rerun "
                           "`python -m training.train_context`.")
    if learner_of(params) == "trees":
        trees = Path(weights_dir) / TREES_FILE
        if not trees.is_file():
            raise WeightsError(f"{trees} is missing: {CONTEXT_FILE} needs it; rerun "
                                    "`python -m training.train_context`.")
        import skops.io

        params["trees"] = skops.io.load(trees, trusted=TRUSTED_TREE_TYPES)
    return params
