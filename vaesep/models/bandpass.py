"""The band-pass filter of Do et al. ([116], IEEE Access 2020) as a separator of its own.

A Chebyshev type-I band-pass (``scipy.signal.cheby1``) keeps the speech band: the first
source's estimate is the mixture through the filter, the second's (the background) the rest.
It acts as the zero-phase filter ``|H(f)|²`` (``filtfilt``'s response) on every STFT bin, so
the two masks are ``|H|²`` and ``1 − |H|²`` and sum to one. [116] does not give the order or
the edges (``../shared/SEPARATORS.md``); the defaults are the telephone speech band.
Nothing is learned: the fit (:func:`band_gains`) stores each source's per-bin gain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vaesep.config import FeatureConfig, ModelSection, require
from vaesep.errors import VaesepError, optional
from vaesep.models.base import SourceModel


@dataclass
class BandpassConfig(ModelSection):
    """``model`` section of ``bandpass``: the Chebyshev type-I filter's order, pass-band
    ripple and edges."""

    type: str = "bandpass"
    order: int = 4  # of each low-pass/high-pass half (the band-pass has twice this)
    ripple_db: float = 1.0  # pass-band ripple
    low_hz: float = 300.0
    high_hz: float = 3400.0

    def validate(self) -> None:
        require(1 <= self.order <= 12, "model.order", "must be 1 to 12")
        require(self.ripple_db > 0, "model.ripple_db", "must be positive, e.g. 1")
        require(self.low_hz > 0, "model.low_hz", "must be positive")
        require(self.high_hz > self.low_hz, "model.high_hz", "must be above model.low_hz")


def check_band(config: BandpassConfig, features: FeatureConfig) -> None:
    """The band's upper edge below the Nyquist frequency, or a one-line error."""
    rate = features.sample_rate
    if config.high_hz >= rate / 2:
        raise VaesepError(
            f"model.high_hz: {config.high_hz:g} Hz is not below the Nyquist frequency of "
            f"features.sample_rate {rate} ({rate / 2:g} Hz); lower it"
        )


def band_gains(config: BandpassConfig, features: FeatureConfig) -> torch.Tensor:
    """``|H(f)|²`` of the filter at every STFT bin, ``(bins,)`` in [0, 1]."""
    signal = optional("scipy.signal", "train", f"model.type: {config.type}")
    check_band(config, features)
    rate = features.sample_rate
    sos = signal.cheby1(
        config.order,
        config.ripple_db,
        [config.low_hz, config.high_hz],
        btype="bandpass",
        fs=rate,
        output="sos",
    )
    bins = np.linspace(0, rate / 2, features.num_bins)
    _, response = signal.sosfreqz(sos, worN=bins, fs=rate)
    return torch.from_numpy(np.clip(np.abs(response) ** 2, 0.0, 1.0)).float()


class Bandpass(SourceModel):
    """One source's part of the band-pass: the mixture times the stored per-bin gain."""

    def __init__(self, input_dim: int, output_dim: int, config: BandpassConfig):
        super().__init__()
        self.config = config
        self.register_buffer("gain", torch.ones(output_dim))

    def forward(self, x: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        return mixture * self.gain.to(mixture.dtype)
