"""Training examples an epoch at a time: all in memory, or streamed from disk in groups.

The training loop asks a :class:`TrainingData` for an epoch's parts, each a
:class:`~vaesep.training.segments.SegmentSet` it shuffles and batches. :class:`InMemory` gives
one part, the whole set (or its redraw), exactly as the study trained. :class:`Streamed`
gives one part per group of utterances (``data.loading: stream``) or of pairs drawn from
speaker pools (``pools``, :mod:`vaesep.training.pools`), read and featurized by
``data.workers`` processes of a :class:`torch.utils.data.DataLoader` ahead of the model, so
memory holds a few groups, never the corpus. A group is made from its spec alone (seeds
derived from ``training.seed``, the epoch and the group's index), so an epoch's examples do not
depend on which worker made them, and a resumed run reads the same ones.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from vaesep.config import Config
from vaesep.data.datadir import load_datadir
from vaesep.errors import VaesepError, log
from vaesep.features import Featurizer, SpectrumSums, Stft, spectrogram
from vaesep.io import workers as processes
from vaesep.io.signals import STOP_SIGNALS
from vaesep.training.segments import (
    SegmentSet,
    Utterance,
    check_target,
    cut,
    featurize,
    read_utterance,
    split_utterances,
)


class TrainingData(Protocol):
    """What the epoch loop needs: an epoch's parts, and how many frames an epoch holds."""

    frames: int
    position: int  # parts of the epoch handed out so far (where a stopped epoch resumes)

    def parts(self, epoch: int, generator: torch.Generator, start: int = 0) -> Iterator[SegmentSet]:
        """The epoch's parts from part ``start`` on (a resumed epoch)."""

    def for_sources(self, sources: tuple[str, ...]) -> TrainingData:
        """The same data, with the targets of ``sources`` at least (others may be left out)."""


@dataclass
class InMemory:
    """The whole segment set as one part, or its redraw for the epoch (dynamic mixing,
    random segments) drawn with the loop's generator."""

    segments: SegmentSet
    position = 0  # never stopped within its one part

    @property
    def frames(self) -> int:
        return self.segments.frames

    def parts(self, epoch: int, generator: torch.Generator, start: int = 0) -> Iterator[SegmentSet]:
        redraw = self.segments.redraw
        yield redraw(generator) if redraw is not None else self.segments

    def for_sources(self, sources: tuple[str, ...]) -> InMemory:
        return self


@dataclass
class Streamed:
    """Parts made by worker processes from the specs ``plan(epoch)`` lists."""

    plan: Callable[[int], list[Any]]
    # load(spec, sources): the group's part with (at least) those sources' targets; None:
    # nothing of the group could be read
    load: Callable[[Any, tuple[str, ...]], SegmentSet | None]
    workers: int
    sources: tuple[str, ...]  # the targets read (all sources, or those of one process)
    frames: int = 0  # of the last epoch streamed
    position: int = 0  # groups of the epoch handed out so far (skipped ones included)

    def for_sources(self, sources: tuple[str, ...]) -> Streamed:
        """Only what training ``sources`` needs is read and featurized (one source's process
        reads no other reference)."""
        return replace(self, sources=tuple(sources))

    def parts(self, epoch: int, generator: torch.Generator, start: int = 0) -> Iterator[SegmentSet]:
        frames = 0
        load = partial(self.load, sources=self.sources)
        self.position = start
        for part in run_groups(self.plan(epoch)[start:], load, self.workers):
            self.position += 1
            if part is not None and len(part):
                frames += part.frames
                yield part
        self.frames = frames


class _Groups(Dataset):
    def __init__(self, specs: list[Any], load: Callable[[Any], Any]):
        self.specs, self.load = specs, load

    def __len__(self) -> int:
        return len(self.specs)

    def __getitem__(self, index: int) -> Any:
        return self.load(self.specs[index])


def _one_thread(worker: int) -> None:
    """A loader process: one thread; a stop signal is the trainer's to act on (it checkpoints,
    then ends its loaders)."""
    torch.set_num_threads(1)
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def run_groups(specs: list[Any], load: Callable[[Any], Any], workers: int) -> Iterator[Any]:
    """``load(spec)`` of every spec, in order, by ``workers`` forked processes ahead of the
    caller (in this process where forking is unsafe or ``workers`` is 0)."""
    workers = min(workers, len(specs)) if processes.can_fork() else 0
    loader = DataLoader(
        _Groups(specs, load),
        batch_size=None,
        collate_fn=_identity,
        num_workers=workers,
        worker_init_fn=_one_thread if workers else None,
        multiprocessing_context="fork" if workers else None,
        prefetch_factor=2 if workers else None,
        # Its own generator: a loader would otherwise draw from torch's global one (which the
        # models' noise uses), a draw more on a resumed epoch than on an uninterrupted one.
        generator=torch.Generator().manual_seed(0),
    )
    yield from loader


