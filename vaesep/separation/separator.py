"""Separation: per-source magnitude estimates → soft masks Ŝk / Σ Ŝ → mixture phase → iSTFT.

``Separator.from_dir(exp_dir)`` needs nothing but what ``train`` wrote; the estimates come from
the registry entry's estimator (the networks one source at a time, or NMF jointly). Long
recordings are processed in chunks, as the models' receptive field allows: where it is finite
(the frame-wise models, NMF) each chunk is separated with enough context on both sides that the
result equals the unchunked one; where it is unbounded (recurrent models) chunks overlap by
``crossfade_seconds`` and are cross-faded linearly, which is close to, not equal to, the
unchunked result. ``Separator.separate_file`` streams a file through the chunks block by block
(resampling included), so that memory stays bounded however long the recording.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path

import numpy as np
import torch

from vaesep.config import Config
from vaesep.errors import VaesepError, log
from vaesep.expdir import Experiment, is_bag, load, mismatch
from vaesep.features import FeatureStats, Featurizer, Stft, spectrogram
from vaesep.io.audio import (
    StreamResampler,
    audio_info,
    audio_writers,
    fit_length,
    read_blocks,
)
from vaesep.io.device import resolve_device
from vaesep.models.masks import soft_masks
from vaesep.registry import SECTIONS, build_model, spec_of
from vaesep.separation.arrays import array_rate, batch_items, mono_input
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


class Separator(torch.nn.Module):
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
    def from_dir(cls, exp_dir: str | Path, device: str = "auto", **kwargs) -> Separator:
        """Load an experiment dir written by :func:`vaesep.training.experiment.train` (a
        :class:`vaesep.Bag` for a bag dir); ``device`` as in :meth:`from_experiment`."""
        if is_bag(exp_dir):
            from vaesep.separation.bag import Bag

            return Bag.from_dir(exp_dir, device, **kwargs)
        return cls.from_experiment(load(exp_dir, SECTIONS), device, **kwargs)

    @classmethod
    def pretrained(cls, name: str = DEFAULT, device: str = "auto", **kwargs) -> Separator:
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

    def _chunking(self) -> tuple[int, int]:
        """(chunk, margin) in samples at the model's rate; both multiples of the hop.

        Finite receptive field: a chunk is separated with ``margin`` samples of context on each
        side, enough for every STFT frame (and the frames it depends on) that touches the
        chunk, so the chunk's estimates equal those of the whole signal. Unbounded: ``margin``
        is the cross-fade between consecutive chunks.
        """
        hop, win = self.stft.hop_length, self.stft.win_length
        field = self.receptive_field
        if field is None:
            margin = max(hop, int(self.crossfade_seconds * self.sample_rate) // hop * hop)
        else:
            margin = -(-(win + (field + 1) * hop) // hop) * hop
        chunk = max(hop, int(self.chunk_seconds * self.sample_rate) // hop * hop)
        return chunk, margin

    @torch.no_grad()
    def separate_blocks(
        self, blocks: Iterable[np.ndarray | torch.Tensor]
    ) -> Iterator[torch.Tensor]:
        """(sources, n) estimates of a mono signal at the model's rate arriving block by block.

        The concatenated pieces do not depend on the block sizes. A signal longer than one
        chunk and its margins is separated chunk by chunk (see :meth:`_chunking`), a shorter
        one in one piece; at most a chunk, two margins and one block are held in memory.
        """
        if self.receptive_field is None:
            yield from self._crossfaded(blocks)
            return
        chunk, margin = self._chunking()
        buffer = torch.zeros(0)
        offset = start = 0  # the signal index of buffer[0]; the first sample not yet output
        chunked = False
        for block in blocks:
            buffer = torch.cat([buffer, torch.as_tensor(block, dtype=torch.float32)])
            received = offset + len(buffer)
            chunked = chunked or received > chunk + 2 * margin
            while chunked and received >= start + chunk + margin:
                yield self._chunk(buffer, offset, start, start + chunk)
                start += chunk
                cut = max(0, start - margin) - offset
                buffer, offset = buffer[cut:], offset + cut
        total = offset + len(buffer)
        if not chunked:
            if total:
                yield self._separate_block(buffer)
            return
        for begin in range(start, total, chunk):
            yield self._chunk(buffer, offset, begin, min(total, begin + chunk))

    def _chunk(self, buffer: torch.Tensor, offset: int, start: int, stop: int) -> torch.Tensor:
        """Estimates of the signal's samples ``start:stop`` from the buffered ones around them."""
        chunk, margin = self._chunking()
        lo, hi = max(0, start - margin), min(offset + len(buffer), start + chunk + margin)
        block = self._separate_block(buffer[lo - offset : hi - offset])
        return block[:, start - lo : stop - lo]

    def _crossfaded(self, blocks: Iterable[np.ndarray | torch.Tensor]) -> Iterator[torch.Tensor]:
        """Chunk k covers samples [kC, kC + C + O) (C chunk, O cross-fade); its first O samples
        are cross-faded linearly with the last O of chunk k − 1. Masks sum to one in every
        chunk, so the cross-faded estimates still sum to the mixture."""
        chunk, fade = self._chunking()
        ramp = (torch.arange(fade, dtype=torch.float32) + 0.5) / fade
        buffer, tail = torch.zeros(0), None  # buffer starts at the current chunk's first sample
        for block in chain(blocks, [None]):
            final = block is None
            if not final:
                buffer = torch.cat([buffer, torch.as_tensor(block, dtype=torch.float32)])
            while len(buffer) > chunk + fade or (final and len(buffer)):
                est = self._separate_block(buffer[: chunk + fade])
                if tail is not None:
                    n = min(fade, est.shape[1])
                    est[:, :n] = tail[:, :n] * (1 - ramp[:n]) + est[:, :n] * ramp[:n]
                if len(buffer) <= chunk + fade:  # the last chunk
                    yield est
                    return
                yield est[:, :chunk]
                tail, buffer = est[:, chunk:], buffer[chunk:]

    @torch.no_grad()
    def separate_tensor(self, signal: torch.Tensor) -> torch.Tensor:
        """(sources, samples) estimates of a mono signal at the model's rate, chunk by chunk."""
        pieces = list(self.separate_blocks([signal]))
        return torch.cat(pieces, dim=1) if pieces else torch.zeros(len(self.sources), 0)

    def _separate_stream(
        self, blocks: Iterable[np.ndarray], rate: int, label: str
    ) -> Iterator[np.ndarray]:
        """(sources, n) estimates at ``rate`` of a mono signal given block by block at ``rate``.

        Resampled to the model's rate and back on the fly; together the pieces are exactly as
        long as the input. A silent input gives silent estimates, with a note.
        """
        to_model = StreamResampler(rate, self.sample_rate)
        back = [StreamResampler(self.sample_rate, rate) for _ in self.sources]
        audible = False

        def at_model_rate() -> Iterator[np.ndarray]:
            nonlocal audible
            for block in blocks:
                audible = audible or bool(np.any(block))
                yield to_model(block)
            yield to_model.flush()

        written = 0
        for piece in self.separate_blocks(at_model_rate()):
            out = np.stack([r(p) for r, p in zip(back, piece.numpy())])
            written += out.shape[1]
            yield out
        yield fit_length(np.stack([r.flush() for r in back]), to_model.samples_in - written)
        if not audible:
            log.info("%s: silent (all samples are zero); the estimates are silent too", label)

    def separate(
        self, mixture: np.ndarray | torch.Tensor | str | Path, sample_rate: int | None = None
    ) -> dict[str, np.ndarray]:
        """Separate a path, or an array or a tensor at ``sample_rate`` Hz (required for them:
        no rate is assumed); each source's estimate at the input's rate and length.

        A multichannel input (``(channels, samples)`` or ``(samples, channels)``) is downmixed.
        """
        signal, rate, label = mono_input(mixture, sample_rate)
        pieces = list(self._separate_stream([signal.numpy()], rate, label))
        return dict(zip(self.sources, np.concatenate(pieces, axis=1)))

    def separate_batch(
        self,
        signals: Sequence[np.ndarray | torch.Tensor] | np.ndarray | torch.Tensor,
        sample_rate: int,
    ) -> list[np.ndarray]:
        """Separate a batch at ``sample_rate`` Hz: a list of arrays or tensors (lengths may
        differ) or one ``(batch, samples)`` array. Each result is ``(sources, samples)`` (rows
        in :attr:`sources` order), equal to :meth:`separate` of its item: each item goes
        through the same chunked path in turn (on a CPU as fast per second of audio as one
        long signal)."""
        rate = array_rate(sample_rate, "separate_batch()")
        return [np.stack(list(self.separate(x, rate).values())) for x in batch_items(signals)]

    def separate_file(
        self,
        path: str | Path,
        out_paths: dict[str, Path],
        fmt: str = "WAV",
        subtype: str = "FLOAT",
        progress: Callable[[float], None] | None = None,
    ) -> None:
        """Separate an audio file into ``out_paths[source]``, mono files at its rate/length
        (float WAV unless ``fmt``/``subtype`` say otherwise).

        Streams the file block by block, so memory stays bounded however long it is; the
        samples equal those of :meth:`separate` on the whole file. The outputs appear only once
        complete. ``progress`` is told the seconds of input read, block by block.
        """
        rate = audio_info(path).samplerate
        blocks = read_blocks(path, max(1, int(self.chunk_seconds * rate)))
        if progress is not None:
            blocks = _reporting(blocks, progress, rate)
        outs = {s: Path(out_paths[s]) for s in self.sources}
        with audio_writers(outs, rate, fmt, subtype) as writers:
            for piece in self._separate_stream(blocks, rate, str(path)):
                for source, samples in zip(self.sources, piece):
                    writers[source].write(samples)


def level_gain(signal: torch.Tensor, level_db: float) -> float:
    """The gain that brings ``signal``'s RMS to ``level_db`` dBFS (1: level 0, or silence)."""
    power = float(torch.mean(signal.double() ** 2)) if len(signal) else 0.0
    if level_db == 0 or power == 0:
        return 1.0
    return 10 ** (level_db / 20) / power**0.5


def _reporting(
    blocks: Iterable[np.ndarray], progress: Callable[[float], None], rate: int
) -> Iterator[np.ndarray]:
    """``blocks``, telling ``progress`` the seconds of each as it passes."""
    for block in blocks:
        yield block
        progress(len(block) / rate)


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
