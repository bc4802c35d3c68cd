"""Adversarial source priors of Subakan & Smaragdis (ICASSP 2018): GAN, Gaussian WGAN, AE-WGAN.

Generator: Linear(noise or spectrum → 100) + softplus → Linear(100 → F) + softplus; critic:
Linear(F → 90) + tanh → Linear(90 → 1) (a logit for the GAN, a score for a WGAN). The
generator and the critic have their own optimizers (both checkpointed, so ``--resume`` is
exact). Per generator step the critic takes ``critic_steps`` steps, ``critic_warmup_steps``
during the first ``critic_warmup`` generator steps and every ``critic_every``-th one (the
WGAN schedule of the paper; the GAN's default is one). A WGAN's critic is kept Lipschitz by
weight clipping (``clip``, the paper's) or by a gradient penalty (``gradient_penalty`` > 0,
Gulrajani et al., then without clipping). The ``gan`` and ``wgan`` generators read Gaussian
noise of ``latent_dim``; the ``ae_wgan`` generator reads the clean frames themselves (the
autoencoder-shaped generator trained as a WGAN). A generator's loss is no measure of its
quality, so training keeps the last epoch, not the "best" one.

Three keys reproduce the authors' code where ours differs (defaults: ours; see
docs/adversarial_priors.md): ``noise_bank`` > 0 trains a noise generator on that many noise
vectors drawn once (theirs: one fixed vector per training frame) instead of fresh noise every
step; ``critic_input_gain`` multiplies every frame the critic reads (theirs are raw STFT
magnitudes of unit-variance signals, about 7 times our target scale, which decides how
non-linear a weight-clipped critic can be); ``initial_code: gaussian`` starts inference from
N(0, 1) inputs (theirs) instead of a projection of the mixture share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional

from vaesep.config import require
from vaesep.models.base import Batch, check_finite, make_optimizer
from vaesep.models.priors import Prior, PriorConfig, two_layer


@dataclass
class AdversarialConfig(PriorConfig):
    """``model`` section of ``gan``, ``wgan`` and ``ae_wgan`` (see the module docstring)."""

    type: str = "wgan"
    critic_hidden: int = 90
    critic_steps: int = 5
    critic_warmup: int = 25
    critic_warmup_steps: int = 100
    critic_every: int = 500  # 0: never
    clip: float = 0.01  # WGAN weight clipping; 0: off
    gradient_penalty: float = 0.0  # WGAN-GP weight; > 0 replaces clipping
    noise_bank: int = 0  # > 0: train on this many fixed noise vectors (the authors'); 0: fresh
    critic_input_gain: float = 1.0  # frames x this before the critic (the authors: ~7x ours)
    initial_code: str = "projection"  # noise generators' start: projection or gaussian

    def validate(self) -> None:
        super().validate()
        require(self.critic_hidden > 0, "model.critic_hidden", "must be positive")
        for key in ("critic_steps", "critic_warmup_steps"):
            require(getattr(self, key) >= 1, f"model.{key}", "must be at least 1")
        for key in ("critic_warmup", "critic_every"):
            require(getattr(self, key) >= 0, f"model.{key}", "must be zero or positive")
        require(self.clip >= 0, "model.clip", "must be zero (off) or positive")
        require(self.gradient_penalty >= 0, "model.gradient_penalty", "must be zero or positive")
        require(self.noise_bank >= 0, "model.noise_bank", "must be zero (off) or positive")
        require(self.critic_input_gain > 0, "model.critic_input_gain", "must be positive")
        require(
            self.initial_code in ("projection", "gaussian"),
            "model.initial_code",
            "must be projection or gaussian",
        )


class Adversarial(Prior):
    """A generator trained against a critic; the subclasses choose objective and input."""

    selects_best = False
    wasserstein: ClassVar[bool] = True
    reads_frames: ClassVar[bool] = False  # generator input: the clean frames, not noise

    def __init__(self, input_dim: int, output_dim: int, config: AdversarialConfig):
        super().__init__(input_dim, output_dim, config)
        n_in = output_dim if self.reads_frames else config.latent_dim
        self.generator = two_layer(n_in, config.hidden, output_dim, nn.Softplus)
        self.critic = nn.Sequential(
            nn.Linear(output_dim, config.critic_hidden),
            nn.Tanh(),
            nn.Linear(config.critic_hidden, 1),
        )
        if config.noise_bank and not self.reads_frames:
            self.register_buffer("noise", torch.randn(config.noise_bank, config.latent_dim))

    @property
    def code_dim(self) -> int:
        return self.output_dim if self.reads_frames else self.config.latent_dim

    def generate(self, code: torch.Tensor) -> torch.Tensor:
        return self.generator(code)

    def initial_code(self, share: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Noise generators: a fixed random projection of the standardized log share, about
        N(0, 1) per entry and a function of the frame alone (a constant frame, e.g. digital
        silence, starts at the zero code); frame readers: the share. ``initial_code: gaussian``:
        N(0, 1) entries drawn from ``generator`` (the authors' start; not a function of the
        frame)."""
        if self.reads_frames:
            return share
        if self.config.initial_code == "gaussian":
            return torch.randn(*share.shape[:-1], self.code_dim, generator=generator).to(share)
        features = torch.log1p(share)
        spread = features.std(-1, keepdim=True).clamp_min(1e-6)  # 0 / 0 on a constant frame
        features = (features - features.mean(-1, keepdim=True)) / spread
        projection = torch.randn(share.shape[-1], self.code_dim, generator=generator)
        return features @ projection.to(share) / share.shape[-1] ** 0.5

    def realness(self, frames: torch.Tensor) -> torch.Tensor:
        """Per-frame critic score (WGAN) or log D (GAN) of generated frames."""
        score = self._score(frames).squeeze(-1)
        return score if self.wasserstein else functional.logsigmoid(score)

    def _score(self, frames: torch.Tensor) -> torch.Tensor:
        """The critic's output on frames scaled by ``critic_input_gain``."""
        gain = self.config.critic_input_gain
        return self.critic(frames * gain if gain != 1 else frames)

    def optimizers(self, training) -> dict[str, torch.optim.Optimizer]:
        return {
            "generator": make_optimizer(self.generator.parameters(), training),
            "critic": make_optimizer(self.critic.parameters(), training),
        }

    def _fake(self, real: torch.Tensor) -> torch.Tensor:
        """Generated frames, as many as ``real`` (from fresh noise, or from ``real``)."""
        if self.reads_frames:
            return self.generator(real)
        if self.config.noise_bank:
            rows = torch.randint(len(self.noise), real.shape[:-1], device=real.device)
            return self.generator(self.noise[rows])
        return self.generator(torch.randn(*real.shape[:-1], self.code_dim, device=real.device))

    def _critic_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        c = self.config
        real_score, fake_score = self._score(real), self._score(fake)
        if not self.wasserstein:
            return functional.binary_cross_entropy_with_logits(
                real_score, torch.ones_like(real_score)
            ) + functional.binary_cross_entropy_with_logits(
                fake_score, torch.zeros_like(fake_score)
            )
        loss = fake_score.mean() - real_score.mean()
        if c.gradient_penalty > 0:
            loss = loss + c.gradient_penalty * self._penalty(real, fake)
        return loss

    def _penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """(‖∇ critic‖ − 1)² at random points between real and generated frames."""
        mix = torch.rand(*real.shape[:-1], 1, device=real.device)
        points = (mix * real + (1 - mix) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self._score(points).sum(), points, create_graph=True)
        return (grad.norm(dim=-1) - 1).square().mean()

    def _generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        score = self._score(fake)
        if self.wasserstein:
            return -score.mean()
        return functional.binary_cross_entropy_with_logits(score, torch.ones_like(score))

    def loss(self, x, target, mixture):
        """The generator's loss on a batch (validation only: it does not pick an epoch)."""
        return self._generator_loss(self._fake(target)), {}

    def critic_steps_at(self, step: int) -> int:
        """Critic steps before generator step ``step`` (counted from 0)."""
        c = self.config
        warm = step < c.critic_warmup or (c.critic_every and step % c.critic_every == 0)
        return c.critic_warmup_steps if warm else c.critic_steps

    def training_step(
        self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer], step: int
    ) -> dict[str, float]:
        real = batch.target
        critic_opt, generator_opt = optimizers["critic"], optimizers["generator"]
        clip = self.config.clip if self.wasserstein and not self.config.gradient_penalty else 0
        for _ in range(self.critic_steps_at(step)):
            with torch.no_grad():
                fake = self._fake(real)
            critic_loss = self._critic_loss(real, fake)
            check_finite(critic_loss)
            critic_opt.zero_grad(set_to_none=True)
            critic_loss.backward()
            critic_opt.step()
            if clip:
                with torch.no_grad():
                    for p in self.critic.parameters():
                        p.clamp_(-clip, clip)
        self.critic.requires_grad_(False)
        try:
            generator_loss = self._generator_loss(self._fake(real))
            check_finite(generator_loss)
            generator_opt.zero_grad(set_to_none=True)
            generator_loss.backward()
        finally:
            self.critic.requires_grad_(True)
        generator_opt.step()
        return {"loss": generator_loss.item(), "critic": critic_loss.item()}


class GAN(Adversarial):
    """A GAN prior: binary cross-entropy against a discriminator, noise input."""

    wasserstein = False


class WGAN(Adversarial):
    """The Gaussian WGAN prior: Wasserstein critic, Gaussian noise input."""


class AEWGAN(Adversarial):
    """The AE-WGAN prior: the autoencoder-shaped generator (clean frames in) as a WGAN."""

    reads_frames = True
