"""The complex VAE of Do et al. ([116], IEEE Access 2020): one VAE for the real part and one
for the imaginary part of a source's STFT.

Each reads the mixture's part of every bin (``features.spectrogram: complex`` lays a frame out
as ``[Re X, Im X]``, standardized per value) and estimates the source's part in the target
scale; the two estimates are rejoined into the complex spectrum. Each half is the study's VAE
with a linear output (parts are signed): encoder ``[D/2, *encoder_layers] → (μ, log σ²)``,
decoder ``[latent_dim, *decoder_layers, F]``, ``z = μ + σ ⊙ ε`` in training, ``z = μ`` at
separation; loss = squared error of both parts + β · (KL of both codes). The halves share no
weight, so training them together is training them apart.

At separation (:mod:`vaesep.separation.spectra`) the sources' complex estimates are made to
sum to the mixture, and with ``bandpass: true`` (the paper's full method) the first source's
(the speech) goes through the Chebyshev band-pass of :mod:`vaesep.models.bandpass` and the
second becomes the rest of the mixture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch
from torch import nn

from vaesep.config import require
from vaesep.models.bandpass import BandpassConfig
from vaesep.models.base import GradientModel
from vaesep.models.layers import mlp
from vaesep.models.vae import gaussian_kl


@dataclass
class ComplexVAEConfig(BandpassConfig):
    """``model`` section of ``complex_vae``: each half's network, and the band-pass on the
    first source's output (its keys those of ``bandpass``)."""

    type: str = "complex_vae"
    encoder_layers: list[int] = field(default_factory=lambda: [256, 128])
    decoder_layers: list[int] = field(default_factory=lambda: [128, 256])
    latent_dim: int = 64
    activation: Literal["relu", "tanh", "leaky_relu", "elu"] = "relu"
    epsilon_std: float = 0.01  # z = mu + sigma * eps, eps ~ N(0, epsilon_std^2 I)
    beta: float = 1.0
    bandpass: bool = True  # filter the first source's estimate (VAE + band-pass)

    def validate(self) -> None:
        super().validate()
        for key in ("encoder_layers", "decoder_layers"):
            sizes = getattr(self, key)
            require(all(s > 0 for s in sizes), f"model.{key}", "sizes must be positive")
        require(self.latent_dim > 0, "model.latent_dim", "must be positive")
        require(self.epsilon_std >= 0, "model.epsilon_std", "must be zero or positive")
        require(self.beta >= 0, "model.beta", "must be zero or positive")


class _Half(nn.Module):
    """The VAE of one part (real or imaginary) of every bin."""

    def __init__(self, input_dim: int, output_dim: int, config: ComplexVAEConfig):
        super().__init__()
        sizes = [input_dim, *config.encoder_layers]
        self.encoder = mlp(sizes, config.activation)
        self.mu = nn.Linear(sizes[-1], config.latent_dim)
        self.logvar = nn.Linear(sizes[-1], config.latent_dim)
        decoder = [config.latent_dim, *config.decoder_layers]
        self.decoder = nn.Sequential(
            mlp(decoder, config.activation), nn.Linear(decoder[-1], output_dim)
        )

    def forward(self, x: torch.Tensor, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(estimate, KL per row) of a code sampled with ``noise`` (0: the mean)."""
        h = self.encoder(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu) * noise if noise else mu
        return self.decoder(z), gaussian_kl(mu, logvar)


class ComplexVAE(GradientModel):
    """A source's complex spectrum from the mixture's, one VAE per part; frame-wise."""

    complex_spectra: ClassVar[bool] = True
    onnx_refusal: ClassVar[str | None] = "its complex estimates have no ONNX separation path"

    def __init__(self, input_dim: int, output_dim: int, config: ComplexVAEConfig):
        super().__init__()
        self.config = config
        self.bins = output_dim // 2
        self.halves = nn.ModuleList(_Half(input_dim // 2, self.bins, config) for _ in range(2))

    def _parts(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The real and the imaginary inputs of ``x`` ``(B, T, D)`` (context frames kept)."""
        grouped = x.unflatten(-1, (-1, 2, self.bins))  # (B, T, frames, part, bins)
        return [grouped[..., k, :].flatten(-2) for k in range(2)]

    def _run(self, x: torch.Tensor, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
        outs = [half(part, noise) for half, part in zip(self.halves, self._parts(x))]
        return torch.cat([o[0] for o in outs], -1), outs[0][1] + outs[1][1]

    def forward(self, x: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        """``[Re Ŝ, Im Ŝ]`` ``(B, T, 2F)`` in the target scale, from the codes' means."""
        return self._run(x, 0.0)[0]

    def loss(
        self, x: torch.Tensor, target: torch.Tensor, mixture: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        estimate, kl = self._run(x, self.config.epsilon_std)
        rec = (estimate - target).square().sum(-1).mean()
        kl = kl.mean()
        return rec + self.config.beta * kl, {"rec": rec.item(), "kl": kl.item()}
