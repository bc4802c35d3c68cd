"""Divergences between two sample sets from Gaussian-kernel (Parzen) density estimates.

With a Parzen estimate of bandwidth σ for each set, the inner product of two estimates is
``V(a, b) = 1/(Na Nb) Σ_i Σ_j G(a_i − b_j, 2σ²)`` (the convolution of two kernels). Using that
same kernel for the within-set potentials V(q, q), V(p, p) and the cross potential V(q, p)
makes D_CS the exact Cauchy–Schwarz divergence of the two estimates (≥ 0, zero for identical
sets) and D_ED their squared L2 distance. The kernel's normalization constant is dropped:
it cancels in D_CS and only rescales D_ED (absorbed by λ). D_CS is computed in the log
domain, so it stays finite in high dimensions where the kernel values underflow.
"""

from __future__ import annotations

import math

import torch


def _squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d2 = a.square().sum(1, keepdim=True) + b.square().sum(1) - 2 * a @ b.T
    return d2.clamp_min(0)


def log_information_potential(a: torch.Tensor, b: torch.Tensor, sigma: float) -> torch.Tensor:
    """log V(a, b) with the kernel exp(−‖a_i − b_j‖² / (4σ²))."""
    exponent = -_squared_distances(a, b) / (4 * sigma**2)
    return torch.logsumexp(exponent.flatten(), 0) - math.log(a.shape[0] * b.shape[0])


def cauchy_schwarz(q: torch.Tensor, p: torch.Tensor, sigma: float) -> torch.Tensor:
    """D_CS = log(V(q,q) · V(p,p) / V(q,p)²)."""
    lqq = log_information_potential(q, q, sigma)
    lpp = log_information_potential(p, p, sigma)
    lqp = log_information_potential(q, p, sigma)
    return (lqq + lpp - 2 * lqp).clamp_min(0)


def euclidean(q: torch.Tensor, p: torch.Tensor, sigma: float) -> torch.Tensor:
    """D_ED = V(q,q) + V(p,p) − 2 V(q,p)."""
    v = [log_information_potential(a, b, sigma).exp() for a, b in ((q, q), (p, p), (q, p))]
    return (v[0] + v[1] - 2 * v[2]).clamp_min(0)


DIVERGENCES = {"cs": cauchy_schwarz, "euclidean": euclidean}
