"""A VRNN-style variational recurrent mask network for one source.

After the variational RNN of Chung et al. (NeurIPS 2015), which Chien & Kuo (Interspeech
2017) used for speech separation on TIMIT; "VRNN-style": the structure below, not a
reproduction of their (unpublished) numbers. With ``x`` ``(B, T, D)``, ``u_t = φ(x_t)`` and
``RNN`` the ``model.cell`` (LSTM or GRU, see :mod:`vaesep.models.recurrent`)::

    f_t = RNN→(u_1..t),  b_t = RNN←(u_t..T)          each (B, T, H)
    c_t = [f_{t−1}, b_{t+1}]                           (B, T, C), zeros past the ends;
                                                       C = H (forward only) or 2H
    prior      p(z_t | c_t)      = N(μ_p, σ_p²)        (B, T, latent_dim) each
    posterior  q(z_t | u_t, c_t) = N(μ_q, σ_q²)
    decoder    m_t = sigmoid(dec(z_t, c_t))            (B, T, F);  Ŝ_t = m_t ⊙ mixture_t

    loss = reconstruction(Ŝ, target) + β · mean_t Σ_k KL(q(z_tk) ‖ p(z_tk))

Training samples ``z = μ_q + σ_q ⊙ ε``, ``ε ~ N(0, I)``; eval mode uses ``z = μ_q``
(deterministic, also for the validation loss). The context ``c_t`` leaves frame ``t`` out,
so the frame reaches the decoder only through ``z_t``. The directions are two separate
(stacked) RNNs, not one bidirectional module, whose upper layers would mix the directions at
every frame and so let ``f_{t−1}`` see frame ``t`` when ``num_layers`` > 1.

Difference from Chung et al.: there ``z_t`` (and ``x_t``) feed the next recurrent state,
``h_t = f(h_{t−1}, φ(x_t), φ(z_t))``, which forces a Python loop over frames. Here the
recurrence runs over ``φ(x)`` alone, one fused RNN call per direction, so separating
thousands of frames takes a fraction of a second; ``z_t`` only drives the frame's decoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from vaesep.config import require
from vaesep.models.base import Batch, GradientModel, Penalties
from vaesep.models.layers import mlp
from vaesep.models.recurrent import RecurrentConfig, input_network, recurrent


@dataclass
class VRNNConfig(RecurrentConfig):
    """``model`` section of ``vrnn``."""

    type: str = "vrnn"
    latent_dim: int = 32
    # Hidden layers of each of the prior, posterior and decoder MLPs.
    latent_layers: list[int] = field(default_factory=lambda: [256])
    # loss = rec + beta * KL(q || prior).
    beta: float = 1.0

    def validate(self) -> None:
        super().validate()
        require(self.latent_dim > 0, "model.latent_dim", "must be positive")
        require(
            all(s > 0 for s in self.latent_layers), "model.latent_layers", "sizes must be positive"
        )
        require(self.beta >= 0, "model.beta", "must be zero or positive")


class Latents(NamedTuple):
    """Per-frame posterior and prior parameters ``(B, T, latent_dim)`` and context ``c``."""

    q_mu: torch.Tensor
    q_logvar: torch.Tensor
    p_mu: torch.Tensor
    p_logvar: torch.Tensor
    context: torch.Tensor


def diagonal_gaussian_kl(
    mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor
) -> torch.Tensor:
    """KL(N(μ_q, σ_q²) ‖ N(μ_p, σ_p²)) summed over the last axis:
    ½ Σ (log σ_p² − log σ_q² + (σ_q² + (μ_q − μ_p)²) / σ_p² − 1)."""
    ratio = (logvar_q.exp() + (mu_q - mu_p).square()) * (-logvar_p).exp()
    return 0.5 * (logvar_p - logvar_q + ratio - 1).sum(dim=-1)


def shift(h: torch.Tensor) -> torch.Tensor:
    """``h`` delayed by one frame along axis 1, zeros in the first frame."""
    return F.pad(h[:, :-1], (0, 0, 1, 0))


class Context(nn.Module):
    """``c_t = [f_{t−1}, b_{t+1}]`` (``[f_{t−1}]`` forward only) of inputs ``u`` (B, T, P)."""

    def __init__(self, input_size: int, config: RecurrentConfig):
        super().__init__()
        one_way = dict(input_size=input_size, config=config, bidirectional=False)
        self.forward_rnn = recurrent(**one_way)
        self.backward_rnn = recurrent(**one_way) if config.bidirectional else None
        self.size = config.hidden_size * (2 if config.bidirectional else 1)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        f, _ = self.forward_rnn(u)
        if self.backward_rnn is None:
            return shift(f)
        b, _ = self.backward_rnn(u.flip(1))  # b[:, s] has read frames T−1 … T−1−s
        return torch.cat([shift(f), shift(b).flip(1)], dim=-1)


class GaussianHead(nn.Module):
    """An MLP to the mean and log-variance of a diagonal Gaussian."""

    def __init__(self, sizes: list[int], latent_dim: int, activation: str, dropout: float):
        super().__init__()
        self.net = mlp(sizes, activation, dropout)
        self.out = nn.Linear(sizes[-1], 2 * latent_dim)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.out(self.net(h)).chunk(2, dim=-1)
        return mu, logvar


class VRNN(GradientModel):
    """Variational recurrent mask network (see the module docstring)."""

    receptive_field = None

    def __init__(self, input_dim: int, output_dim: int, config: VRNNConfig):
        super().__init__()
        self.config = config
        act, drop, hidden = config.activation, config.dropout, config.latent_layers
        self.phi, phi_dim = input_network(input_dim, config)
        self.context = Context(phi_dim, config)
        c = self.context.size
        self.prior = GaussianHead([c, *hidden], config.latent_dim, act, drop)
        self.posterior = GaussianHead([phi_dim + c, *hidden], config.latent_dim, act, drop)
        sizes = [config.latent_dim + c, *hidden]
        self.decoder = nn.Sequential(
            mlp(sizes, act, drop), nn.Linear(sizes[-1], output_dim), nn.Sigmoid()
        )

    def latents(self, x: torch.Tensor) -> Latents:
        """Posterior and prior parameters of every frame of ``x`` (B, T, D)."""
        u = self.phi(x)
        c = self.context(u)
        q_mu, q_logvar = self.posterior(torch.cat([u, c], dim=-1))
        p_mu, p_logvar = self.prior(c)
        return Latents(q_mu, q_logvar, p_mu, p_logvar, c)

    def decode(self, z: torch.Tensor, context: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        """The masked mixture ``(B, T, F)`` of codes ``z`` and contexts."""
        return self.decoder(torch.cat([z, context], dim=-1)) * mixture

    def forward(self, x: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        """Deterministic estimate (z = μ_q)."""
        lat = self.latents(x)
        return self.decode(lat.q_mu, lat.context, mixture)

    def estimate_for_training(
        self, x: torch.Tensor, mixture: torch.Tensor
    ) -> tuple[torch.Tensor, Penalties]:
        """The estimate of a sampled code (z = μ_q in eval mode) and β · KL."""
        lat = self.latents(x)
        z = lat.q_mu
        if self.training:
            z = z + (0.5 * lat.q_logvar).exp() * torch.randn_like(z)
        kl = diagonal_gaussian_kl(*lat[:4]).mean()
        return self.decode(z, lat.context, mixture), {"kl": (kl, self.config.beta)}

    def validation_step(self, batch: Batch) -> dict[str, float]:
        """The validation reconstruction (z = μ_q): what separation uses picks the best epoch,
        comparable across β; the KL only regularizes training."""
        with torch.no_grad():
            _, parts = self.loss(batch.inputs, batch.target, batch.mixture)
        return {"loss": parts["rec"]}
