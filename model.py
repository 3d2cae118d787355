"""ECGCNN: the 1D convolutional network that classifies one 180-sample beat."""

from __future__ import annotations

import torch
from torch import nn

WIDTHS = (32, 64, 128, 256)
POOLINGS = ("flatten", "average")


def conv_block(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm1d(out_channels),
        nn.ReLU(),
        nn.MaxPool1d(2),
    )


class ECGCNN(nn.Module):
    """Four convolution blocks (32, 64, 128, 256 filters), then a dropout-regularised head.

    ``features`` and ``head`` are separate so that Grad-CAM can read the last
    block's activations and their gradients. The head reads the last block either
    flattened (each position its own weights) or averaged over time, which gives
    the same answer wherever in the window the beat's features lie.
    """

    def __init__(self, n_classes: int = 5, beat_length: int = 180, kernel_size: int = 7,
                 widths: tuple[int, ...] = WIDTHS, hidden: int = 128,
                 dropout: float = 0.5, pooling: str = "flatten") -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling is {pooling!r}; expected one of {POOLINGS}")
        channels = (1, *widths)
        self.features = nn.Sequential(*(conv_block(channels[i], channels[i + 1], kernel_size)
                                        for i in range(len(widths))))
        feature_length = beat_length // 2 ** len(widths) if pooling == "flatten" else 1
        reader = [nn.AdaptiveAvgPool1d(1)] if pooling == "average" else []
        self.head = nn.Sequential(
            *reader,
            nn.Flatten(),
            nn.Linear(widths[-1] * feature_length, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, 180) preprocessed beats -> (n, n_classes) logits."""
        return self.head(self.features(x.unsqueeze(1)))

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden layer the classifier reads: how the network sees a beat."""
        return self.head[:-2](self.features(x.unsqueeze(1)))
