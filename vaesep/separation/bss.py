"""Blind determined demixing: AuxIVA and ILRMA (pyroomacoustics.bss) and the
iterative-projection (IP) update that MVAE shares with them; their config and (empty) model
are :mod:`vaesep.models.blind`.

Layouts follow pyroomacoustics: a multichannel STFT ``X`` is ``(frames, bins, mics)``, a
demixing matrix per bin ``W`` is ``(bins, sources, mics)`` with ``y_f = W_f x_f``, separated
signals ``Y`` are ``(frames, bins, sources)``. Determined: as many microphones as sources.
Every output is projected back to the reference microphone (Murata et al.'s minimal
distortion principle), so it estimates that source's image there. The separated sources come
in no particular order: the blind methods know nothing of classes, and scoring matches them
to the references by the best permutation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from torch import nn

from vaesep.config import Config
from vaesep.errors import optional

_LOADING = 1e-10  # diagonal loading of the IP update's weighted covariances (relative)


def _pra_bss():
    """``pyroomacoustics.bss``, imported on first use: importing it takes over a second,
    which every ``vaesep separate`` of a mono model would pay otherwise."""
    return optional("pyroomacoustics.bss", "rooms", "multichannel separation")


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """NumPy's global generator seeded (pyroomacoustics draws from it), then restored."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def project_back(Y: np.ndarray, X: np.ndarray, reference_mic: int) -> np.ndarray:
    """Each separated signal rescaled per bin to its image at ``reference_mic``."""
    return Y * np.conj(_pra_bss().projection_back(Y, X[:, :, reference_mic]))[None]


def demix(W: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``Y = W X`` per bin: ``(bins, sources, mics)`` × ``(frames, bins, mics)``."""
    return np.matmul(W, X.transpose(1, 2, 0)).transpose(2, 0, 1)


def ip_update(W: np.ndarray, X: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """One iterative-projection sweep (Ono 2011) over the sources; the updated ``W``.

    ``weights[n]`` is ``1 / r_n(f, t)`` as ``(frames, bins)``, ``r_n`` the source's variance
    model (ILRMA's NMF, MVAE's g · σ²). For each source, ``V = (1/T) Σ_t x x^H / r_n``,
    ``w_n = (W V)^{-1} e_n``, ``w_n /= sqrt(w_n^H V w_n)``.
    """
    W = W.copy()
    frames, _, mics = X.shape
    eye = np.eye(mics)
    Xf = X.transpose(1, 2, 0)  # (bins, mics, frames)
    bins = Xf.shape[0]
    outer = (Xf[:, :, None, :] * Xf.conj()[:, None, :, :]).reshape(bins, mics * mics, frames)
    for n in range(W.shape[1]):
        V = np.matmul(outer, weights[n].T[:, :, None]).reshape(bins, mics, mics) / frames
        V += _LOADING * np.trace(V, axis1=1, axis2=2).real[:, None, None] * eye
        w = np.linalg.solve(W @ V, np.broadcast_to(eye[:, n], (len(V), mics))[..., None])[..., 0]
        norm = np.einsum("fm,fmk,fk->f", w.conj(), V, w).real
        W[:, n, :] = w.conj() / np.sqrt(np.maximum(norm, 1e-30))[:, None]
    return W


def ilrma_filters(X: np.ndarray, iterations: int, components: int, seed: int) -> np.ndarray:
    """ILRMA's demixing matrices ``(bins, sources, mics)`` after ``iterations``."""
    with seeded(seed):
        _, W = _pra_bss().ilrma(
            X, n_iter=iterations, n_components=components, proj_back=False, return_filters=True
        )
    return W


def ilrma(models: nn.ModuleDict, config: Config, X: np.ndarray) -> np.ndarray:
    """ILRMA (Kitamura et al. 2016), projected back: ``(frames, bins, sources)``; its random
    NMF start is seeded by ``training.seed``."""
    m = config.model
    W = ilrma_filters(X, m.iterations, m.components, config.training.seed)
    return project_back(demix(W, X), X, m.reference_mic)


def auxiva(models: nn.ModuleDict, config: Config, X: np.ndarray) -> np.ndarray:
    """AuxIVA (Ono 2011, Laplace source model), projected back: ``(frames, bins, sources)``."""
    m = config.model
    _, W = _pra_bss().auxiva(X, n_iter=m.iterations, proj_back=False, return_filters=True)
    return project_back(demix(W, X), X, m.reference_mic)
