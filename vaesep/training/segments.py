"""Training examples: segments of ``T`` consecutive STFT frames inside utterances.

A data dir's utterances are split into training and validation utterances (seeded), the
featurizer is fitted on the training mixtures, and each utterance is cut into segments of
``T = model.segment_frames`` frames: back to back from its start, the last one ending at its
last frame (so it may overlap the one before), and an utterance shorter than ``T`` padded with
silent frames at its end. Tensors are ``(segments, T, ·)``. With ``T = 1`` every frame is a
segment, in the order of the data dir, which is exactly the study's bag of frames.

Features are computed on the segments laid end to end, so ``features.context_frames``
neighbours are those of that stream. A training set can draw a new view of itself every epoch
(``SegmentSet.redraw``): with ``training.random_segments`` (and ``T > 1``) each utterance is cut
anew from a random first frame in ``[0, T)``; with ``training.dynamic_mixing`` the male segments
are rolled against the female ones by a random offset and added as complex STFTs, a new
pairing every epoch (optionally at random level ratios and with each source randomly coloured,
:mod:`vaesep.training.augment`). Weak data (no references, :mod:`vaesep.training.joint`) keep
every recording and add their one-class recordings of different classes mixed anew, labelled
with both classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vaesep.config import Config, TrainingConfig
from vaesep.data.datadir import DEFAULT_SOURCES, DataDir, load_datadir
from vaesep.errors import VaesepError
from vaesep.features import Featurizer, Stft, spectrogram
from vaesep.io.audio import load_audio
from vaesep.training.augment import random_colouring, random_gains

Utterance = tuple[str, torch.Tensor, dict[str, torch.Tensor]]


@dataclass
class SegmentSet:
    """Network inputs ``(N, T, D)``, per-source targets and the mixture spectrum ``(N, T, F)``
    (target scale) of ``N`` segments."""

    inputs: torch.Tensor
    targets: dict[str, torch.Tensor]  # empty under weak class supervision
    mixture: torch.Tensor
    # Which sources each segment's mixture holds, (N, K) of 0/1 in the sources' order.
    present: torch.Tensor | None = None
    # A new view for an epoch, drawn with the generator (None: the same every epoch).
    redraw: Callable[[torch.Generator], SegmentSet] | None = None
    # training.loss: si_sdr: the complex STFT segments (N, T, F) of the mixture and of each
    # source, which the estimates are scored against as waveforms.
    stfts: dict[str, torch.Tensor] | None = None

    def __len__(self) -> int:
        return self.inputs.shape[0]

    @property
    def frames(self) -> int:
        """Frames in all segments."""
        return self.inputs.shape[0] * self.inputs.shape[1]


def load_stfts(data_dir: str | Path, config: Config) -> list[Utterance]:
    """(utt_id, mixture STFT, {source: STFT}) for every utterance of a data dir (complex)."""
    return read_stfts(load_datadir(data_dir), config)


def read_stfts(data: DataDir, config: Config, references: bool = True) -> list[Utterance]:
    """The STFTs of a loaded data dir (see :func:`load_stfts`); without ``references`` the
    sources are not read (``{}``)."""
    stft, rate = Stft(config.features), config.features.sample_rate
    return [
        read_utterance(utt, mix_path, data.source_paths(utt) if references else {}, stft, rate)
        for utt, mix_path in data.mixtures.items()
    ]


def read_utterance(
    utt: str, mixture: str, sources: dict[str, str], stft: Stft, rate: int
) -> Utterance:
    """One utterance's complex STFTs at ``rate``, every signal cut to the shortest one's length."""
    signals = {"mixture": load_audio(mixture, rate)[0]}
    signals.update({s: load_audio(path, rate)[0] for s, path in sources.items()})
    length = min(len(x) for x in signals.values())
    specs = {k: stft.stft(torch.from_numpy(x[:length])) for k, x in signals.items()}
    return utt, specs.pop("mixture"), specs


def split_utterances(utt_ids: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Seeded split of utterance ids into (train, validation); at least one each when possible."""
    n_val = int(round(len(utt_ids) * fraction))
    if fraction > 0 and len(utt_ids) > 1:
        n_val = max(n_val, 1)
    order = np.random.default_rng(seed).permutation(len(utt_ids))
    val = {utt_ids[i] for i in order[:n_val]}
    return [u for u in utt_ids if u not in val], [u for u in utt_ids if u in val]


