"""Augmentations of dynamic mixing (:mod:`vaesep.training.segments`), drawn anew every epoch: random
level ratios and random spectral colouring of the sources' complex STFT segments."""

from __future__ import annotations

import torch


def random_gains(segments: torch.Tensor, db: float, generator: torch.Generator) -> torch.Tensor:
    """Each segment ``(N, T, F)`` scaled by a gain drawn uniformly within ``±db`` dB."""
    draws = torch.rand(len(segments), 1, 1, generator=generator) * 2 - 1
    return segments * 10 ** (draws * db / 20)


def random_colouring(segments: torch.Tensor, db: float, generator: torch.Generator) -> torch.Tensor:
    """Each segment ``(N, T, F)`` through its own smooth random frequency response: a tilt and
    a bend over the band, each up to ``±db`` dB at the band edges, as recordings of other
    microphones, rooms and voices differ (a filter far shorter than the STFT window, so a
    product per bin)."""
    n, bins = len(segments), segments.shape[-1]
    x = torch.linspace(-1, 1, bins)
    tilt, bend = (torch.rand(n, 1, 1, generator=generator) * 2 - 1 for _ in range(2))
    response_db = db * (tilt * x + bend * (x.square() * 1.5 - 0.5))
    return segments * 10 ** (response_db / 20)
