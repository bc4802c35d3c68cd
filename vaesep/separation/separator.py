"""Separation: per-source magnitude estimates → soft masks Ŝk / Σ Ŝ → mixture phase → iSTFT.

``Separator.from_dir(exp_dir)`` needs nothing but what ``train`` wrote; the estimates come from
the registry entry's estimator (the networks one source at a time, or NMF jointly). Chunking
and streaming (long recordings, files block by block) are :mod:`vaesep.separation.chunking`'s.
"""

from __future__ import annotations

from itertools import chain
from pathlib import Path

import torch

from vaesep.config import Config
from vaesep.errors import VaesepError
from vaesep.expdir import Experiment, is_bag, load, mismatch
from vaesep.features import FeatureStats, Featurizer, Stft, spectrogram
from vaesep.io.device import resolve_device
from vaesep.models.masks import soft_masks
from vaesep.registry import SECTIONS, build_model, spec_of
from vaesep.separation.bag import Bag, bag_from_dir
from vaesep.separation.chunking import ChunkedSeparator
from vaesep.separation.estimators import ESTIMATORS
from vaesep.separation.spectra import band_of, rejoined
from vaesep.zoo.pretrained import DEFAULT, verified_dir

# The networks' arithmetic at separation, and what runs them (the STFT and masks stay fp32):
# bf16 is torch autocast, int8 onnxruntime's dynamic quantization (vaesep.separation.onnx_runtime).
PRECISIONS = ("fp32", "bf16", "int8")
BACKENDS = ("torch", "onnxruntime")
_ONLY_ON = {"bf16": "torch", "int8": "onnxruntime"}


def resolve_backend(precision: str, backend: str | None) -> str:
    """The backend that runs ``precision`` (None: torch, or onnxruntime for int8), checked."""
    if precision not in PRECISIONS:
        raise VaesepError(f"--precision {precision!r}: use {', '.join(PRECISIONS)}")
    backend = backend or _ONLY_ON.get(precision, "torch")
    if backend not in BACKENDS:
        raise VaesepError(f"--backend {backend!r}: use {' or '.join(BACKENDS)}")
    only = _ONLY_ON.get(precision, backend)
    if backend != only:
        raise VaesepError(f"--precision {precision} runs on {only} only; drop --backend {backend}")
    return backend


