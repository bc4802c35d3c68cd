"""STFT/iSTFT with torch.stft, magnitude, power or complex spectrograms, and network-input
normalization.

Spectrogram matrices are laid out ``(frames, bins)``: one row per frame, as the models see them;
a complex one as the real parts then the imaginary parts, ``(frames, 2 bins)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vaesep.config import FeatureConfig
from vaesep.errors import VaesepError
from vaesep.io.atomic import atomic_path

_EPS = 1e-8


class Stft:
    """Analysis/synthesis pair with perfect reconstruction for the configured window and hop."""

    def __init__(self, config: FeatureConfig):
        self.n_fft = config.n_fft
        self.hop_length = config.hop_length
        self.win_length = config.win_length
        make = torch.hann_window if config.window == "hann" else torch.hamming_window
        self.window = make(self.win_length, periodic=True, dtype=torch.float32)

    def stft(self, signal: torch.Tensor) -> torch.Tensor:
        """Complex spectrogram ``(frames, bins)`` of a 1-D signal.

        With a hop above half the window the last frames would not reach the signal's end, so
        the end is zero-padded by the difference; :meth:`istft` crops it again.
        """
        tail = self.hop_length - self.n_fft // 2
        if tail > 0:
            signal = torch.nn.functional.pad(signal, (0, tail))
        spec = torch.stft(
            signal,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window.to(signal.device),
            center=True,
            pad_mode="reflect" if signal.shape[-1] > self.n_fft // 2 else "constant",
            return_complex=True,
        )
        return spec.transpose(-1, -2)

    def istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Signal of ``length`` samples from a complex spectrogram ``(frames, bins)``, or
        signals ``(n, length)`` from spectrograms ``(n, frames, bins)``."""
        return torch.istft(
            spec.transpose(-1, -2),
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window.to(spec.device),
            center=True,
            length=length,
        )


def spectrogram(spec: torch.Tensor, kind: str) -> torch.Tensor:
    """Magnitude ``|X|``, power ``|X|²`` or (``complex``) ``[Re X, Im X]`` of a complex
    spectrogram."""
    if kind == "complex":
        return torch.cat([spec.real, spec.imag], dim=-1)
    mag = spec.abs()
    return mag.square() if kind == "power" else mag


def spectrum_dim(config: FeatureConfig) -> int:
    """Values per frame of a spectrogram of the ``features.spectrogram`` kind."""
    return config.num_bins * (2 if config.spectrogram == "complex" else 1)


def stack_context(frames: torch.Tensor, context: int) -> torch.Tensor:
    """Concatenate each frame with ``context`` neighbours on each side (edges replicated)."""
    if context == 0:
        return frames
    padded = torch.cat([frames[:1].expand(context, -1), frames, frames[-1:].expand(context, -1)])
    n = frames.shape[0]
    return torch.cat([padded[i : i + n] for i in range(2 * context + 1)], dim=1)


@dataclass
class FeatureStats:
    """Statistics of the training mixtures: per-bin input mean/std and the target scale."""

    mean: np.ndarray
    std: np.ndarray
    target_scale: float

    @classmethod
    def identity(cls, num_bins: int) -> FeatureStats:
        """Statistics that change nothing, for models without a network (NMF, oracles)."""
        return cls(np.zeros(num_bins, np.float32), np.ones(num_bins, np.float32), 1.0)

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(
                handle, mean=self.mean, std=self.std, target_scale=np.float64(self.target_scale)
            )

    @classmethod
    def load(cls, path: str | Path) -> FeatureStats:
        try:
            with np.load(path) as data:
                return cls(data["mean"], data["std"], float(data["target_scale"]))
        except (OSError, KeyError, ValueError) as exc:
            raise VaesepError(f"{path}: unreadable feature statistics ({exc}); retrain") from None


@dataclass
class SpectrumSums:
    """Sums over training mixtures' spectrogram frames (float64), added group by group: frame
    count, sum of all absolute values, and per bin the compressed values' sum, sum of squares,
    peak."""

    count: int
    total: float
    sum: torch.Tensor
    square_sum: torch.Tensor
    peak: float

    def __add__(self, other: SpectrumSums) -> SpectrumSums:
        return SpectrumSums(
            self.count + other.count,
            self.total + other.total,
            self.sum + other.sum,
            self.square_sum + other.square_sum,
            max(self.peak, other.peak),
        )


