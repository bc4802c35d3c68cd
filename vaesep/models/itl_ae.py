"""ITL autoencoder (Santana et al.): deterministic code, no reparameterization.

Loss = reconstruction + λ · D(codes, prior samples), D the Cauchy–Schwarz or Euclidean
divergence of Gaussian-kernel density estimates (see :mod:`vaesep.models.divergences`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vaesep.config import ModelConfig
from vaesep.models.divergences import DIVERGENCES
from vaesep.models.layers import mlp, reconstruction_loss
from vaesep.models.vae import Decoder


def sample_prior(kind: str, n: int, dim: int, like: torch.Tensor) -> torch.Tensor:
    """Samples of a zero-mean, unit-variance Gaussian or Laplace prior."""
    if kind == "gaussian":
        return torch.randn(n, dim, dtype=like.dtype, device=like.device)
    uniform = torch.rand(n, dim, dtype=like.dtype, device=like.device) - 0.5
    scale = 1 / math.sqrt(2)
    return -scale * uniform.sign() * (1 - 2 * uniform.abs()).clamp_min(1e-12).log()


class ITLAE(nn.Module):
    """Deterministic autoencoder regularized towards a prior with an ITL divergence."""

    kind = "neural"

    def __init__(self, input_dim: int, output_dim: int, config: ModelConfig):
        super().__init__()
        self.config = config
        sizes = [input_dim, *config.encoder_layers]
        self.encoder = nn.Sequential(
            mlp(sizes, config.activation, config.dropout),
            nn.Linear(sizes[-1], config.latent_dim),
        )
        self.decoder = Decoder(config, output_dim)
        self.divergence = DIVERGENCES[config.divergence]

    def forward(self, x: torch.Tensor, mixture: torch.Tensor | None = None) -> torch.Tensor:
        """Estimate; ``mixture``: the mixture spectrum a mask applies to."""
        return self.decoder(self.encoder(x), mixture)

    def loss(
        self, x: torch.Tensor, target: torch.Tensor, mixture: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        code = self.encoder(x)
        rec = reconstruction_loss(self.decoder(code, mixture), target, self.config.reconstruction)
        prior = sample_prior(self.config.prior, code.shape[0], code.shape[1], code)
        div = self.divergence(code, prior, self.config.kernel_sigma)
        return rec + self.config.itl_lambda * div, {"rec": rec.item(), "div": div.item()}
