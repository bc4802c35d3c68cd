"""Building blocks shared by the network models: the network config section, MLPs, losses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from vaesep.config import ModelSection, require

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU}
OUTPUTS = {"softplus": nn.Softplus, "relu": nn.ReLU}
_POISSON_FLOOR = 1e-6


@dataclass
class NetworkConfig(ModelSection):
    """Keys every encoder/decoder network shares (the study's MLPs and their relatives)."""

    encoder_layers: list[int] = field(default_factory=lambda: [256, 256, 128])
    decoder_layers: list[int] = field(default_factory=lambda: [256, 256])
    latent_dim: int = 64
    activation: Literal["relu", "tanh", "leaky_relu", "elu"] = "relu"
    dropout: float = 0.0
    # Non-negative magnitude output.
    output_activation: Literal["softplus", "relu"] = "softplus"
    # What the decoder estimates: the source's spectrum (the study), or a [0, 1] mask of the
    # mixture spectrum trained on the masked mixture (signal approximation; not in the study).
    estimate: Literal["spectrum", "mask"] = "spectrum"
    # Reconstruction loss between estimate and target spectra (poisson: x̂ − x log x̂, the
    # generalized KL divergence up to a constant).
    reconstruction: Literal["mse", "l1", "poisson"] = "mse"
    # Separation's soft masks Ŝk^p / Σ Ŝj^p (1: the study's ratio, 2: a power ratio);
    # overrides the base property.
    mask_power: float = 1.0

    def validate(self) -> None:
        for key in ("encoder_layers", "decoder_layers"):
            sizes = getattr(self, key)
            require(all(s > 0 for s in sizes), f"model.{key}", "sizes must be positive")
        require(self.latent_dim > 0, "model.latent_dim", "must be positive")
        require(0 <= self.dropout < 1, "model.dropout", "must be in [0, 1)")
        require(self.mask_power > 0, "model.mask_power", "must be positive")


def output_layer(estimate: str, output_activation: str) -> nn.Module:
    """The decoder's last activation: [0, 1] for a mask, else non-negative."""
    return nn.Sigmoid() if estimate == "mask" else OUTPUTS[output_activation]()


def spectrum_estimate(output: torch.Tensor, mixture: torch.Tensor, estimate: str) -> torch.Tensor:
    """A decoder's spectrum estimate: its output, or (a mask) its output times the mixture's."""
    return output if estimate == "spectrum" else output * mixture


def mlp(sizes: list[int], activation: str, dropout: float = 0.0) -> nn.Sequential:
    """Linear layers ``sizes[0] → … → sizes[-1]``, each followed by the activation."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), ACTIVATIONS[activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def reconstruction_loss(
    estimate: torch.Tensor, target: torch.Tensor, kind: str, per_segment: bool = False
) -> torch.Tensor:
    """Per-frame error summed over bins, averaged over the frames of the batch (a scalar), or
    with ``per_segment`` over each segment's frames (``(B,)`` of ``(B, T, F)`` inputs)."""
    if kind == "poisson":
        per_bin = poisson_nll(estimate, target)
    else:
        diff = estimate - target
        per_bin = diff.square() if kind == "mse" else diff.abs()
    per_frame = per_bin.sum(dim=-1)
    return per_frame.flatten(1).mean(1) if per_segment else per_frame.mean()


def poisson_loss(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The Poisson negative log-likelihood ``x̂ − x log x̂`` (the generalized KL divergence
    without its constant x log x − x), summed over bins, averaged over frames."""
    return poisson_nll(estimate, target).sum(-1).mean()


def poisson_nll(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Elementwise x̂ − x log x̂ (x̂ floored at 1e-6; finite gradients where x = 0)."""
    estimate = estimate.clamp_min(_POISSON_FLOOR)
    return estimate - torch.xlogy(target, estimate)
