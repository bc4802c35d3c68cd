"""Multichannel separation: a determined demixer per recording, outputs at a reference mic.

A multichannel registry entry (AuxIVA, ILRMA, MVAE, FastMVAE) maps the recording's STFT
``(frames, bins, mics)`` to every source's image at the reference microphone
``(frames, bins, sources)``; :class:`Demixer` does the audio around it: channels in
``(channels, samples)``, each resampled to the model's rate, the STFT of each channel, the
inverse STFT of each output, and back to the input's rate and length. The demixing matrices
are estimated from the whole recording, so a recording is processed whole (not in chunks;
memory grows with its length). Determined: the model takes exactly as many channels as
there are sources. A seeded dither 100 dB below the recording keeps every bin invertible.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from vaesep.config import Config
from vaesep.data.mixing import rms
from vaesep.errors import VaesepError, optional
from vaesep.expdir import Experiment
from vaesep.features import Stft
from vaesep.io.audio import audio_writers, fit_length, load_channels, resample
from vaesep.io.device import resolve_device
from vaesep.registry import spec_of
from vaesep.separation.arrays import read_input
from vaesep.separation.bss import auxiva, ilrma
from vaesep.separation.mvae import fast_mvae, mvae
from vaesep.separation.separator import build_models

DITHER = 1e-5  # relative level of the dither (-100 dB)

# A multichannel registry entry's estimate, by its name: (models, config, X) -> (frames,
# bins, sources), X the recording's STFT (frames, bins, mics).
Demix = Callable[[torch.nn.ModuleDict, Config, np.ndarray], np.ndarray]
DEMIXERS: dict[str, Demix] = {
    "auxiva": auxiva,
    "ilrma": ilrma,
    "mvae": mvae,
    "fast_mvae": fast_mvae,
}


class Demixer:
    """The separator of a multichannel experiment (the counterpart of ``Separator``)."""

    multichannel = True
    needs_references = False

    def __init__(self, config: Config, models: dict[str, torch.nn.Module], name: str = "model"):
        self.config = config
        self.sources = config.data.names
        self.spec = spec_of(config)
        self.demix = DEMIXERS[self.spec.estimate]
        optional("pyroomacoustics.bss", "rooms", "multichannel separation")  # before any input
        self.models = torch.nn.ModuleDict(models)
        self.stft = Stft(config.features)
        self.name = name
        self.models.eval()

    @property
    def sample_rate(self) -> int:
        return self.config.features.sample_rate

    @property
    def channels(self) -> int:
        """The channel count the model takes (determined: one per source)."""
        return len(self.sources)

    @property
    def reference_mic(self) -> int:
        return self.config.model.reference_mic

    @property
    def permute(self) -> bool:
        """Whether scoring matches the outputs to the sources by the best permutation (every
        demixer: a blind one has no order, MVAE's is its classifier's guess)."""
        return self.spec.permute

    @classmethod
    def from_experiment(cls, experiment: Experiment, device: str = "cpu") -> Demixer:
        resolve_device(device, "--device")  # demixing runs on the CPU (NumPy linear algebra)
        return cls(experiment.config, build_models(experiment), name=experiment.path.name)

    def separate(
        self, mixture: np.ndarray | torch.Tensor | str | Path, sample_rate: int | None = None
    ) -> dict[str, np.ndarray]:
        """Separate ``(channels, samples)`` (or ``(samples, channels)``) at ``sample_rate`` Hz
        (required for an array or a tensor) or a file; each source's image at the reference
        mic, at the input's rate and length."""
        signals, rate, label = self._channels(mixture, sample_rate)
        if not np.any(signals):
            return {s: np.zeros(signals.shape[1], np.float32) for s in self.sources}
        at_model = np.stack([resample(ch, rate, self.sample_rate) for ch in signals])
        at_model = at_model + _dither(at_model)
        X = torch.stack([self.stft.stft(torch.from_numpy(ch)) for ch in at_model], dim=-1)
        with torch.no_grad():
            Y = self.demix(self.models, self.config, X.numpy().astype(np.complex128))
        out = {}
        for k, source in enumerate(self.sources):
            image = torch.from_numpy(np.ascontiguousarray(Y[:, :, k])).to(torch.complex64)
            signal = self.stft.istft(image, at_model.shape[1]).numpy()
            out[source] = fit_length(resample(signal, self.sample_rate, rate), signals.shape[1])
        return out

    def separate_file(
        self,
        path: str | Path,
        out_paths: dict[str, Path],
        fmt: str = "WAV",
        subtype: str = "FLOAT",
        progress: Callable[[float], None] | None = None,
    ) -> None:
        """Separate a multichannel file into mono files at its rate and length (float WAV
        unless ``fmt``/``subtype`` say otherwise); ``progress`` is told its seconds at the end."""
        signals, rate = load_channels(path)
        estimates = self.separate(signals, rate)
        outs = {s: Path(out_paths[s]) for s in self.sources}
        with audio_writers(outs, rate, fmt, subtype) as writers:
            for source, signal in estimates.items():
                writers[source].write(signal)
        if progress is not None:
            progress(signals.shape[1] / rate)

    def _channels(
        self, mixture: np.ndarray | torch.Tensor | str | Path, sample_rate: int | None
    ) -> tuple[np.ndarray, int, str]:
        """(float32 ``(channels, samples)``, rate, label), checked against the model; an array
        or tensor needs its ``sample_rate`` (no rate is assumed)."""
        mixture, rate, label = read_input(mixture, sample_rate, load_channels)
        signals = np.asarray(mixture, dtype=np.float32)
        if signals.ndim == 2 and signals.shape[0] > signals.shape[1]:
            signals = signals.T
        channels = 1 if signals.ndim == 1 else signals.shape[0]
        if signals.ndim > 2 or signals.size == 0:
            raise VaesepError(f"{label}: expected (channels, samples) audio")
        if channels != self.channels:
            raise VaesepError(
                f"{label}: {channels} channel(s), but the {self.config.model.type} model "
                f"{self.name} separates {len(self.sources)} sources from exactly "
                f"{self.channels} microphones; record or select {self.channels} channels "
                "(e.g. sox in.wav out.wav remix 1 2), or use a mono model"
            )
        if not np.isfinite(signals).all():
            raise VaesepError(f"{label}: NaN or infinite samples; repair the signal")
        if self.reference_mic >= channels:
            raise VaesepError(
                f"model.reference_mic {self.reference_mic}: the input has only {channels} "
                "channels; pick a channel index below that"
            )
        return signals, rate, label


def _dither(signals: np.ndarray) -> np.ndarray:
    """Seeded white noise 100 dB below the signals' RMS: every bin's covariance is then
    invertible (a band-limited or digitally silent bin would make the demixing singular)."""
    noise = np.random.default_rng(0).standard_normal(signals.shape)
    return (DITHER * rms(signals) * noise).astype(np.float32)
