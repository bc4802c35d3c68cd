"""Separation: per-source magnitude estimates → soft masks Ŝk / Σ Ŝ → mixture phase → iSTFT.

``Separator.from_dir(exp_dir)`` needs nothing but what ``train`` wrote. Long recordings are
processed in chunks whose margins make the result equal to the unchunked one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vaesep.audio import load_audio, resample
from vaesep.config import Config, load_config
from vaesep.datadir import SOURCES
from vaesep.errors import VaesepError, log
from vaesep.features import FeatureStats, Featurizer, Stft, spectrogram
from vaesep.models import build_model
from vaesep.training import CONFIG_FILE, STATS_FILE

_EPS = 1e-10


def soft_masks(estimates: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Masks Ŝk / Σ_j Ŝj; where every estimate is zero the masks share the mixture equally."""
    stacked = torch.stack(list(estimates.values())).clamp_min(0)
    total = stacked.sum(0, keepdim=True)
    masks = torch.where(total > _EPS, stacked / total.clamp_min(_EPS), 1.0 / len(estimates))
    return dict(zip(estimates, masks))


class Separator(torch.nn.Module):
    """Per-source models followed by one Wiener-style filtering step (eq. 90 of the study)."""

    def __init__(
        self,
        config: Config,
        stats: FeatureStats,
        models: dict[str, torch.nn.Module],
        name: str = "model",
        chunk_seconds: float = 30.0,
    ):
        super().__init__()
        self.config = config
        self.featurizer = Featurizer(config.features, stats)
        self.stft = Stft(config.features)
        self.models = torch.nn.ModuleDict(models)
        self.name = name
        self.chunk_seconds = chunk_seconds
        self.eval()

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self.models)

    @property
    def sample_rate(self) -> int:
        return self.config.features.sample_rate

    @classmethod
    def from_dir(cls, exp_dir: str | Path, device: str = "cpu", **kwargs) -> Separator:
        """Load an experiment dir written by :func:`vaesep.training.train`."""
        exp_dir = Path(exp_dir)
        if not (exp_dir / CONFIG_FILE).is_file() or not (exp_dir / STATS_FILE).is_file():
            raise VaesepError(
                f"{exp_dir}: not an experiment dir (no {CONFIG_FILE}/{STATS_FILE}); "
                "pass the --exp-dir of a finished 'vaesep train'"
            )
        config = load_config(exp_dir / CONFIG_FILE)
        stats = FeatureStats.load(exp_dir / STATS_FILE)
        models = {}
        for source in SOURCES:
            path = exp_dir / f"{source}.pt"
            if not path.is_file():
                raise VaesepError(
                    f"{path}: missing; the training did not finish, rerun it with --resume"
                )
            try:
                ckpt = torch.load(path, map_location=device, weights_only=True)
                model = build_model(config.model, ckpt["input_dim"], ckpt["output_dim"])
                model.load_state_dict(ckpt["state_dict"])
            except (RuntimeError, KeyError, EOFError, OSError) as exc:
                raise VaesepError(f"{path}: unreadable checkpoint ({exc}); retrain") from None
            models[source] = model.to(device)
        return cls(config, stats, models, name=exp_dir.name, **kwargs)

    @torch.no_grad()
    def estimate_spectrograms(self, mixture_spec: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each source's spectrogram estimate Ŝk (frames, bins) from the mixture's."""
        x = self.featurizer.network_input(mixture_spec)
        return {s: self.featurizer.to_spectrogram(m(x)) for s, m in self.models.items()}

    @torch.no_grad()
    def _separate_block(self, signal: torch.Tensor) -> torch.Tensor:
        """(sources, samples) estimates of one block of the signal at the model's rate."""
        spec = self.stft.stft(signal)
        estimates = self.estimate_spectrograms(spectrogram(spec, self.config.features.spectrogram))
        masks = soft_masks(estimates)
        return torch.stack([self.stft.istft(masks[s] * spec, len(signal)) for s in self.sources])

    @torch.no_grad()
    def separate_tensor(self, signal: torch.Tensor) -> torch.Tensor:
        """(sources, samples) estimates of a mono signal at the model's rate, chunk by chunk."""
        hop, win = self.stft.hop_length, self.stft.win_length
        context = self.config.features.context_frames
        margin = -(-(win + (context + 1) * hop) // hop) * hop
        chunk = max(hop, int(self.chunk_seconds * self.sample_rate) // hop * hop)
        total = signal.shape[-1]
        if total <= chunk + 2 * margin:
            return self._separate_block(signal)
        out = torch.empty(len(self.sources), total, dtype=signal.dtype)
        for start in range(0, total, chunk):
            lo, hi = max(0, start - margin), min(total, start + chunk + margin)
            block = self._separate_block(signal[lo:hi])
            end = min(total, start + chunk)
            out[:, start:end] = block[:, start - lo : end - lo]
        return out

    def separate(
        self, mixture: np.ndarray | torch.Tensor | str | Path, sample_rate: int | None = None
    ) -> dict[str, np.ndarray]:
        """Separate a path, an array or a tensor; outputs at the input's rate and length."""
        if isinstance(mixture, (str, Path)):
            mixture, sample_rate = load_audio(mixture)
        signal = torch.as_tensor(mixture, dtype=torch.float32)
        if signal.ndim == 2:
            log.info("input with %d channels downmixed to mono", min(signal.shape))
            signal = signal.mean(dim=int(np.argmin(signal.shape)))
        if signal.ndim != 1 or signal.numel() == 0:
            raise VaesepError("input must be a non-empty mono or multichannel signal")
        rate = sample_rate or self.sample_rate
        x = signal.numpy()
        if rate != self.sample_rate:
            x = resample(x, rate, self.sample_rate)
        estimates = self.separate_tensor(torch.from_numpy(np.ascontiguousarray(x))).numpy()
        result = {}
        for source, est in zip(self.sources, estimates):
            if rate != self.sample_rate:
                est = resample(est, self.sample_rate, rate)
            result[source] = _fit_length(est, signal.numel())
        return result


def _fit_length(signal: np.ndarray, length: int) -> np.ndarray:
    if len(signal) >= length:
        return signal[:length]
    return np.pad(signal, (0, length - len(signal)))
