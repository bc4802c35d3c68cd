"""Fully connected building blocks shared by the models."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU}
OUTPUTS = {"softplus": nn.Softplus, "relu": nn.ReLU}


def output_layer(estimate: str, output_activation: str) -> nn.Module:
    """The decoder's last activation: [0, 1] for a mask, else non-negative."""
    return nn.Sigmoid() if estimate == "mask" else OUTPUTS[output_activation]()


def spectrum_estimate(
    output: torch.Tensor, mixture: torch.Tensor | None, estimate: str
) -> torch.Tensor:
    """A decoder's spectrum estimate: its output, or (a mask) its output times the mixture's."""
    if estimate == "spectrum":
        return output
    if mixture is None:
        raise ValueError("a model with model.estimate=mask needs the mixture spectrum")
    return output * mixture


def mlp(sizes: list[int], activation: str, dropout: float = 0.0) -> nn.Sequential:
    """Linear layers ``sizes[0] → … → sizes[-1]``, each followed by the activation."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), ACTIVATIONS[activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def reconstruction_loss(estimate: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-frame error summed over bins, averaged over the batch."""
    diff = estimate - target
    per_bin = diff.square() if kind == "mse" else diff.abs()
    return per_bin.sum(dim=1).mean()
