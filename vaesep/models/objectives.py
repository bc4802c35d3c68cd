"""The time-domain objective (``training.loss: si_sdr``): a spectrum estimate resynthesized
with the mixture's phase and scored against the source's waveform.

Each training segment's estimate ``Ŝ`` (a magnitude, in any scale) takes the mixture's phase,
``Ŝ · X/|X|``, and both it and the source's complex STFT segment ``S`` are resynthesized by the
same inverse STFT, so the frames at a segment's edges are treated alike. The loss is the
negative scale-invariant SDR (Le Roux et al. 2019) of the two waveforms, averaged over the
batch (or kept per segment, for permutation-invariant training): the objective the field's
separators train on, and what the scores measure.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaesep.errors import optional
from vaesep.features import Stft


@dataclass(frozen=True)
class Waveforms:
    """Complex STFT segments ``(B, T, F)`` of the mixture and of one source, and the STFT that
    resynthesizes them."""

    mixture: torch.Tensor
    source: torch.Tensor
    stft: Stft

    def select(self, index: torch.Tensor | slice) -> Waveforms:
        return Waveforms(self.mixture[index], self.source[index], self.stft)

    def to(self, device: torch.device) -> Waveforms:
        return Waveforms(self.mixture.to(device), self.source.to(device), self.stft)

    def loss(self, estimate: torch.Tensor, per_segment: bool = False) -> torch.Tensor:
        """Negative mean SI-SDR (dB) of the magnitude estimate ``(B, T, F)`` with the
        mixture's phase against the source (with ``per_segment``: each segment's, ``(B,)``)."""
        phase = self.mixture / self.mixture.abs().clamp_min(1e-12)
        length = self.stft.hop_length * (estimate.shape[1] - 1)
        synth = self.stft.istft(torch.cat([estimate * phase, self.source]), length)
        estimated, reference = synth.split(len(estimate))
        audio = optional("torchmetrics.functional.audio", "train", "training.loss: si_sdr")
        si_sdr = audio.scale_invariant_signal_distortion_ratio
        negative = -si_sdr(estimated, reference, zero_mean=True)
        return negative if per_segment else negative.mean()
