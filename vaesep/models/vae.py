"""VAE and beta-VAE for one source: mixture frame in, that source's spectrum out.

Encoder ``[D, *encoder_layers] → (μ, log σ²)`` of a ``latent_dim`` code, decoder
``[latent_dim, *decoder_layers, M]`` with a non-negative output. Training samples
``z = μ + σ ⊙ ε``, ``ε ~ N(0, epsilon_std² I)`` (the study's 0.01); inference uses ``z = μ``.
Loss = reconstruction + β · KL(q(z|x) ‖ N(0, I)); β = 1 is the VAE, β > 1 the β-VAE.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vaesep.config import require
from vaesep.models.base import GradientModel, Penalties
from vaesep.models.layers import (
    NetworkConfig,
    mlp,
    output_layer,
    spectrum_estimate,
)


@dataclass
class VAEConfig(NetworkConfig):
    """``model`` section of ``vae`` and ``beta_vae``."""

    # z = mu + sigma * eps, eps ~ N(0, epsilon_std^2 I); loss = rec + beta * KL.
    epsilon_std: float = 0.01
    beta: float = 1.0

    def validate(self) -> None:
        super().validate()
        require(self.epsilon_std >= 0, "model.epsilon_std", "must be zero or positive")
        require(self.beta >= 0, "model.beta", "must be zero or positive")


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) = −½ Σ (1 + log σ² − μ² − σ²), per row."""
    return -0.5 * (1 + logvar - mu.square() - logvar.exp()).sum(dim=-1)


class Decoder(nn.Sequential):
    """Code → non-negative spectrum estimate: its output, or (``model.estimate: mask``) its
    [0, 1] output times the ``mixture`` spectrum."""

    def __init__(self, config: NetworkConfig, output_dim: int):
        sizes = [config.latent_dim, *config.decoder_layers]
        super().__init__(
            mlp(sizes, config.activation, config.dropout),
            nn.Linear(sizes[-1], output_dim),
            output_layer(config.estimate, config.output_activation),
        )
        self.estimate = config.estimate

    def forward(self, code: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        return spectrum_estimate(super().forward(code), mixture, self.estimate)


class VAE(GradientModel):
    """Gaussian-encoder VAE (β-VAE when ``config.beta`` > 1); frame-wise."""

    def __init__(self, input_dim: int, output_dim: int, config: VAEConfig):
        super().__init__()
        self.config = config
        sizes = [input_dim, *config.encoder_layers]
        self.encoder = mlp(sizes, config.activation, config.dropout)
        self.mu = nn.Linear(sizes[-1], config.latent_dim)
        self.logvar = nn.Linear(sizes[-1], config.latent_dim)
        self.decoder = Decoder(config, output_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def forward(self, x: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        """Deterministic estimate (z = μ); ``mixture``: the mixture spectrum a mask applies to."""
        return self.decoder(self.encode(x)[0], mixture)

    def estimate_for_training(
        self, x: torch.Tensor, mixture: torch.Tensor
    ) -> tuple[torch.Tensor, Penalties]:
        """The estimate of a sampled code and β · KL."""
        mu, logvar = self.encode(x)
        eps = torch.randn_like(mu) * self.config.epsilon_std
        z = mu + (0.5 * logvar).exp() * eps
        return self.decoder(z, mixture), {"kl": (gaussian_kl(mu, logvar).mean(), self.config.beta)}
