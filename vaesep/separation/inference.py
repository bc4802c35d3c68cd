"""Test-time inference for generative priors: fit both sources' free inputs to the mixture.

Every frame t of source k has a free input h_kt (a spectrum or a code, see
:class:`~vaesep.models.priors.Prior`); with the priors' weights frozen, RMSprop minimizes

    Poisson(V | Σ_k G_k(h_k)) + smoothness · Σ_k mean |Δt G_k(h_k)| − critic_weight · Σ_k
    mean realness_k(G_k(h_k))

over all inputs at once (frames and restarts side by side), V the mixture magnitude in the
target scale; the Ŝk = G_k(h_k) of the restart with the best mixture fit (the Poisson term
alone, never the references) feed the soft masks of eq. 90. Each restart starts from a
seeded random share of the mixture per frequency (half, times U(0.5, 1.5) per bin), which the
prior maps to its initial inputs; the start depends on each frame alone, so a recording
separated in chunks starts as it would in one piece. It runs on the priors' device (CUDA
when they are there).
"""

from __future__ import annotations

import torch
from torch import nn

from vaesep.features import Featurizer
from vaesep.models.layers import poisson_nll
from vaesep.models.priors import PriorConfig


def fit_priors(
    models: nn.ModuleDict, featurizer: Featurizer, mixture_spec: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Per-source estimates Ŝk ``(frames, bins)`` of the mixture (see the module docstring)."""
    config: PriorConfig = next(iter(models.values())).config
    device = next(models.parameters()).device
    v = featurizer.target(mixture_spec).to(device).expand(config.restarts, -1, -1)
    generator = torch.Generator().manual_seed(config.inference_seed)
    frozen = [p for p in models.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        with torch.enable_grad():
            codes = {}
            for source, model in models.items():
                scale = torch.rand(config.restarts, 1, v.shape[-1], generator=generator) + 0.5
                share = 0.5 * v * scale.to(device)
                codes[source] = model.initial_code(share, generator).detach().requires_grad_()
            _optimize(models, codes, v, config)
        with torch.no_grad():
            estimates = {s: m.generate(codes[s]) for s, m in models.items()}
            fit = _mixture_fit(estimates, v)
    finally:
        for p in frozen:
            p.requires_grad_(True)
    best = int(fit.argmin())
    return {
        s: featurizer.to_spectrogram(e[best]).to(mixture_spec.device) for s, e in estimates.items()
    }


def _optimize(
    models: nn.ModuleDict, codes: dict[str, torch.Tensor], v: torch.Tensor, config: PriorConfig
) -> None:
    optimizer = torch.optim.RMSprop(codes.values(), lr=config.inference_learning_rate)
    critic = config.critic_weight
    for _ in range(config.inference_steps):
        estimates = {s: m.generate(codes[s]) for s, m in models.items()}
        loss = _mixture_fit(estimates, v).sum()
        for source, estimate in estimates.items():
            if config.smoothness:
                loss = loss + config.smoothness * _roughness(estimate).sum()
            if critic:
                loss = loss - critic * models[source].realness(estimate).mean(-1).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def _mixture_fit(estimates: dict[str, torch.Tensor], v: torch.Tensor) -> torch.Tensor:
    """Poisson fit (negative log-likelihood up to a constant, mean over frames and bins) of
    Σ Ŝk to the mixture, one value per restart ``(R,)``."""
    return poisson_nll(sum(estimates.values()), v).mean((1, 2))


def _roughness(estimate: torch.Tensor) -> torch.Tensor:
    """mean |Ŝ_t − Ŝ_{t−1}| per restart ``(R,)``."""
    if estimate.shape[1] < 2:
        return estimate.new_zeros(len(estimate))
    return (estimate[:, 1:] - estimate[:, :-1]).abs().mean((1, 2))
