"""ITL autoencoder (Santana et al.): deterministic code, no reparameterization.

Loss = reconstruction + λ · D(codes, prior samples), D the Cauchy–Schwarz or Euclidean
divergence of Gaussian-kernel density estimates (see :mod:`vaesep.models.divergences`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from vaesep.config import require
from vaesep.models.base import GradientModel, Penalties
from vaesep.models.divergences import DIVERGENCES
from vaesep.models.layers import NetworkConfig, mlp
from vaesep.models.vae import Decoder


@dataclass
class ITLAEConfig(NetworkConfig):
    """``model`` section of ``itl_ae``: loss = rec + λ · D(codes, prior samples)."""

    type: str = "itl_ae"
    divergence: Literal["cs", "euclidean"] = "cs"
    prior: Literal["gaussian", "laplace"] = "gaussian"
    kernel_sigma: float = 1.0
    itl_lambda: float = 0.1

    def validate(self) -> None:
        super().validate()
        require(self.kernel_sigma > 0, "model.kernel_sigma", "must be positive")
        require(self.itl_lambda >= 0, "model.itl_lambda", "must be zero or positive")


def sample_prior(kind: str, n: int, dim: int, like: torch.Tensor) -> torch.Tensor:
    """Samples of a zero-mean, unit-variance Gaussian or Laplace prior."""
    if kind == "gaussian":
        return torch.randn(n, dim, dtype=like.dtype, device=like.device)
    uniform = torch.rand(n, dim, dtype=like.dtype, device=like.device) - 0.5
    scale = 1 / math.sqrt(2)
    return -scale * uniform.sign() * (1 - 2 * uniform.abs()).clamp_min(1e-12).log()


class ITLAE(GradientModel):
    """Deterministic autoencoder regularized towards a prior with an ITL divergence."""

    def __init__(self, input_dim: int, output_dim: int, config: ITLAEConfig):
        super().__init__()
        self.config = config
        sizes = [input_dim, *config.encoder_layers]
        self.encoder = nn.Sequential(
            mlp(sizes, config.activation, config.dropout),
            nn.Linear(sizes[-1], config.latent_dim),
        )
        self.decoder = Decoder(config, output_dim)
        self.divergence = DIVERGENCES[config.divergence]

    def forward(self, x: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        """Estimate; ``mixture``: the mixture spectrum a mask applies to."""
        return self.decoder(self.encoder(x), mixture)

    def estimate_for_training(
        self, x: torch.Tensor, mixture: torch.Tensor
    ) -> tuple[torch.Tensor, Penalties]:
        """The estimate and λ · D(codes, prior samples)."""
        code = self.encoder(x)
        estimate = self.decoder(code, mixture)
        codes = code.reshape(-1, code.shape[-1])  # the divergence compares sets of codes
        prior = sample_prior(self.config.prior, codes.shape[0], codes.shape[1], codes)
        div = self.divergence(codes, prior, self.config.kernel_sigma)
        return estimate, {"div": (div, self.config.itl_lambda)}
