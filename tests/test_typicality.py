"""The atypical-beat warning's statistics: class centres and spreads, the held-out threshold, the flag, and the
embeddings they are measured on (toy embeddings where the arithmetic is the point)."""

import numpy as np
import pytest
import torch

from ecg import typicality
from model import ECGCNN


def test_embeddings_are_the_models_read_in_batches_as_in_one():
    torch.manual_seed(0)
    model = ECGCNN().eval()
    x = np.random.default_rng(0).normal(0, 1, (7, 180)).astype(np.float32)
    with torch.no_grad():
        whole = model.embedding(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(typicality.embed(model, x, batch_size=3), whole, atol=1e-6)


MODEL = object()  # stands for the model whose embeddings the statistics are measured on


@pytest.fixture
def as_embedded(monkeypatch):
    """MODEL's embedding replaced by the rows themselves."""
    def embed(model, x):
        assert model is MODEL, "measured on another model's embeddings"
        return np.asarray(x, dtype=float)

    monkeypatch.setattr(typicality, "embed", embed)


def test_each_class_has_its_centre_and_the_spread_is_around_each_beats_own_centre(as_embedded):
    points = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 4.0], [10.0, 8.0]])
    stats = typicality.describe(MODEL, points, np.array(["N", "N", "V", "V"]))
    np.testing.assert_allclose(stats["centres"], [[1.0, 0.0], [10.0, 6.0]])
    np.testing.assert_allclose(stats["scale"], [np.std([-1, 1, 0, 0]) + 1e-3, np.std([0, 0, -2, 2]) + 1e-3])
    assert stats["percentile"] == 99.0


def test_the_threshold_is_the_99th_percentile_of_held_out_distances_and_the_flag_is_strictly_beyond(as_embedded):
    stats = {"centres": [[0.0]], "scale": [1.0]}
    held_out = np.arange(101.0)[:, None]
    assert typicality.held_out_threshold(MODEL, stats, held_out) == pytest.approx(99.0)
    flags = typicality.flagged(MODEL, dict(stats, threshold=99.0), np.array([[98.0], [99.0], [-99.5]]))
    assert flags.tolist() == [False, False, True]