class Separator(ChunkedSeparator):
    """Per-source models followed by one Wiener-style filtering step (eq. 90 of the study).

    ``precision="bf16"`` runs the networks' matrix products in bfloat16 (torch autocast);
    ``backend="onnxruntime"`` runs them as ONNX graphs on onnxruntime, in float32 or (``int8``)
    dynamically quantized. The STFT, the masks and the iSTFT stay in float32 on torch.
    """

    def __init__(
        self,
        config: Config,
        stats: FeatureStats,
        models: dict[str, torch.nn.Module],
        name: str = "model",
        chunk_seconds: float = 30.0,
        crossfade_seconds: float = 2.0,
        precision: str = "fp32",
        backend: str | None = None,
    ):
        super().__init__()
        self.backend = resolve_backend(precision, backend)
        self.precision = precision
        self.config = config
        self.spec = spec_of(config)
        if self.spec.needs_references:
            raise VaesepError(
                f"{name}: an oracle mask needs the reference sources; "
                "use 'vaesep evaluate', not 'separate'"
            )
        self.estimator = ESTIMATORS[self.spec.estimate]
        self.featurizer = Featurizer(config.features, stats)
        self.stft = Stft(config.features)
        self.band = band_of(config)
        if self.backend == "onnxruntime":
            from vaesep.separation.onnx_runtime import on_onnxruntime

            models = on_onnxruntime(config, self.spec, models, self.featurizer, precision, name)
        self.models = torch.nn.ModuleDict(models)
        self.name = name
        self.chunk_seconds = chunk_seconds
        self.crossfade_seconds = crossfade_seconds
        self.eval()

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self.models)

    @property
    def sample_rate(self) -> int:
        return self.config.features.sample_rate

    @property
    def permute(self) -> bool:
        """Whether scoring matches the outputs to the sources by the best permutation: a
        permutation-invariant model's outputs are named by the training assignment only."""
        return self.spec.permute or self.config.training.permutation_invariant

    @property
    def device(self) -> torch.device:
        """Where the networks run (the STFT, the masks and the iSTFT run on the CPU)."""
        weights = chain(self.models.parameters(), self.models.buffers())
        return next((w.device for w in weights), torch.device("cpu"))

    @property
    def receptive_field(self) -> int | None:
        """Frames on each side an estimate depends on (None: unbounded), context included."""
        frames = next(iter(self.models.values())).receptive_field  # set per model
        return None if frames is None else frames + self.config.features.context_frames

    @classmethod
    def from_dir(cls, exp_dir: str | Path, device: str = "auto", **kwargs) -> Separator | Bag:
        """Load an experiment dir written by :func:`vaesep.training.experiment.train` (a bag
        dir: a :class:`~vaesep.separation.bag.Bag` of its members, each loaded so); ``device``
        as in :meth:`from_experiment`."""
        if is_bag(exp_dir):
            return bag_from_dir(exp_dir, lambda member: cls.from_dir(member, device, **kwargs))
        return cls.from_experiment(load(exp_dir, SECTIONS), device, **kwargs)

    @classmethod
    def pretrained(cls, name: str = DEFAULT, device: str = "auto", **kwargs) -> Separator | Bag:
        """A bundled model by name (``vaesep models`` lists them), its checksums verified;
        ``device`` as in :meth:`from_experiment`."""
        return cls.from_dir(verified_dir(name), device, **kwargs)

    @classmethod
    def from_experiment(cls, experiment: Experiment, device: str = "auto", **kwargs) -> Separator:
        """The separator of an experiment dir already read by :func:`vaesep.expdir.load`.

        ``device``: where the networks run, as ``vaesep separate --device``: ``auto`` (CUDA when
        present, else the CPU; the CPU for ``backend="onnxruntime"``), ``cpu``, ``cuda``,
        ``cuda:N`` or ``mps``. ``kwargs``: the chunking options, ``precision``, ``backend``.
        """
        backend = resolve_backend(kwargs.get("precision", "fp32"), kwargs.get("backend"))
        if device == "auto" and backend == "onnxruntime":
            device = "cpu"
        device = resolve_device(device, "--device")
        models = build_models(experiment)
        return cls(
            experiment.config,
            experiment.stats,
            {s: m.to(device) for s, m in models.items()},
            name=experiment.path.name,
            **kwargs,
        )

    @torch.no_grad()
    def estimate_spectrograms(self, mixture_spec: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each source's spectrogram estimate Ŝk (frames, bins, float32) from the mixture's,
        computed on :attr:`device` and returned on the mixture's."""
        device, bf16 = self.device, self.precision == "bf16"
        with torch.autocast(device.type if bf16 else "cpu", torch.bfloat16, bf16):
            estimates = self.estimator(self.models, self.featurizer, mixture_spec.to(device))
        return {s: e.float().to(mixture_spec.device) for s, e in estimates.items()}

    @torch.no_grad()
    def _separate_block(self, signal: torch.Tensor) -> torch.Tensor:
        """(sources, samples) estimates of one block of the signal at the model's rate: the
        mean over ``features.shifts`` STFT frame grids, the signal delayed by k·hop/shifts
        samples for the k-th (the delay cut off again)."""
        gain = level_gain(signal, self.config.features.input_level_db)
        shifts, hop = self.config.features.shifts, self.stft.hop_length
        delays = [k * hop // shifts for k in range(shifts)]
        parts = [self._masked(torch.nn.functional.pad(signal, (d, 0)), gain)[:, d:] for d in delays]
        return parts[0] if shifts == 1 else torch.stack(parts).mean(0)

    def _masked(self, signal: torch.Tensor, gain: float) -> torch.Tensor:
        """(sources, samples) estimates of ``signal`` on one STFT frame grid; the networks see
        it times ``gain``."""
        spec = self.stft.stft(signal)
        kind = self.config.features.spectrogram
        levelled = spec * gain  # what the networks see; the masks apply to spec itself
        estimates = self.estimate_spectrograms(spectrogram(levelled, kind))
        if kind == "complex":
            parts = rejoined(estimates, levelled, self.band) / gain
        else:
            masks = soft_masks(estimates, self.config.model.mask_power)
            parts = torch.stack([masks[s] * spec for s in self.sources])
        return self.stft.istft(parts, len(signal))  # one batched call: the same samples


def level_gain(signal: torch.Tensor, level_db: float) -> float:
    """The gain that brings ``signal``'s RMS to ``level_db`` dBFS (1: level 0, or silence)."""
    power = float(torch.mean(signal.double() ** 2)) if len(signal) else 0.0
    if level_db == 0 or power == 0:
        return 1.0
    return 10 ** (level_db / 20) / power**0.5


def build_models(experiment: Experiment) -> dict[str, torch.nn.Module]:
    """Each source's module of a loaded experiment, with its weights."""
    models = {}
    for source in experiment.config.data.names:
        ckpt = experiment.checkpoints[source]
        model = build_model(experiment.config.model, ckpt.input_dim, ckpt.output_dim)
        try:
            model.load_state_dict(ckpt.state_dict)
        except (RuntimeError, KeyError, ValueError, TypeError):
            raise mismatch(experiment.path / f"{source}.pt") from None
        models[source] = model
    return models
