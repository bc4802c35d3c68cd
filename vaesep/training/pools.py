"""Dynamic mixing from speaker pools (``data.loading: pools``): no fixed mixtures; every
training example is a fresh random female + male pair of crops read from disk.

A pool is a data dir's sources: ``female.scp`` and ``male.scp`` (with ``utt2spk``) of a pool
dir (:mod:`vaesep.data.pool_dir`, ``vaesep prepare pool``, several corpora merged by
``vaesep prepare pool-merge``), or ``spk1.scp`` and ``spk2.scp`` of a mixture dir. Each pair
takes a random utterance of each pool (``data.draw``: uniformly, or of a random speaker; of a
merged pool with weights, of a part drawn by its weight first), a random ``data.crop_seconds``
crop of each (only the crop is read), a speed factor for each from ``data.speeds`` (sox speed:
tempo and pitch), the male crop scaled to a level ratio drawn uniformly within
``±training.mixing_gain_db`` dB of the female one's RMS, and, with
``training.mixing_colouring_db``, a random colouring of each, and with ``data.reverb`` or
``data.noise`` a simulated room or added noise (:mod:`vaesep.training.acoustics`); the
mixture is their sum (and the noise's). So N
utterances give N² pairs. Validation holds out ``training.validation_fraction`` of the speakers
of each pool (of the mixtures, for a mixture dir) and draws a fixed seeded set of pairs from
them. With ``data.genders: any`` each voice of a pair is of a pool drawn at random, two
distinct speakers (F+F, M+M and F+M pairs alike, for permutation-invariant training); with
``data.order: pitch`` the voice of higher median pitch over its crop is the first source. A
file that cannot be read is skipped with a warning naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vaesep.config import Config
from vaesep.data.datadir import load_datadir, read_scp, read_utt2spk
from vaesep.data.mixing import rms
from vaesep.data.pool_dir import POOL_JSON, POOL_SCP, read_pool_json
from vaesep.errors import VaesepError, log, optional
from vaesep.features import Featurizer, Stft
from vaesep.io.audio import load_excerpt, resample
from vaesep.training.acoustics import augment
from vaesep.training.augment import random_colouring
from vaesep.training.segments import SegmentSet, check_target, cut, featurize, split_utterances
from vaesep.training.streaming import Streamed, fit_stats, groups

_TRAIN, _VAL, _STATS = 4, 5, 6  # random streams of the training, validation and stats pairs


@dataclass(frozen=True)
class Pair:
    """One example: which utterance of each pool, where its crop starts (in [0, 1]), its
    speed, the male's level relative to the female (dB) and the colouring's seed."""

    paths: tuple[str, str]
    positions: tuple[float, float]
    speeds: tuple[float, float]
    gain_db: float
    seed: int


class Pool:
    """One source's utterances to draw from, grouped into parts (the corpora of a merged pool
    dir, drawn in proportion to their weights) and, within a part, by speaker."""

    def __init__(self, parts: list[dict[str, list[str]]], weights: list[float] | None = None):
        kept = [(p, w) for p, w in zip(parts, weights or [1.0] * len(parts)) if p and w > 0]
        self.parts = [{s: sorted(ps) for s, ps in sorted(p.items())} for p, _ in kept]
        total = sum(w for _, w in kept) or 1.0
        self.weights = [w / total for _, w in kept] if weights else None
        self.flat = [sorted(q for s in p.values() for q in s) for p in self.parts]
        self.paths = sorted(q for f in self.flat for q in f)
        self.speakers = [list(p.values()) for p in self.parts]
        self.every_speaker = [s for p in self.speakers for s in p]
        self.speaker = {  # utterance -> (part, speaker): whether two draws share a speaker
            q: (k, s) for k, p in enumerate(self.parts) for s, ps in p.items() for q in ps
        }

    def __len__(self) -> int:
        return len(self.paths)

    def draw(self, rng: np.random.Generator, by: str) -> str:
        """A random utterance: of a part drawn by weight (weighted pools), then uniformly
        (``by`` utterance) or of a uniformly drawn speaker (``by`` speaker)."""
        if self.weights is None and by == "utterance":
            return self.paths[rng.integers(len(self.paths))]
        part = int(rng.choice(len(self.parts), p=self.weights)) if self.weights else 0
        if by == "utterance":
            return self.flat[part][rng.integers(len(self.flat[part]))]
        speakers = self.speakers[part] if self.weights else self.every_speaker
        utts = speakers[rng.integers(len(speakers))]
        return utts[rng.integers(len(utts))]


def read_pools(data_dir: str | Path, fraction: float, seed: int) -> tuple[dict, dict]:
    """(training, validation) pools ``{source: Pool}`` of a pool or mixture dir (in the order of
    its sources); a pool dir holds out whole speakers."""
    root = Path(data_dir)
    if not (root / POOL_SCP["female"]).exists() and not (root / POOL_SCP["male"]).exists():
        data = load_datadir(root)
        train_ids, val_ids = split_utterances(data.utt_ids, fraction, seed)
        return tuple(
            # a mixture dir knows no speakers of its sources: each utterance is its own
            {s: Pool([{p: [p] for p in {data.sources[s][u] for u in ids}}]) for s in data.names}
            for ids in (train_ids, val_ids)
        )
    parts = ((root / POOL_JSON).is_file() and read_pool_json(root).get("parts")) or [{"prefix": ""}]
    weights = [float(p["weight"]) for p in parts] if "weight" in parts[0] else None
    train, val = {}, {}
    for source, scp in POOL_SCP.items():
        path = root / scp
        if not path.exists():
            raise VaesepError(f"{path}: missing; a pool dir lists its {source} utterances there")
        utts = read_scp(path)
        if not utts:
            raise VaesepError(f"{path}: no utterances; a pool needs female and male speech")
        speakers = read_utt2spk(root, list(utts))
        kept, held = (
            set(s) for s in split_utterances(sorted(set(speakers.values())), fraction, seed)
        )
        part = {utt: _part_of(utt, parts) for utt in utts}
        for pools, chosen in ((train, kept), (val, held)):
            grouped: list[dict[str, list[str]]] = [{} for _ in parts]
            for utt, p in utts.items():
                if speakers[utt] in chosen:
                    grouped[part[utt]].setdefault(speakers[utt], []).append(p)
            pools[source] = Pool(grouped, weights)
    return train, val


def _part_of(utt: str, parts: list[dict]) -> int:
    """The index of the part whose prefix ``utt`` carries (the longest one)."""
    matches = [(len(p["prefix"]), k) for k, p in enumerate(parts) if utt.startswith(p["prefix"])]
    if not matches:
        raise VaesepError(f"{utt}: carries no part's prefix of the pool dir's pool.json")
    return max(matches)[1]


def draw_pairs(pools: dict, n: int, config: Config, seed: list[int]) -> list[Pair]:
    """``n`` random pairs from ``pools``, seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    gain, speeds, by = config.training.mixing_gain_db, config.data.speeds, config.data.draw
    both = list(pools.values())

    def voices() -> tuple[str, str]:
        if config.data.genders == "opposite":
            return both[0].draw(rng, by), both[1].draw(rng, by)
        return _two_speakers(both, rng, by)

    return [
        Pair(
            voices(),
            (float(rng.random()), float(rng.random())),
            (float(rng.choice(speeds)), float(rng.choice(speeds))),
            float(rng.uniform(-gain, gain)) if gain else 0.0,
            int(rng.integers(2**62)),
        )
        for _ in range(n)
    ]


