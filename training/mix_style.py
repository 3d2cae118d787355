"""MixStyle within a class (Zhou et al., ICLR 2021): new recording styles made from the training beats' own.

A convolution block's per-channel mean and spread over time carry much of a beat's look that is the recorder's
or the patient's rather than its class's. Replacing them by a mix of a beat's own and another beat's trains the
network on styles between those the data hold. The partner is a beat of the same class, so what the statistics
say of the class stays.
"""

from __future__ import annotations

import torch

BLOCKS = 2  # mixed after each of the first two convolution blocks, as the method places it in early layers
ALPHA = 0.1  # Beta(ALPHA, ALPHA) mixing weights: mostly near one beat's style or the other's


def mix_styles(features: torch.Tensor, classes: torch.Tensor, alpha: float = ALPHA) -> torch.Tensor:
    """(n, channels, time) features with each beat's per-channel mean and spread mixed with those of a beat of
    its class drawn from the batch (itself where it is its class's only beat)."""
    partner = torch.empty(len(classes), dtype=torch.long)
    for c in classes.unique():
        rows = torch.nonzero(classes == c).flatten()
        partner[rows] = rows[torch.randperm(len(rows))]
    mean = features.mean(dim=2, keepdim=True).detach()
    spread = (features.var(dim=2, keepdim=True) + 1e-6).sqrt().detach()
    weight = torch.distributions.Beta(alpha, alpha).sample((len(features), 1, 1))
    return ((features - mean) / spread * (weight * spread + (1 - weight) * spread[partner])
            + weight * mean + (1 - weight) * mean[partner])
