"""Separation: per-source magnitude estimates → soft masks Ŝk / Σ Ŝ → mixture phase → iSTFT.

``Separator.from_dir(exp_dir)`` needs nothing but what ``train`` wrote. Long recordings are
processed in chunks whose margins make the result equal to the unchunked one, and
``Separator.separate_file`` streams a file through them block by block (resampling included),
so that memory stays bounded however long the recording. The estimates come from the
networks, from NMF dictionaries or, for an oracle, from the true sources (``references``).
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from vaesep.audio import (
    StreamResampler,
    audio_info,
    audio_writers,
    fit_length,
    load_audio,
    read_blocks,
    resample,
)
from vaesep.config import Config, load_config
from vaesep.datadir import SOURCES
from vaesep.device import resolve_device
from vaesep.errors import VaesepError, log
from vaesep.features import FeatureStats, Featurizer, Stft, spectrogram
from vaesep.models import build_model, model_kind
from vaesep.models.nmf import separate_spectrogram
from vaesep.models.oracle import ideal_estimates
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
        self.kind = model_kind(config.model.type)
        self.name = name
        self.chunk_seconds = chunk_seconds
        self.eval()

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self.models)

    @property
    def sample_rate(self) -> int:
        return self.config.features.sample_rate

    @property
    def needs_references(self) -> bool:
        """Whether :meth:`separate` needs the true sources (an oracle mask)."""
        return self.kind == "oracle"

    def require_references(self, references: dict[str, np.ndarray] | None) -> None:
        """The one-line error of an oracle asked to separate without the true sources."""
        if self.needs_references and references is None:
            raise VaesepError(
                f"{self.name}: an oracle mask needs the reference sources; "
                "use 'vaesep evaluate', not 'separate'"
            )

    @classmethod
    def from_dir(cls, exp_dir: str | Path, device: str = "cpu", **kwargs) -> Separator:
        """Load an experiment dir written by :func:`vaesep.training.train`."""
        exp_dir = Path(exp_dir)
        if not (exp_dir / CONFIG_FILE).is_file() or not (exp_dir / STATS_FILE).is_file():
            raise VaesepError(
                f"{exp_dir}: not an experiment dir (no {CONFIG_FILE}/{STATS_FILE}); "
                "pass the --exp-dir of a finished 'vaesep train'"
            )
        device = resolve_device(device, "--device")
        config = load_config(exp_dir / CONFIG_FILE)
        stats = FeatureStats.load(exp_dir / STATS_FILE)
        models = {}
        for source in SOURCES:
            path = exp_dir / f"{source}.pt"
            if not path.is_file():
                raise VaesepError(
                    f"{path}: missing; the training did not finish, rerun it with --resume"
                )
            models[source] = _load_model(path, config, stats, device)
        return cls(config, stats, models, name=exp_dir.name, **kwargs)

    @torch.no_grad()
    def estimate_spectrograms(
        self, mixture_spec: torch.Tensor, references: dict[str, torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """Each source's spectrogram estimate Ŝk (frames, bins) from the mixture's.

        NMF decomposes the mixture spectrogram itself; an oracle uses only the ``references``
        (the sources' complex spectrograms); the networks see the normalized mixture.
        """
        if self.kind == "oracle":
            return ideal_estimates(references, self.config.model.mask)
        if self.kind == "nmf":
            dictionaries = {s: m.dictionary for s, m in self.models.items()}
            return separate_spectrogram(mixture_spec, dictionaries, self.config.model)
        x = self.featurizer.network_input(mixture_spec)
        mixture = self.featurizer.target(mixture_spec)  # the scale the models work in
        return {s: self.featurizer.to_spectrogram(m(x, mixture)) for s, m in self.models.items()}

    @torch.no_grad()
    def _separate_block(
        self, signal: torch.Tensor, references: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(sources, samples) estimates of one block of the signal at the model's rate.

        ``references``: the true sources (sources, samples) of the same block, for an oracle.
        """
        spec = self.stft.stft(signal)
        refs = None if references is None else dict(zip(self.sources, self.stft.stft(references)))
        kind = self.config.features.spectrogram
        estimates = self.estimate_spectrograms(spectrogram(spec, kind), refs)
        masks = soft_masks(estimates)
        return torch.stack([self.stft.istft(masks[s] * spec, len(signal)) for s in self.sources])

    def _chunking(self) -> tuple[int, int]:
        """(chunk, margin) in samples at the model's rate; both multiples of the hop.

        A chunk is separated with ``margin`` samples of context on each side: enough for every
        STFT frame (and its context frames) that touches the chunk, so the chunk's estimates
        equal those of the whole signal.
        """
        hop, win = self.stft.hop_length, self.stft.win_length
        context = self.config.features.context_frames
        margin = -(-(win + (context + 1) * hop) // hop) * hop
        chunk = max(hop, int(self.chunk_seconds * self.sample_rate) // hop * hop)
        return chunk, margin

    @torch.no_grad()
    def separate_blocks(
        self,
        blocks: Iterable[np.ndarray | torch.Tensor],
        references: torch.Tensor | None = None,
    ) -> Iterator[torch.Tensor]:
        """(sources, n) estimates of a mono signal at the model's rate arriving block by block.

        The concatenated pieces do not depend on the block sizes: a signal longer than a chunk
        and two margins is separated chunk by chunk, a shorter one in one piece. At most a
        chunk, two margins and one block are held in memory (and, for an oracle, the whole
        ``references``: the true sources (sources, samples) at the model's rate).
        """
        chunk, margin = self._chunking()
        buffer = torch.zeros(0)
        offset = start = 0  # the signal index of buffer[0]; the first sample not yet output
        chunked = False
        for block in blocks:
            buffer = torch.cat([buffer, torch.as_tensor(block, dtype=torch.float32)])
            received = offset + len(buffer)
            chunked = chunked or received > chunk + 2 * margin
            while chunked and received >= start + chunk + margin:
                yield self._chunk(buffer, offset, start, start + chunk, references)
                start += chunk
                cut = max(0, start - margin) - offset
                buffer, offset = buffer[cut:], offset + cut
        total = offset + len(buffer)
        if not chunked:
            if total:
                yield self._separate_block(buffer, references)
            return
        for begin in range(start, total, chunk):
            yield self._chunk(buffer, offset, begin, min(total, begin + chunk), references)

    def _chunk(
        self,
        buffer: torch.Tensor,
        offset: int,
        start: int,
        stop: int,
        references: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Estimates of the signal's samples ``start:stop`` from the buffered ones around them."""
        chunk, margin = self._chunking()
        lo, hi = max(0, start - margin), min(offset + len(buffer), start + chunk + margin)
        refs = None if references is None else references[:, lo:hi]
        block = self._separate_block(buffer[lo - offset : hi - offset], refs)
        return block[:, start - lo : stop - lo]

    @torch.no_grad()
    def separate_tensor(
        self, signal: torch.Tensor, references: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(sources, samples) estimates of a mono signal at the model's rate, chunk by chunk."""
        pieces = list(self.separate_blocks([signal], references))
        return torch.cat(pieces, dim=1) if pieces else torch.zeros(len(self.sources), 0)

    def _separate_stream(
        self,
        blocks: Iterable[np.ndarray],
        rate: int,
        label: str,
        references: torch.Tensor | None = None,
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
        for piece in self.separate_blocks(at_model_rate(), references):
            out = np.stack([r(p) for r, p in zip(back, piece.numpy())])
            written += out.shape[1]
            yield out
        yield fit_length(np.stack([r.flush() for r in back]), to_model.samples_in - written)
        if not audible:
            log.info("%s: silent (all samples are zero); the estimates are silent too", label)

    def separate(
        self,
        mixture: np.ndarray | torch.Tensor | str | Path,
        sample_rate: int | None = None,
        references: dict[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Separate a path, an array or a tensor; outputs at the input's rate and length.

        An oracle needs ``references``, the true sources at the input's rate (see
        :attr:`needs_references`); the other models ignore them.
        """
        self.require_references(references)
        label = str(mixture) if isinstance(mixture, (str, Path)) else "input"
        if isinstance(mixture, (str, Path)):
            mixture, sample_rate = load_audio(mixture)
        signal = torch.as_tensor(mixture, dtype=torch.float32)
        if signal.ndim == 2:
            log.info("input with %d channels downmixed to mono", min(signal.shape))
            signal = signal.mean(dim=int(np.argmin(signal.shape)))
        if signal.ndim != 1 or signal.numel() == 0:
            raise VaesepError("input must be a non-empty mono or multichannel signal")
        if not torch.isfinite(signal).all():
            raise VaesepError(f"{label}: NaN or infinite samples; repair the signal")
        rate = sample_rate or self.sample_rate
        refs = self._model_rate_references(references, rate, signal.numel())
        pieces = list(self._separate_stream([signal.numpy()], rate, label, refs))
        return dict(zip(self.sources, np.concatenate(pieces, axis=1)))

    def _model_rate_references(
        self, references: dict[str, np.ndarray] | None, rate: int, length: int
    ) -> torch.Tensor | None:
        """The true sources (sources, samples) at the model's rate for an oracle, else None."""
        if not self.needs_references:
            return None
        missing = [s for s in self.sources if s not in references]
        if missing:
            raise VaesepError(f"{self.name}: no reference for source(s) {', '.join(missing)}")
        at_model_rate = math.ceil(length * self.sample_rate / rate)
        refs = [np.asarray(references[s], dtype=np.float32).reshape(-1) for s in self.sources]
        refs = [fit_length(resample(r, rate, self.sample_rate), at_model_rate) for r in refs]
        return torch.from_numpy(np.stack(refs))

    def separate_file(self, path: str | Path, out_paths: dict[str, Path]) -> None:
        """Separate an audio file into ``out_paths[source]``, mono float WAVs at its rate/length.

        Streams the file block by block, so memory stays bounded however long it is; the
        samples equal those of :meth:`separate` on the whole file. An output appears only
        once complete.
        """
        self.require_references(None)
        rate = audio_info(path).samplerate
        blocks = read_blocks(path, max(1, int(self.chunk_seconds * rate)))
        with audio_writers({s: Path(out_paths[s]) for s in self.sources}, rate) as writers:
            for piece in self._separate_stream(blocks, rate, str(path)):
                for source, samples in zip(self.sources, piece):
                    writers[source].write(samples)


def _load_model(
    path: Path, config: Config, stats: FeatureStats, device: torch.device
) -> torch.nn.Module:
    """The model of one checkpoint; an error unless it fits the experiment's config."""
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as exc:
        reason = " ".join(str(exc).split())
        raise VaesepError(f"{path}: unreadable checkpoint ({reason}); retrain") from None
    features = config.features
    expected = (Featurizer(features).input_dim, features.num_bins)
    try:
        if (ckpt["input_dim"], ckpt["output_dim"]) != expected or len(stats.mean) != expected[1]:
            raise ValueError("feature sizes differ")
        model = build_model(config.model, *expected)
        model.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, KeyError, ValueError, TypeError):
        raise VaesepError(
            f"{path}: the experiment was trained with other feature/model settings than its "
            f"{CONFIG_FILE} now holds (e.g. another window or latent size); restore the "
            f"{CONFIG_FILE} it was trained with, or retrain"
        ) from None
    return model.to(device)
