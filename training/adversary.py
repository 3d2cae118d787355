"""Adversaries: push the network's hidden layer to forget which patient (or database) a beat came from.

On unseen patients the network fails by patient rather than by beat: out of fold, one MIT-BIH LBBB
patient's beats are nearly all called R, and the L/R swap repeats on DS2. With 2 to 9 patients per
bundle branch block class, features that tell patients apart also tell the training set's L from R.
Domain-adversarial training (Ganin and Lempitsky 2015; applied to inter-patient ECG by Zhang et al.
2021) adds a classifier that guesses the patient from the hidden layer and reverses its gradient into
the network. It is told the beat's class, so what the network is pushed to forget is what tells a
patient apart within a class, not what tells classes apart. It is used in training only; ECGCNN is
unchanged and ships without it.

The same adversary can be told to guess the database instead (a recorder, not a person): with one of
three databases left out, whole classes of its beats fail (half of SVDB's normal beats called L or R),
and conditional domain-adversarial learning for domain generalisation (Li et al. 2018) asks the features
of one class to be alike across the domains training has, so that they may be alike on a new one too.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, gradient: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * gradient, None


class Adversary(nn.Module):
    """(hidden layer, class) -> logits over the groups the network is to forget: training patients or databases."""

    def __init__(self, hidden: int, n_classes: int, n_groups: int, width: int = 128) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.net = nn.Sequential(nn.Linear(hidden + n_classes, width), nn.ReLU(), nn.Linear(width, n_groups))

    def forward(self, hidden: torch.Tensor, classes: torch.Tensor, scale: float) -> torch.Tensor:
        told = nn.functional.one_hot(classes, self.n_classes).to(hidden.dtype)
        return self.net(torch.cat([_ReverseGradient.apply(hidden, scale), told], dim=1))


def ramp(progress: float, weight: float) -> float:
    """The reversal's strength at this point of training (0 to 1): from 0 up to `weight`, as Ganin and
    Lempitsky ramp it, so the adversary learns before it pushes."""
    return weight * (2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0)