class Featurizer:
    """Turns mixture spectrograms into network inputs and network outputs into spectrograms."""

    def __init__(self, config: FeatureConfig, stats: FeatureStats | None = None):
        self.config = config
        self.stats = stats

    @property
    def input_dim(self) -> int:
        return spectrum_dim(self.config) * (2 * self.config.context_frames + 1)

    def _compress(self, spec: torch.Tensor) -> torch.Tensor:
        return torch.log1p(spec) if self.config.compression == "log" else spec

    def fit(self, mixture_specs: list[torch.Tensor]) -> FeatureStats:
        """Compute the statistics from the training mixtures' spectrograms (frames, bins)."""
        frames = torch.cat(mixture_specs).double()
        compressed = self._compress(frames)
        mode = self.config.normalization
        bins = frames.shape[1]
        if mode == "mean_std":
            mean = compressed.mean(0)
            std = compressed.std(0).clamp_min(1e-5)
        elif mode == "max":
            mean = torch.zeros(bins, dtype=torch.float64)
            std = compressed.max().clamp_min(_EPS).expand(bins)
        else:
            mean, std = (
                torch.zeros(bins, dtype=torch.float64),
                torch.ones(bins, dtype=torch.float64),
            )
        # Targets are divided by one scalar so that outputs are O(1) and keep their ratios.
        target_scale = float(frames.abs().mean().clamp_min(_EPS))
        self.stats = FeatureStats(mean.float().numpy(), std.float().numpy(), target_scale)
        return self.stats

    def sums(self, mixture_spec: torch.Tensor) -> SpectrumSums:
        """What :meth:`fit_sums` needs of some training mixtures' spectrogram (frames, bins)."""
        frames = mixture_spec.double()
        compressed = self._compress(frames)
        return SpectrumSums(
            len(frames),
            float(frames.abs().sum()),
            compressed.sum(0),
            compressed.square().sum(0),
            float(compressed.max()) if len(frames) else 0.0,
        )

    def fit_sums(self, sums: SpectrumSums) -> FeatureStats:
        """The statistics of :meth:`fit` from sums added up over the training mixtures, for data
        read a group at a time (equal to :meth:`fit`'s up to float64 rounding)."""
        n, bins = sums.count, spectrum_dim(self.config)
        if n < 2:
            raise VaesepError("the training data hold fewer than 2 frames; add utterances")
        mean = torch.zeros(bins, dtype=torch.float64)
        std = torch.ones(bins, dtype=torch.float64)
        if self.config.normalization == "mean_std":
            mean = sums.sum / n
            variance = (sums.square_sum - n * mean.square()).clamp_min(0) / (n - 1)
            std = variance.sqrt().clamp_min(1e-5)
        elif self.config.normalization == "max":
            std = torch.full((bins,), max(sums.peak, _EPS), dtype=torch.float64)
        target_scale = max(sums.total / (n * bins), _EPS)
        self.stats = FeatureStats(mean.float().numpy(), std.float().numpy(), target_scale)
        return self.stats

    def network_input(self, mixture_spec: torch.Tensor) -> torch.Tensor:
        """Normalized (and context-stacked) network input for mixture frames (frames, bins)."""
        stats = self._require_stats()
        mean = torch.as_tensor(stats.mean, device=mixture_spec.device)
        std = torch.as_tensor(stats.std, device=mixture_spec.device)
        normalized = (self._compress(mixture_spec) - mean) / std
        return stack_context(normalized, self.config.context_frames)

    def target(self, source_spec: torch.Tensor) -> torch.Tensor:
        """Training target of a source spectrogram."""
        return source_spec / self._require_stats().target_scale

    def to_spectrogram(self, output: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`target` on a model's output."""
        return output * self._require_stats().target_scale

    def _require_stats(self) -> FeatureStats:
        if self.stats is None:
            raise RuntimeError("Featurizer has no statistics; call fit() or pass stats")
        return self.stats