def _identity(item: Any) -> Any:
    return item


@dataclass
class Cache:
    """Read utterances kept up to ``budget`` bytes of STFTs, the first ones read (a set that
    fits is read once; a larger one keeps its first utterances and reads the rest every
    epoch)."""

    budget: int
    items: dict[Any, Utterance] = field(default_factory=dict)
    used: int = 0

    def get(self, key: Any, read: Callable[[], Utterance]) -> Utterance:
        if key in self.items:
            return self.items[key]
        utterance = read()
        _, mixture, sources = utterance
        size = mixture.nbytes + sum(s.nbytes for s in sources.values())
        if self.used + size <= self.budget:
            self.items[key] = utterance
            self.used += size
        return utterance


def fit_stats(
    featurizer: Featurizer,
    specs: list[Any],
    mixtures: Callable[[Any], list[torch.Tensor]],
    workers: int,
    where: str | Path,
) -> None:
    """Fit the featurizer's statistics on the mixture STFTs ``mixtures(spec)`` gives for each
    spec, a group at a time (``where``: the data, named in errors)."""
    kind = featurizer.config.spectrogram

    def sums(spec: Any) -> SpectrumSums | None:
        specs = [spectrogram(m, kind) for m in mixtures(spec)]
        return featurizer.sums(torch.cat(specs)) if specs else None

    total = None
    for part in run_groups(specs, sums, workers):
        if part is not None:
            total = part if total is None else total + part
    if total is None:
        raise VaesepError(f"{where}: no training audio could be read; check the data dir")
    featurizer.fit_sums(total)


def groups(items: list[Any], size: int) -> list[list[Any]]:
    """``items`` in consecutive groups of ``size`` (the last one shorter)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def streamed_sets(
    data_dir: str | Path, config: Config, featurizer: Featurizer, frames: int
) -> tuple[Streamed, Streamed | None]:
    """``data.loading: stream``: the data dir's mixtures read from disk a group at a time.

    The training/validation split is the in-memory one (held-out utterances); the featurizer
    is fitted on up to ``data.stats_examples`` training mixtures; each epoch visits the
    training utterances in a new seeded order, ``data.group`` at a time.
    """
    t, d = config.training, config.data
    check_target(featurizer, t)
    data = load_datadir(data_dir)
    stft, rate = Stft(config.features), config.features.sample_rate
    train_ids, val_ids = split_utterances(data.utt_ids, t.validation_fraction, t.seed)
    jitter = t.random_segments and frames > 1

    cache = Cache(d.cache_mb * 2**20)

    def read(utt: str, sources: tuple[str, ...]) -> Utterance:
        paths = {s: p for s, p in data.source_paths(utt).items() if s in sources}
        return read_utterance(utt, data.mixtures[utt], paths, stft, rate)

    def readable(ids: list[str], sources: tuple[str, ...], keep: bool = True) -> list[Utterance]:
        """The utterances that can be read (the mixture and ``sources``; kept in the cache if
        ``keep``); the others skipped with a warning naming them."""
        out = []
        for utt in ids:
            try:
                make = partial(read, utt, sources)
                out.append(cache.get((utt, sources), make) if keep else make())
            except VaesepError as exc:
                log.warning("skipping utterance %s: %s", utt, exc)
        return out

    def stats_mixtures(ids: list[str]) -> list[torch.Tensor]:
        return [u[1] for u in readable(ids, (), keep=False)]

    order = np.random.default_rng([t.seed, 1]).permutation(len(train_ids))
    chosen = [train_ids[i] for i in order[: d.stats_examples]]
    fit_stats(featurizer, groups(chosen, d.group), stats_mixtures, d.workers, data.root)

    def load(spec: tuple[int, int, list[str]], sources: tuple[str, ...]) -> SegmentSet | None:
        epoch, index, ids = spec
        utterances = readable(ids, sources)
        if not utterances:
            return None
        firsts = None
        if jitter and epoch >= 0:
            rng = np.random.default_rng([t.seed, 2, epoch, index])
            firsts = rng.integers(0, frames, len(utterances)).tolist()
        segs = cut(utterances, frames, None, firsts, d.names)
        sources = {s: v for s, v in segs.items() if s not in ("mixture", "present")}
        return featurize(segs["mixture"], sources, segs["present"], featurizer, t)

    def train_plan(epoch: int) -> list[tuple[int, int, list[str]]]:
        order = np.random.default_rng([t.seed, 3, epoch]).permutation(len(train_ids))
        ids = [train_ids[i] for i in order]
        return [(epoch, g, group) for g, group in enumerate(groups(ids, d.group))]

    def val_plan(epoch: int) -> list[tuple[int, int, list[str]]]:
        return [(-1, g, group) for g, group in enumerate(groups(val_ids, d.group))]

    train = Streamed(train_plan, load, d.workers, d.names)
    return train, Streamed(val_plan, load, d.workers, d.names) if val_ids else None
