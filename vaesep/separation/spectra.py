"""Complex spectrum estimates (``features.spectrogram: complex``) rejoined into the sources'
STFTs, where magnitude models' estimates make masks of the mixture instead.

The sources' estimates ``[Re Ŝk, Im Ŝk]`` are made to sum to the mixture by sharing the
residual ``X − Σ Ŝk`` equally (mixture consistency); with the model's ``bandpass`` on, the
first source's STFT is then filtered by the band-pass's ``|H(f)|²`` and the second source is
the rest of the mixture (the VAE + band-pass of Do et al. [116])."""

from __future__ import annotations

import torch

from vaesep.config import Config
from vaesep.models.bandpass import BandpassConfig, band_gains


def band_of(config: Config) -> torch.Tensor | None:
    """The band-pass's per-bin gain where the model filters its first source, else None."""
    model = config.model
    if isinstance(model, BandpassConfig) and getattr(model, "bandpass", False):
        return band_gains(model, config.features)
    return None


def rejoined(
    estimates: dict[str, torch.Tensor], spec: torch.Tensor, band: torch.Tensor | None
) -> torch.Tensor:
    """The sources' STFTs ``(sources, frames, bins)`` from complex estimates ``(frames, 2
    bins)`` and the mixture's STFT ``spec``; they sum to ``spec``."""
    bins = spec.shape[-1]
    parts = torch.stack([torch.complex(e[..., :bins], e[..., bins:]) for e in estimates.values()])
    parts = parts + (spec - parts.sum(0)) / len(parts)
    if band is None:
        return parts
    first = parts[0] * band.to(parts.device)
    return torch.stack([first, spec - first])
