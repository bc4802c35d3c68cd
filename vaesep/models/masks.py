"""The soft masks that turn per-source spectrum estimates into a separation (eq. 90)."""

from __future__ import annotations

import torch

_EPS = 1e-10


def soft_masks(estimates: dict[str, torch.Tensor], power: float = 1.0) -> dict[str, torch.Tensor]:
    """Masks Ŝk^p / Σ_j Ŝj^p (p = 1: the study's ratio, 2: a power ratio); where every
    estimate is zero the masks share the mixture equally. Differentiable (joint training)."""
    stacked = torch.stack(list(estimates.values())).clamp_min(0)
    if power != 1:
        stacked = stacked**power
    total = stacked.sum(0, keepdim=True)
    masks = torch.where(total > _EPS, stacked / total.clamp_min(_EPS), 1.0 / len(estimates))
    return dict(zip(estimates, masks))