def _two_speakers(pools: list[Pool], rng: np.random.Generator, by: str) -> tuple[str, str]:
    """``data.genders: any``: an utterance of each of two distinct speakers, each from a pool
    drawn at random (F+F, F+M, M+F and M+M alike)."""
    k = int(rng.integers(len(pools)))
    first = pools[k].draw(rng, by)
    while True:
        j = int(rng.integers(len(pools)))
        if j == k and len(pools[j].every_speaker) < 2:
            continue  # one speaker: only the other pool can give the second voice
        second = pools[j].draw(rng, by)
        if j != k or pools[j].speaker[second] != pools[k].speaker[first]:
            return first, second


def _crop(path: str, position: float, speed: float, seconds: float, rate: int) -> np.ndarray:
    """A crop of ``seconds`` at ``rate`` after the speed change (sox speed: resampled)."""
    signal, native = load_excerpt(path, position, seconds * speed)
    return resample(signal, round(native * speed), rate) if speed != 1 or native != rate else signal


def median_pitch(signal: np.ndarray, rate: int) -> float:
    """Median fundamental frequency (Hz, librosa's YIN within 65-400 Hz) over the frames within
    30 dB of the signal's loudest; 0 for a silent signal."""
    librosa = optional("librosa", "train", "data.order: pitch")
    frame, hop = 2 ** round(np.log2(0.064 * rate)), 2 ** round(np.log2(0.016 * rate))
    if len(signal) < frame:
        return 0.0
    f0 = librosa.yin(signal, fmin=65, fmax=400, sr=rate, frame_length=frame, hop_length=hop)
    energy = librosa.feature.rms(y=signal, frame_length=frame, hop_length=hop)[0][: len(f0)]
    loud = energy > energy.max() * 10 ** (-30 / 20)
    return float(np.median(f0[loud])) if loud.any() else 0.0


