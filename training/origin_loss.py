"""A loss on where a beat starts, its AAMI group (conducted: N, L or R; ventricular: V; atrial: A), beside the loss
on its class.

Cross-entropy prices every wrong class alike, so training pays as much for calling a bundle branch block beat normal
(the same origin) as for calling a PVC a block, the error that hides most PVCs from new patients. A group's
probability is the sum of its classes', so the network keeps its five outputs and nothing else changes at inference.
"""

from __future__ import annotations

import torch
from torch import nn

from ecg.labels import AAMI_GROUP, BEAT_CLASSES

GROUPS = tuple(dict.fromkeys(AAMI_GROUP[c] for c in BEAT_CLASSES))
_IN_GROUP = torch.tensor([[AAMI_GROUP[c] == group for c in BEAT_CLASSES] for group in GROUPS])
_GROUP_OF_CLASS = torch.tensor([GROUPS.index(AAMI_GROUP[c]) for c in BEAT_CLASSES])


def group_log_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """(n, groups) log of each group's probability: the log of the sum of its classes' softmax probabilities."""
    log_p = torch.log_softmax(logits, dim=1).unsqueeze(1)
    return torch.logsumexp(log_p.masked_fill(~_IN_GROUP, float("-inf")), dim=2)


def origin_loss(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """The mean negative log-probability of each beat's own group."""
    return nn.functional.nll_loss(group_log_probabilities(logits), _GROUP_OF_CLASS[classes])