def segment_index(lengths: list[int], frames: int, firsts: list[int] | None = None) -> torch.Tensor:
    """``(N, frames)`` indices into the utterances' frames laid end to end (see the module).

    Segments of utterance ``u`` start at ``firsts[u]`` (default 0; frames before it are left
    out) and every ``frames`` after it, the last one ending at the utterance's end. Index
    ``sum(lengths)`` (one past the last frame) stands for a silent padding frame.
    """
    rows, offset, pad = [], 0, sum(lengths)
    steps = torch.arange(frames)
    for u, length in enumerate(lengths):
        first = min(firsts[u] if firsts else 0, max(length - frames, 0))
        starts = list(range(first, max(length - frames, 0) + 1, frames))
        if length > frames and starts[-1] + frames < length:
            starts.append(length - frames)
        index = offset + torch.tensor(starts).unsqueeze(1) + steps
        rows.append(torch.where(index < offset + length, index, pad))
        offset += length
    return torch.cat(rows) if rows else torch.zeros(0, frames, dtype=torch.long)


def _segments(stfts: list[torch.Tensor], index: torch.Tensor) -> torch.Tensor:
    """The frames of ``stfts`` (each (frames, bins)) gathered into segments ``(N, T, bins)``."""
    stream = torch.cat([*stfts, torch.zeros_like(stfts[0][:1])])
    return stream[index]


def featurize(
    mixture: torch.Tensor,
    sources: dict[str, torch.Tensor],
    present: torch.Tensor,
    featurizer: Featurizer,
    training: TrainingConfig,
) -> SegmentSet:
    """The segment set of complex STFT segments ``(N, T, F)``: the mixture's network inputs
    (features of the segments laid end to end), each source's target and the mixture's
    spectrum, in the target scale (and the complex segments themselves for a time-domain
    loss)."""
    kind = featurizer.config.spectrogram
    shape = mixture.shape
    mixture_spec = spectrogram(mixture.reshape(-1, shape[-1]), kind)
    inputs = featurizer.network_input(mixture_spec).float()
    values = (*shape[:2], -1)  # (N, T, bins), or 2 bins of a complex spectrogram
    targets = {
        s: featurizer.target(_target_of(x, mixture, training.target, kind)).float().reshape(values)
        for s, x in sources.items()
    }
    mix = featurizer.target(mixture_spec).float().reshape(values)
    stfts = {"mixture": mixture, **sources} if training.loss == "si_sdr" else None
    return SegmentSet(inputs.reshape(*shape[:2], -1), targets, mix, present, stfts=stfts)


def _target_of(source: torch.Tensor, mixture: torch.Tensor, target: str, kind: str) -> torch.Tensor:
    if target == "magnitude":
        return spectrogram(source, kind)
    magnitude = mixture.abs()
    projected = (source * mixture.conj()).real / magnitude.clamp_min(1e-12)
    return projected.clamp_min(0).minimum(magnitude)


def cut(
    utterances: list[Utterance],
    frames: int,
    holds: list[tuple[str, ...]] | None = None,
    firsts: list[int] | None = None,
    names: tuple[str, ...] = DEFAULT_SOURCES,
) -> dict[str, torch.Tensor]:
    """Complex segments ``(N, frames, F)`` of the utterances' mixtures and sources (those the
    first utterance holds; see :func:`segment_index`) and ``present``, which of the sources
    ``names`` each segment's mixture holds (``holds[u]``, default: every source)."""
    references = tuple(utterances[0][2]) if utterances else ()
    lengths = [len(mix) for _, mix, _ in utterances]
    index = segment_index(lengths, frames, firsts)
    segs = {s: _segments([refs[s] for _, _, refs in utterances], index) for s in references}
    owner = torch.searchsorted(
        torch.tensor(lengths).cumsum(0), index[:, 0].contiguous(), right=True
    )
    holds = holds or [names] * len(utterances)
    table = torch.tensor([[float(s in held) for s in names] for held in holds])
    present = table[owner] if utterances else torch.zeros(0, len(names))
    return {
        "mixture": _segments([mix for _, mix, _ in utterances], index),
        "present": present,
        **segs,
    }


