"""How unlike the training beats a beat looks, to warn about beats outside the five classes.

Each class's training embeddings give a centre and a spread; a beat's atypicality
is its standardised distance to the nearest centre. The warning threshold is the
99th percentile of that distance over patients the model did not train on: in
cross-validation each fold's model measures it on its held-out patients, and the
shipped model takes the median over folds (the distance is standardised, so it
carries over from one model of the recipe to another).
"""

from __future__ import annotations

import numpy as np
import torch

from model import ECGCNN

PERCENTILE = 99.0


@torch.no_grad()
def embed(model: ECGCNN, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    model.eval()
    return np.concatenate([model.embedding(torch.from_numpy(x[i:i + batch_size])).numpy()
                           for i in range(0, len(x), batch_size)])


def distance(embeddings: np.ndarray, stats: dict) -> np.ndarray:
    """Root-mean-square standardised distance of each embedding to its nearest class centre."""
    centres = np.asarray(stats["centres"])
    scale = np.asarray(stats["scale"])
    z = (embeddings[:, None, :] - centres[None]) / scale
    return np.sqrt((z ** 2).mean(axis=2)).min(axis=1)


def describe(model: ECGCNN, train_x: np.ndarray, train_y: np.ndarray) -> dict:
    """Class centres and spread of the training beats' embeddings."""
    train = embed(model, train_x)
    classes = np.unique(train_y)
    centres = np.stack([train[train_y == c].mean(axis=0) for c in classes])
    residual = train - centres[np.searchsorted(classes, train_y)]
    return {"centres": centres.tolist(), "scale": (residual.std(axis=0) + 1e-3).tolist(), "percentile": PERCENTILE}


def held_out_threshold(model: ECGCNN, stats: dict, held_out_x: np.ndarray) -> float:
    """The PERCENTILE-th distance over beats of patients the model did not train on."""
    return float(np.percentile(distance(embed(model, held_out_x), stats), PERCENTILE))


def flagged(model: ECGCNN, stats: dict, x: np.ndarray) -> np.ndarray:
    """True for each preprocessed beat farther from the training beats than the threshold."""
    return distance(embed(model, x), stats) > stats["threshold"]
