"""Separation with the multichannel VAE (Kameoka et al. 2019, [119]/[120]) and FastMVAE
(Li et al. 2019, [123]) through a trained conditional VAE (:mod:`vaesep.models.cvae`).

Each source's STFT is modelled as ``y_n(f, t) ~ N_C(0, g_n σ²_n(f, t))`` with
``log σ²_n = decoder(z_n, c_n)``, a frozen CVAE's decoder, and ``y = W_f x``. Starting from
ILRMA's demixing matrices (``model.ilrma_iterations``, 2 bases per source, seeded by
``training.seed``), each of
``model.iterations`` rounds does

1. (MVAE) ``model.latent_steps`` Adam steps on every source's latent ``z_n`` and label
   logits (``c_n`` = their softmax, uniform at first; ``z_n`` starts at the encoder's mean),
   minimizing the Itakura–Saito cost with the gain profiled out,
   ``mean log σ² + log mean(|y|² / σ²)``; (FastMVAE) one forward pass instead: the auxiliary
   classifier gives ``c_n`` and the encoder ``z_n``, no gradients;
2. the closed-form gain ``g_n = mean(|y_n|² / σ²_n)``;
3. one iterative-projection update of every ``w_{n,f}`` with weights ``1 / (g_n σ²_n)``, then
   each output rescaled to unit mean power.

Finally the outputs are projected back to ``model.reference_mic`` and put in class order:
the permutation of outputs that maximizes the summed probability the auxiliary classifier
gives their classes (female, male).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import permutations

import numpy as np
import torch
from torch import nn

from vaesep.config import Config
from vaesep.separation.bss import demix, ilrma_filters, ip_update, project_back

_FLOOR = 1e-10  # relative floor of the variance model (silent bins)


def mvae(models: nn.ModuleDict, config: Config, X: np.ndarray) -> np.ndarray:
    """MVAE: latents and labels fitted by Adam each round; ``(frames, bins, sources)``."""
    return _separate(models, config, X, fast=False)


def fast_mvae(models: nn.ModuleDict, config: Config, X: np.ndarray) -> np.ndarray:
    """FastMVAE: latents by the encoder, labels by the classifier; ``(frames, bins, sources)``."""
    return _separate(models, config, X, fast=True)


def _power(Y: np.ndarray) -> torch.Tensor:
    """``|Y|²`` as the model's ``(sources, frames, bins)`` float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray((np.abs(Y) ** 2).transpose(2, 0, 1))).float()


def _separate(models: nn.ModuleDict, config: Config, X: np.ndarray, fast: bool) -> np.ndarray:
    model = next(iter(models.values()))  # every source's file holds the one shared CVAE
    model.eval()
    with _frozen(model):
        return _demix(model, config, X, fast)


@contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
    """No weight gradients (the latents' backward then skips them), restored after."""
    flags = [p.requires_grad for p in model.parameters()]
    model.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)


def _demix(model: nn.Module, config: Config, X: np.ndarray, fast: bool) -> np.ndarray:
    seed, config = config.training.seed, config.model
    W = ilrma_filters(X, config.ilrma_iterations, components=2, seed=seed)
    P = _power(demix(W, X))
    n = P.shape[0]
    logits = torch.zeros(n, model.num_classes)
    with torch.no_grad():
        z = model.encode(P, logits.softmax(-1))[0]
    with torch.enable_grad():
        z.requires_grad_(True)
        logits.requires_grad_(True)
        optimizer = torch.optim.Adam([z, logits], lr=config.latent_lr)
        for _ in range(config.iterations):
            if fast:
                with torch.no_grad():
                    labels = model.classify(P).softmax(-1)
                    log_var = model.decode(model.encode(P, labels)[0], labels)
            else:
                log_var = _fit_latents(model, P, z, logits, optimizer, config.latent_steps)
            variance = log_var.exp().double()
            variance = variance.clamp_min(_FLOOR * variance.mean())
            gain = (P.double() / variance).mean(dim=(1, 2), keepdim=True)
            W = ip_update(W, X, (1.0 / (gain * variance)).numpy())
            Y = demix(W, X)
            scale = 1.0 / np.sqrt(np.maximum((np.abs(Y) ** 2).mean(axis=(0, 1)), 1e-30))
            W = W * scale[None, :, None]
            P = _power(Y * scale)
    Y = project_back(demix(W, X), X, config.reference_mic)
    with torch.no_grad():
        classes = model.classify(_power(Y)).softmax(-1).numpy()
    return Y[:, :, _class_order(classes)]


def _fit_latents(
    model: nn.Module,
    P: torch.Tensor,
    z: torch.Tensor,
    logits: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    steps: int,
) -> torch.Tensor:
    """Adam steps on ``(z, logits)``; the decoder's log-variance at the last point."""
    for _ in range(steps):
        optimizer.zero_grad()
        log_var = model.decode(z, logits.softmax(-1))
        cost = log_var.mean(dim=(1, 2)) + (P / log_var.exp()).mean(dim=(1, 2)).log()
        cost.sum().backward()
        optimizer.step()
    with torch.no_grad():
        return model.decode(z, logits.softmax(-1))


def _class_order(labels: np.ndarray) -> list[int]:
    """The output for each class: the permutation maximizing the summed class probabilities."""
    n = labels.shape[0]
    best = max(permutations(range(n)), key=lambda p: sum(labels[p[k], k] for k in range(n)))
    return list(best)