def mix_pair(pair: Pair, config: Config, stft: Stft) -> tuple[torch.Tensor, dict] | None:
    """The pair's mixture and sources as complex STFTs, or None (with a warning) when a file
    cannot be read or a crop is silent."""
    rate, seconds = config.features.sample_rate, config.data.crop_seconds
    try:
        crops = [
            _crop(path, position, speed, seconds, rate)
            for path, position, speed in zip(pair.paths, pair.positions, pair.speeds)
        ]
    except VaesepError as exc:
        log.warning("skipping a pair: %s", exc)
        return None
    length = min(len(c) for c in crops)
    first, second = (c[:length] for c in crops)
    paths = pair.paths
    if config.data.order == "pitch" and median_pitch(second, rate) > median_pitch(first, rate):
        (first, second), paths = (second, first), paths[::-1]
    levels = rms(first), rms(second)
    if min(levels) < 1e-8:
        log.warning("skipping a pair: a silent crop of %s", paths[int(levels[1] < 1e-8)])
        return None
    second = second * np.float32(levels[0] / levels[1] * 10 ** (pair.gain_db / 20))
    (first, second), noise = augment((first, second), config.data, pair.seed, rate)
    names = config.data.names
    specs = {s: stft.stft(torch.from_numpy(x))[None] for s, x in zip(names, (first, second))}
    db = config.training.mixing_colouring_db
    if db:
        generator = torch.Generator().manual_seed(pair.seed)
        specs = {s: random_colouring(x, db, generator) for s, x in specs.items()}
    specs = {s: x[0] for s, x in specs.items()}
    mixture = specs[names[0]] + specs[names[1]]
    return (mixture if noise is None else mixture + stft.stft(torch.from_numpy(noise))), specs


def pool_sets(
    data_dir: str | Path, config: Config, featurizer: Featurizer, frames: int
) -> tuple[Streamed, Streamed | None]:
    """``data.loading: pools``: training and validation pairs drawn from the data dir's pools."""
    t, d = config.training, config.data
    check_target(featurizer, t)
    if d.order == "pitch":
        optional("librosa", "train", "data.order: pitch")  # before any worker needs it
    train, val = read_pools(data_dir, t.validation_fraction, t.seed)
    stft = Stft(config.features)

    def utterances(pairs: list[Pair]) -> list:
        made = ((i, mix_pair(p, config, stft)) for i, p in enumerate(pairs))
        return [(str(i), m[0], m[1]) for i, m in made if m is not None]

    stats = draw_pairs(train, d.stats_examples, config, [t.seed, _STATS])
    stats_groups = groups(stats, d.group)
    fit_stats(
        featurizer, stats_groups, lambda p: [u[1] for u in utterances(p)], d.workers, data_dir
    )

    def load(pairs: list[Pair], sources: tuple[str, ...]) -> SegmentSet | None:
        made = utterances(pairs)  # the mixture needs both sources: both are read
        if not made:
            return None
        segs = cut(made, frames)
        targets = {s: segs[s] for s in sources}
        return featurize(segs["mixture"], targets, segs["present"], featurizer, t)

    def train_plan(epoch: int) -> list[list[Pair]]:
        return groups(draw_pairs(train, d.pairs, config, [t.seed, _TRAIN, epoch]), d.group)

    n_val = max(1, round(d.pairs * t.validation_fraction)) if t.validation_fraction else 0
    fixed = draw_pairs(val, n_val, config, [t.seed, _VAL]) if n_val and all(val.values()) else []

    def fixed_groups(epoch: int) -> list[list[Pair]]:
        return groups(fixed, d.group)

    data = Streamed(train_plan, load, d.workers, d.names)
    return data, Streamed(fixed_groups, load, d.workers, d.names) if fixed else None
