"""Separating mono audio block by block: :class:`ChunkedSeparator`, the part every separator
of mono recordings shares (:class:`~vaesep.separation.separator.Separator`,
:class:`~vaesep.separation.bag.Bag`).

Long recordings are processed in chunks, as the receptive field allows: where it is finite (the
frame-wise models, NMF) each chunk is separated with enough context on both sides that the
result equals the unchunked one; where it is unbounded (recurrent models) chunks overlap by
``crossfade_seconds`` and are cross-faded linearly, which is close to, not equal to, the
unchunked result. ``separate_file`` streams a file through the chunks block by block
(resampling included), so that memory stays bounded however long the recording.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path

import numpy as np
import torch

from vaesep.errors import log
from vaesep.features import Stft
from vaesep.io.audio import StreamResampler, audio_info, audio_writers, fit_length, read_blocks
from vaesep.separation.arrays import array_rate, batch_items, mono_input


class ChunkedSeparator(torch.nn.Module):
    """Chunking, streaming and the ``separate*`` methods over one abstract step: a subclass
    gives :meth:`_separate_block` ((sources, samples) estimates of a block at
    :attr:`sample_rate`), :attr:`sources`, :attr:`sample_rate`, :attr:`receptive_field`
    (frames on each side, None: unbounded) and sets ``stft`` (its hop and window set the
    chunk margins), ``chunk_seconds`` and ``crossfade_seconds``."""

    stft: Stft
    chunk_seconds: float
    crossfade_seconds: float

    @property
    def sources(self) -> tuple[str, ...]:
        raise NotImplementedError

    @property
    def sample_rate(self) -> int:
        raise NotImplementedError

    @property
    def receptive_field(self) -> int | None:
        raise NotImplementedError

    @property
    def permute(self) -> bool:
        """Whether scoring matches the outputs to the sources by the best permutation (their
        names are not the sources')."""
        return False

    def _separate_block(self, signal: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

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


def _reporting(
    blocks: Iterable[np.ndarray], progress: Callable[[float], None], rate: int
) -> Iterator[np.ndarray]:
    """``blocks``, telling ``progress`` the seconds of each as it passes."""
    for block in blocks:
        yield block
        progress(len(block) / rate)
