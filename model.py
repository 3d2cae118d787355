"""ECGCNN: the 1D convolutional network that classifies one 180-sample beat."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

WIDTHS = (32, 64, 128, 256)
DILATIONS = (1, 1, 1, 1)
POOLINGS = ("flatten", "average")


def conv_block(in_channels: int, out_channels: int, kernel_size: int, dilation: int, groups: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(in_channels, out_channels, kernel_size, padding=dilation * (kernel_size // 2), dilation=dilation,
                  groups=groups, bias=False),
        nn.BatchNorm1d(out_channels),
        nn.ReLU(),
        nn.MaxPool1d(2),
    )


class ECGCNN(nn.Module):
    """Four convolution blocks (32, 64, 128, 256 filters), then a dropout-regularised head.

    ``members`` networks of that shape can be packed side by side into one (an ensemble): grouped
    convolutions keep each member's channels apart, and the logits are the members' mean, so one
    forward pass runs them all and an offset added to every member's last bias shifts the ensemble.
    ``features`` and ``classify`` are separate so that Grad-CAM can read the last block's activations
    and their gradients. The head reads the last block either flattened (each position its own
    weights) or averaged over time; its "linear" layers are grouped 1D convolutions spanning the
    whole block, which for one member are exactly Linear layers. ``dilations`` spread each block's
    kernel over more samples at the same cost.
    """

    def __init__(self, n_classes: int = 5, beat_length: int = 180, kernel_size: int = 7,
                 widths: tuple[int, ...] = WIDTHS, dilations: tuple[int, ...] = DILATIONS, hidden: int = 128,
                 dropout: float = 0.5, pooling: str = "flatten", members: int = 1) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling is {pooling!r}; expected one of {POOLINGS}")
        if len(dilations) != len(widths):
            raise ValueError(f"{len(dilations)} dilations for {len(widths)} blocks; expected one per block")
        self.members, self.n_classes = members, n_classes
        self.batchnorm_folded = False
        self.config = {"n_classes": n_classes, "beat_length": beat_length, "kernel_size": kernel_size,
                       "widths": tuple(widths), "dilations": tuple(dilations), "hidden": hidden, "dropout": dropout,
                       "pooling": pooling}
        channels = (1, *(w * members for w in widths))
        self.features = nn.Sequential(*(conv_block(channels[i], channels[i + 1], kernel_size, dilations[i],
                                                   groups=1 if i == 0 else members)
                                        for i in range(len(widths))))
        feature_length = beat_length // 2 ** len(widths) if pooling == "flatten" else 1
        reader = [nn.AdaptiveAvgPool1d(1)] if pooling == "average" else []
        self.hidden = nn.Sequential(
            *reader,
            nn.Conv1d(channels[-1], hidden * members, feature_length, groups=members),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Unflatten(1, (hidden * members, 1)),
                                  nn.Conv1d(hidden * members, n_classes * members, 1, groups=members))

    def classify(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Last block's activations -> (hidden layer, logits averaged over members)."""
        hidden = self.hidden(features)
        logits = self.head(hidden).view(len(features), self.members, self.n_classes).mean(dim=1)
        return hidden, logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, 180) preprocessed beats -> (n, n_classes) logits."""
        return self.classify(self.features(x.unsqueeze(1)))[1]

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden layer the classifier reads (every member's, side by side): how the network sees a beat."""
        return self.hidden(self.features(x.unsqueeze(1)))

    def fold_batchnorm(self) -> ECGCNN:
        """For inference only: fold each block's BatchNorm into its convolution, in place (eval mode).

        The answers are the same to float rounding, with one pass less over every block's activations:
        a quarter of a single beat's forward time on this machine. Training needs the BatchNorm layers.
        """
        self.eval()
        for block in self.features:
            block[0], block[1] = fuse_conv_bn_eval(block[0], block[1]), nn.Identity()
        self.batchnorm_folded = True
        return self

    def add_to_bias(self, offsets: torch.Tensor) -> None:
        """Add per-class log-offsets to every member's output, and so to the ensemble's."""
        with torch.no_grad():
            self.head[-1].bias += offsets.to(self.head[-1].bias.dtype).repeat(self.members)


def pack(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """State dicts of one-member ECGCNNs -> the state dict of ECGCNN(members=len(states)) holding them all.

    Every tensor's first axis is the output channels, members in order; BatchNorm's step
    counter is not a weight and is taken from the first member.
    """
    return {key: states[0][key] if key.endswith("num_batches_tracked") else torch.cat([s[key] for s in states])
            for key in states[0]}


def unpack(model: ECGCNN) -> list[ECGCNN]:
    """An ensemble's members as one-member ECGCNNs (each costs what one member costs)."""
    state = model.state_dict()
    members = []
    for m in range(model.members):
        member = ECGCNN(**{**model.config, "members": 1})
        if model.batchnorm_folded:
            member.fold_batchnorm()
        member.load_state_dict({key: value if key.endswith("num_batches_tracked") else value.chunk(model.members)[m]
                                for key, value in state.items()})
        members.append(member.eval())
    return members
