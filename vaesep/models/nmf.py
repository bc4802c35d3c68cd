"""Supervised NMF baseline: multiplicative updates (Lee & Seung), one dictionary per source.

Each source's dictionary ``W_k`` (bins × K, unit-norm columns) is learned from that source's
training spectrograms. At separation the dictionaries are fixed, the mixture is decomposed on
``[W_f, W_m]`` and ``Ŝ_k = W_k H_k`` are the estimates that feed the soft masks. Spectrograms
are ``(frames, bins)`` as everywhere in vaesep, so ``V ≈ H Wᵀ`` with activations H (frames × K).
Cost: the Euclidean ½‖V − H Wᵀ‖² or the generalized Kullback–Leibler divergence, plus
``sparsity · Σ H``. With W fixed every frame is solved on its own, all frames at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

from vaesep.config import ModelSection, require
from vaesep.models.base import SourceModel

_EPS = 1e-12


@dataclass
class NMFConfig(ModelSection):
    """``model`` section of ``nmf``: K columns per source, beta-divergence, L1 weight on the
    activations, multiplicative-update iterations for the dictionaries and at separation."""

    type: str = "nmf"
    nmf_components: int = 100
    nmf_divergence: Literal["euclidean", "kl"] = "kl"
    nmf_sparsity: float = 0.0
    nmf_iterations: int = 20
    nmf_test_iterations: int = 100

    def validate(self) -> None:
        require(self.nmf_components > 0, "model.nmf_components", "must be positive")
        require(self.nmf_sparsity >= 0, "model.nmf_sparsity", "must be zero or positive")
        require(self.nmf_iterations >= 1, "model.nmf_iterations", "must be at least 1")
        require(self.nmf_test_iterations >= 1, "model.nmf_test_iterations", "must be at least 1")


# Floor of H and W: multiplicative updates drive unused entries towards zero, and float32
# subnormals (< 1e-38) would slow every matrix product down many times over.
_FLOOR = 1e-12


def beta_divergence(v: torch.Tensor, approx: torch.Tensor, kind: str) -> float:
    """Mean over the elements of ½(V − Λ)² (``euclidean``) or V log(V/Λ) − V + Λ (``kl``)."""
    if kind == "euclidean":
        return float(0.5 * (v - approx).square().mean())
    approx = approx.clamp_min(_EPS)
    return float((torch.xlogy(v, v / approx) - v + approx).mean())


def _kl_ratio(v: torch.Tensor, w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """V / (H Wᵀ), computed in the memory of the product."""
    approx = (h @ w.T).clamp_(min=_EPS)
    return torch.div(v, approx, out=approx)


def activation_update(
    v: torch.Tensor, w: torch.Tensor, kind: str, sparsity: float
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The multiplicative update of H (in place) for V ≈ H Wᵀ with this W fixed."""
    if kind == "euclidean":
        numerator, gram = v @ w, w.T @ w

        def update(h: torch.Tensor) -> torch.Tensor:
            denominator = (h @ gram).add_(sparsity).clamp_(min=_EPS)
            return h.mul_(numerator).div_(denominator).clamp_(min=_FLOOR)

        return update
    column_sums = (w.sum(0) + sparsity).clamp_min(_EPS)
    return lambda h: h.mul_(_kl_ratio(v, w, h) @ w).div_(column_sums).clamp_(min=_FLOOR)


def dictionary_update(
    v: torch.Tensor, w: torch.Tensor, h: torch.Tensor, kind: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """The multiplicative update of W, then unit-norm columns (H rescaled: H Wᵀ is unchanged)."""
    if kind == "euclidean":
        numerator, denominator = v.T @ h, w @ (h.T @ h)
    else:
        numerator, denominator = _kl_ratio(v, w, h).T @ h, h.sum(0)
    w = w * numerator / denominator.clamp_min(_EPS)
    norms = w.norm(dim=0).clamp_min(_EPS)
    return (w / norms).clamp_(min=_FLOOR), h.mul_(norms)


def learn_dictionary(
    v: torch.Tensor, config: NMFConfig, seed: int, log_every: int = 10
) -> tuple[torch.Tensor, list[tuple[int, float]]]:
    """Dictionary W (bins × K) of one source's frames V (frames × bins).

    Seeded random W and H, H scaled so that H Wᵀ starts at the level of V. Also returns the
    loss (:func:`beta_divergence`) every ``log_every`` iterations and after the last one.
    """
    generator = torch.Generator().manual_seed(seed)
    shape = (v.shape[1], config.nmf_components)
    w = torch.rand(shape, generator=generator).to(v) + 0.01
    w = w / w.norm(dim=0)
    h = torch.rand((v.shape[0], shape[1]), generator=generator).to(v) + 0.01
    h = h * v.mean() / (h @ w.T).mean().clamp_min(_EPS)
    kind = config.nmf_divergence
    losses = []
    for iteration in range(1, config.nmf_iterations + 1):
        h = activation_update(v, w, kind, config.nmf_sparsity)(h)
        w, h = dictionary_update(v, w, h, kind)
        if iteration % log_every == 0 or iteration == config.nmf_iterations:
            losses.append((iteration, beta_divergence(v, h @ w.T, kind)))
    return w, losses


def separate_spectrogram(
    mixture: torch.Tensor, dictionaries: dict[str, torch.Tensor], config: NMFConfig
) -> dict[str, torch.Tensor]:
    """Ŝ_k = H_k W_kᵀ of the mixture V (frames × bins) decomposed on the fixed dictionaries.

    H starts uniform per frame, scaled to the frame's level: no randomness, so a recording
    processed in chunks gives the same activations as in one piece.
    """
    w = torch.cat([d.to(mixture) for d in dictionaries.values()], dim=1)
    h = ((mixture.sum(1, keepdim=True) + _EPS) / w.sum()).repeat(1, w.shape[1])
    update = activation_update(mixture, w, config.nmf_divergence, config.nmf_sparsity)
    for _ in range(config.nmf_test_iterations):
        h = update(h)
    parts = torch.split(h, [d.shape[1] for d in dictionaries.values()], dim=1)
    return {s: part @ d.to(mixture).T for (s, d), part in zip(dictionaries.items(), parts)}


class NMF(SourceModel):
    """One source's NMF dictionary (bins × K); the mixture is decomposed on all sources'
    dictionaries at once (:func:`separate_spectrogram`), frame by frame."""

    def __init__(self, input_dim: int, output_dim: int, config: NMFConfig):
        super().__init__()
        self.config = config
        self.register_buffer("dictionary", torch.zeros(output_dim, config.nmf_components))
