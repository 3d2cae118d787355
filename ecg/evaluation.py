"""Scores of a beat classifier as the literature reports them, built on scikit-learn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from ecg.labels import AAMI_CLASSES, AAMI_GROUP


def class_scores(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]) -> dict:
    """Per-class sensitivity, +P, specificity and F1, with accuracy, macro-F1 and the confusion matrix."""
    labels = list(classes)
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    total = cm.sum()
    per_class = {}
    for i, c in enumerate(labels):
        negatives = total - cm[i].sum()
        false_pos = cm[:, i].sum() - cm[i, i]
        per_class[c] = {
            "support": int(support[i]),
            "sensitivity": float(recall[i]),
            "positive_predictivity": float(precision[i]),
            "specificity": float((negatives - false_pos) / negatives) if negatives else 0.0,
            "f1": float(f1[i]),
        }
    return {
        "n_beats": int(total),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "per_class": per_class,
        "confusion": cm.tolist(),
        "classes": labels,
    }


def evaluate(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]) -> dict:
    """Scores over the model's five classes and over the AAMI groups N, S and V."""
    to_aami = np.vectorize(AAMI_GROUP.get)
    return {
        "five_class": class_scores(y_true, y_pred, classes),
        "aami": class_scores(to_aami(y_true), to_aami(y_pred), AAMI_CLASSES),
    }


def summary_line(scores: dict) -> str:
    """One line of what `evaluate` measured: 5-class macro-F1, AAMI S and V F1, then each class's F1."""
    five, aami = scores["five_class"], scores["aami"]["per_class"]
    return (f"macro-F1 {five['macro_f1']:.3f}, AAMI S F1 {aami['S']['f1']:.3f}, V F1 {aami['V']['f1']:.3f}; "
            + ", ".join(f"{c} {v['f1']:.3f}" for c, v in five["per_class"].items()))


def markdown_table(scores: dict) -> str:
    """Per-class table with accuracy and macro-F1 below it."""
    rows = ["| class | beats | sensitivity | +P | specificity | F1 |", "|---|---:|---:|---:|---:|---:|"]
    for c, s in scores["per_class"].items():
        rows.append(f"| {c} | {s['support']} | {s['sensitivity']:.3f} | {s['positive_predictivity']:.3f} "
                    f"| {s['specificity']:.3f} | {s['f1']:.3f} |")
    rows.append(f"\nAccuracy {scores['accuracy']:.4f}, macro-F1 {scores['macro_f1']:.3f} "
                f"over {scores['n_beats']} beats.")
    return "\n".join(rows)


def confusion_table(scores: dict) -> str:
    """Confusion matrix in markdown: rows are the reference, columns the prediction."""
    classes = scores["classes"]
    rows = ["| reference \\ predicted | " + " | ".join(classes) + " |",
            "|---|" + "---:|" * len(classes)]
    for c, row in zip(classes, scores["confusion"]):
        rows.append(f"| {c} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(rows)


def save_confusion_png(scores: dict, path: Path, title: str) -> None:
    """Row-normalised confusion matrix with counts, as a PNG."""
    from matplotlib.figure import Figure

    cm = np.asarray(scores["confusion"], dtype=float)
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(4.6, 4), dpi=120)
    ax = fig.subplots()
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    classes = scores["classes"]
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    ax.set_title(title, fontsize=9)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(path)


def database_balanced_f1(y: np.ndarray, predicted: np.ndarray, codes: np.ndarray, n_databases: int,
                         n_classes: int) -> float:
    """The mean over databases (`codes`: each beat's database index) of each one's macro-F1 over the classes it
    holds, from class indices; written with bincount because choices score it thousands of times."""
    k = n_classes
    cm = np.bincount((codes * k + y) * k + predicted, minlength=n_databases * k * k).reshape(n_databases, k, k)
    f1 = 2 * np.diagonal(cm, axis1=1, axis2=2) / np.maximum(cm.sum(axis=1) + cm.sum(axis=2), 1)
    held = cm.sum(axis=2) > 0
    return float(np.mean([f1[d][held[d]].mean() for d in range(n_databases)]))


def _mean_or_none(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def confidence_by_call(y_true: np.ndarray, probabilities: np.ndarray, classes: tuple[str, ...],
                       low_confidence: float) -> dict:
    """For each class the model calls, how many calls, the mean confidence it gave them and the share that were
    right; and what the low-confidence warning (confidence under `low_confidence`) separates. A user reads the
    confidence as a chance of being right: these say where, on patients the model never saw, it is not."""
    calls = np.asarray(classes)[probabilities.argmax(axis=1)]
    confidence = probabilities.max(axis=1)
    right = calls == np.asarray(y_true)
    warned = confidence < low_confidence
    return {
        "per_call": {c: {"calls": int((calls == c).sum()), "mean_confidence": _mean_or_none(confidence[calls == c]),
                         "right": _mean_or_none(right[calls == c])} for c in classes},
        "low_confidence": low_confidence,
        "warned_share": float(warned.mean()),
        "accuracy_warned": _mean_or_none(right[warned]),
        "accuracy_unwarned": _mean_or_none(right[~warned]),
    }