def check_target(featurizer: Featurizer, training: TrainingConfig) -> None:
    """The phase-sensitive target needs magnitude spectrograms."""
    if training.target == "phase_sensitive" and featurizer.config.spectrogram != "magnitude":
        raise VaesepError("training.target: phase_sensitive needs features.spectrogram: magnitude")


def build_segment_sets(
    stfts: list[Utterance],
    featurizer: Featurizer,
    training: TrainingConfig,
    frames: int,
    classes: dict[str, tuple[str, ...]] | None = None,
    names: tuple[str, ...] = DEFAULT_SOURCES,
) -> tuple[SegmentSet, SegmentSet | None]:
    """Fit the featurizer on the training utterances; the train/validation segment sets.

    ``names``: the sources; ``classes`` (``{utt_id: sources}``, default: all) sets each
    segment's ``present``.
    """
    check_target(featurizer, training)
    kind = featurizer.config.spectrogram
    by_utt = {utt: (utt, mix, refs) for utt, mix, refs in stfts}
    train_ids, val_ids = split_utterances(list(by_utt), training.validation_fraction, training.seed)
    featurizer.fit([spectrogram(by_utt[u][1], kind) for u in train_ids])
    references = tuple(names if stfts and stfts[0][2] else ())

    def cut_ids(ids: list[str], firsts: list[int] | None = None) -> dict[str, torch.Tensor]:
        holds = [(classes or {}).get(u, names) for u in ids]
        return cut([by_utt[u] for u in ids], frames, holds, firsts, names)

    def as_set(segs: dict[str, torch.Tensor]) -> SegmentSet:
        sources = {s: segs[s] for s in references}
        return featurize(segs["mixture"], sources, segs["present"], featurizer, training)

    def pair(segs: dict[str, torch.Tensor], generator: torch.Generator) -> SegmentSet:
        if not training.dynamic_mixing:
            return as_set(segs)
        if not references:
            return remix_weak(segs, generator)
        first, second = segs[names[0]], segs[names[1]]
        offset = int(torch.randint(1, len(first), (1,), generator=generator))
        shifted = torch.roll(second, offset, dims=0)
        if training.mixing_colouring_db:
            first = random_colouring(first, training.mixing_colouring_db, generator)
            shifted = random_colouring(shifted, training.mixing_colouring_db, generator)
        if training.mixing_gain_db:
            shifted = random_gains(shifted, training.mixing_gain_db, generator)
        sources = {names[0]: first, names[1]: shifted}
        return featurize(first + shifted, sources, segs["present"], featurizer, training)

    def remix_weak(segs: dict[str, torch.Tensor], generator: torch.Generator) -> SegmentSet:
        """Weak data: every recording, plus its one-class recordings of different classes mixed
        anew, labelled with both classes (their parts are never targets)."""
        present = segs["present"]
        alone = [(present[:, k] == 1) & (present.sum(1) == 1) for k in range(len(names))]
        parts = [segs["mixture"][a] for a in alone]
        n = min(len(p) for p in parts)
        if n == 0:
            return as_set(segs)
        picks = [p[torch.randperm(len(p), generator=generator)[:n]] for p in parts]
        mixture = torch.cat([segs["mixture"], sum(picks)])
        present = torch.cat([present, torch.ones(n, len(names))])
        return featurize(mixture, {}, present, featurizer, training)

    train = cut_ids(train_ids)
    train_set = as_set(train)
    jitter = training.random_segments and frames > 1
    if training.dynamic_mixing or jitter:

        def redraw(generator: torch.Generator) -> SegmentSet:
            if not jitter:
                return pair(train, generator)
            firsts = torch.randint(0, frames, (len(train_ids),), generator=generator)
            return pair(cut_ids(train_ids, firsts.tolist()), generator)

        train_set.redraw = redraw
    if not val_ids:
        return train_set, None
    return train_set, as_set(cut_ids(val_ids))
