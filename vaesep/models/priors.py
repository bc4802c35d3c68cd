"""Generative source priors of Subakan & Smaragdis (ICASSP 2018): MLAE and the VAE as a prior.

Unlike the study's models, a prior never sees a mixture in training: it learns to *generate*
one source's clean magnitude frames. Separation (:func:`vaesep.separation.inference.fit_priors`)
then optimizes every frame's free input of both sources' priors so that the generated spectra
sum to the mixture, as supervised NMF fits its activations. The networks are the paper's:

- ``mlae``: a maximum-likelihood autoencoder, spectrum → 100 (softplus) → spectrum (softplus),
  trained under a Poisson output model; its free input at separation is a spectrum.
- ``gen_vae``: a VAE, spectrum → 100 (tanh) → μ, log σ² of a ``latent_dim`` code → 100 (tanh) →
  spectrum (softplus), Poisson likelihood + KL; its free input is the code.

The adversarial priors (GAN, WGAN, AE-WGAN) are in :mod:`vaesep.models.adversarial`. All work
in the target scale of :class:`~vaesep.features.Featurizer` and are frame-wise (``(B, T, F)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vaesep.config import ModelSection, require
from vaesep.models.base import GradientModel
from vaesep.models.layers import poisson_loss
from vaesep.models.vae import gaussian_kl


@dataclass
class PriorConfig(ModelSection):
    """``model`` section of ``mlae`` and ``gen_vae``: the network and the test-time inference.

    Inference: ``inference_steps`` RMSprop steps (``inference_learning_rate``) on every frame's
    free input minimizing Poisson(mixture | Σ generated) + ``smoothness`` · mean |Δt Ŝk|
    (− ``critic_weight`` · critic terms, adversarial priors only); ``restarts`` initial inputs
    are fitted side by side and the one that fits the mixture best is kept (never chosen by
    the references); ``inference_seed`` seeds the initial inputs.
    """

    type: str = "mlae"
    hidden: int = 100
    latent_dim: int = 20  # the VAE's code (a GAN's noise input)
    inference_steps: int = 2000
    inference_learning_rate: float = 1e-3
    smoothness: float = 0.1
    critic_weight: float = 0.0
    restarts: int = 1
    inference_seed: int = 0

    def validate(self) -> None:
        require(self.hidden > 0, "model.hidden", "must be positive")
        require(self.latent_dim > 0, "model.latent_dim", "must be positive")
        require(self.inference_steps >= 1, "model.inference_steps", "must be at least 1")
        require(
            self.inference_learning_rate > 0, "model.inference_learning_rate", "must be positive"
        )
        require(self.smoothness >= 0, "model.smoothness", "must be zero or positive")
        require(self.critic_weight >= 0, "model.critic_weight", "must be zero or positive")
        require(self.restarts >= 1, "model.restarts", "must be at least 1")


def two_layer(n_in: int, hidden: int, n_out: int, activation: type[nn.Module]) -> nn.Sequential:
    """Linear(n_in → hidden) + activation → Linear(hidden → n_out) + softplus."""
    return nn.Sequential(
        nn.Linear(n_in, hidden), activation(), nn.Linear(hidden, n_out), nn.Softplus()
    )


class Prior(GradientModel):
    """A generative prior of one source: ``generate(code)`` → non-negative frames.

    ``code_dim`` is the size of the free per-frame input that inference optimizes;
    ``initial_code`` starts it from a share of the mixture (deterministic per frame, so that a
    recording separated in chunks starts from the same inputs as in one piece). ``realness``
    scores generated frames for the optional critic term (None: the prior has no critic).
    """

    receptive_field = None  # inference couples neighbouring frames (temporal smoothness)

    def __init__(self, input_dim: int, output_dim: int, config: PriorConfig):
        super().__init__()
        self.config = config
        self.output_dim = output_dim

    @property
    def code_dim(self) -> int:
        return self.output_dim

    def generate(self, code: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def initial_code(self, share: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The free inputs to start from, given the mixture share ``(R, T, F)`` to explain."""
        return share

    def realness(self, frames: torch.Tensor) -> torch.Tensor | None:
        return None

    def forward(self, code: torch.Tensor, mixture: torch.Tensor | None = None) -> torch.Tensor:
        """The frames generated from free inputs ``(B, T, code_dim)``."""
        return self.generate(code)


class MLAE(Prior):
    """Maximum-likelihood autoencoder: reconstructs clean frames under a Poisson model."""

    def __init__(self, input_dim: int, output_dim: int, config: PriorConfig):
        super().__init__(input_dim, output_dim, config)
        self.net = two_layer(output_dim, config.hidden, output_dim, nn.Softplus)

    def generate(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(code)

    def loss(self, x, target, mixture):
        rec = poisson_loss(self.net(target), target)
        return rec, {}


class PriorVAE(Prior):
    """VAE of clean frames (Poisson likelihood + KL); inference optimizes the code."""

    def __init__(self, input_dim: int, output_dim: int, config: PriorConfig):
        super().__init__(input_dim, output_dim, config)
        self.encoder = nn.Sequential(nn.Linear(output_dim, config.hidden), nn.Tanh())
        self.mu = nn.Linear(config.hidden, config.latent_dim)
        self.logvar = nn.Linear(config.hidden, config.latent_dim)
        self.decoder = two_layer(config.latent_dim, config.hidden, output_dim, nn.Tanh)

    @property
    def code_dim(self) -> int:
        return self.config.latent_dim

    def generate(self, code: torch.Tensor) -> torch.Tensor:
        return self.decoder(code)

    def initial_code(self, share: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The encoder's mean code of the mixture share."""
        return self.mu(self.encoder(share))

    def loss(self, x, target, mixture):
        h = self.encoder(target)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        rec = poisson_loss(self.decoder(z), target)
        kl = gaussian_kl(mu, logvar).mean()
        return rec + kl, {"rec": rec.item(), "kl": kl.item()}
