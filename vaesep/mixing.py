"""Female + male mixtures from a corpus, written as ``train/`` and ``test/`` data dirs.

Each mixture is one female and one male utterance (optionally cropped), cut or padded to a
common length, normalized to equal level, set to the requested female-to-male ratio and
scaled down together if needed, so that the mixture is exactly the sum of its references.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from vaesep import __version__
from vaesep.audio import load_audio, save_audio
from vaesep.corpora import SPLITS, Corpus, Utterance
from vaesep.datadir import write_datadir
from vaesep.errors import VaesepError, log

TARGET_RMS = 0.05  # level of each source at 0 dB, before the ratio is applied
TARGET_PEAK = 0.5
PEAK_LIMIT = 0.99
OUTPUT_FILES = ("wav.scp", "spk1.scp", "spk2.scp", "utt2spk", "spk2utt", "mixtures.csv")
_WORKERS = min(4, os.cpu_count() or 1)
_CROP_TRIES = 8  # redraw a crop this often when it is mostly silence

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class MixOptions:
    """How mixtures are made; the defaults reproduce the study (80 + 10 mixtures at 0 dB)."""

    num_train: int = 80
    num_test: int = 10
    seed: int = 0
    snr_db: float = 0.0  # female-to-male level ratio in dB
    snr_range: tuple[float, float] | None = None  # draw the ratio uniformly from this range
    level: str = "rms"  # "rms" or "peak": what is made equal before the ratio is applied
    length: str = "min"  # "min": cut to the shorter source; "max": zero-pad the shorter one
    crop: tuple[float, float] | None = None  # crop each utterance to a random segment (seconds)
    sample_rate: int = 16000
    split: str = "corpus"  # "corpus": the corpus's train/test split when it has one; "random"
    allow_speaker_overlap: bool = False  # random split by utterance, not by speaker
    max_uses: int | None = None  # most mixtures one utterance may appear in (None: no limit)
    force: bool = False

    def validate(self) -> None:
        """Raise VaesepError naming the first bad option."""
        if self.num_train < 0 or self.num_test < 0 or self.num_train + self.num_test == 0:
            raise VaesepError("--num-train and --num-test must be >= 0 and not both 0")
        if self.level not in ("rms", "peak"):
            raise VaesepError(f"--level {self.level!r}: use rms or peak")
        if self.length not in ("min", "max"):
            raise VaesepError(f"--length {self.length!r}: use min or max")
        if self.split not in ("corpus", "random"):
            raise VaesepError(f"--split {self.split!r}: use corpus or random")
        if self.snr_range is not None and self.snr_range[0] > self.snr_range[1]:
            raise VaesepError(f"--snr-range {self.snr_range}: LOW must not exceed HIGH")
        if self.crop is not None and not 0 < self.crop[0] <= self.crop[1]:
            raise VaesepError(f"--crop {self.crop}: use MIN-MAX seconds with 0 < MIN <= MAX")
        if self.sample_rate < 1000:
            raise VaesepError(f"--sample-rate {self.sample_rate}: use a rate such as 16000")
        if self.max_uses is not None and self.max_uses < 1:
            raise VaesepError(f"--max-uses {self.max_uses}: use 1 or more")


@dataclass(frozen=True)
class _Plan:
    split: str
    index: int
    female: Utterance
    male: Utterance

    @property
    def utt_id(self) -> str:
        return f"{self.female.utt_id}__{self.male.utt_id}"


def parse_crop(text: str) -> tuple[float, float] | None:
    """``"2-4"`` → (2.0, 4.0), ``"3"`` → (3.0, 3.0), ``"off"``/``"none"`` → None."""
    text = text.strip().lower()
    if text in ("off", "none", "no", ""):
        return None
    low, _, high = text.partition("-")
    try:
        crop = (float(low), float(high or low))
    except ValueError:
        raise VaesepError(f"--crop {text!r}: use MIN-MAX seconds such as 2-4, or off") from None
    if not 0 < crop[0] <= crop[1]:
        raise VaesepError(f"--crop {text!r}: use MIN-MAX seconds with 0 < MIN <= MAX")
    return crop


def prepare_mixtures(
    corpus: Corpus, out_dir: str | Path, options: MixOptions | None = None
) -> dict:
    """Write ``out_dir/{train,test}/`` data dirs, ``out_dir/wav/`` and ``out_dir/prepare.json``.

    Returns the summary written to prepare.json. Unreadable or silent files are skipped (with
    a warning) and other utterances take their place.
    """
    started = time.perf_counter()
    options = options or MixOptions()
    options.validate()
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, options.force)
    _check_corpus(corpus)
    pools, split_from = split_utterances(corpus, options)
    skipped = list(corpus.skipped)
    plans, rates = _plan_readable(pools, options, skipped)
    _note_resampling(rates, options.sample_rate)
    if options.force:
        _clear_previous(out_dir)
    summary_splits = {}
    for split in SPLITS:
        if plans[split]:
            records = _run(lambda p: _make_mixture(p, out_dir, options), plans[split])
            _write_split(out_dir / split, plans[split], records)
            summary_splits[split] = _split_summary(plans[split], records)
    summary = {
        "vaesep_version": __version__,
        "corpus": {
            "type": corpus.kind,
            "root": str(corpus.root.resolve()),
            "utterances": len(corpus.utterances),
            "female_speakers": len(corpus.speakers("F")),
            "male_speakers": len(corpus.speakers("M")),
        },
        "seed": options.seed,
        "options": {k: v for k, v in asdict(options).items() if k != "force"},
        "split_from": split_from,
        "splits": summary_splits,
        "skipped": skipped,
        "num_skipped": len(skipped),
        "seconds": round(sum(s["seconds"] for s in summary_splits.values()), 3),
        "time_taken_s": round(time.perf_counter() - started, 3),
    }
    (out_dir / "prepare.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def split_utterances(corpus: Corpus, options: MixOptions) -> tuple[dict[str, list[Utterance]], str]:
    """Train and test pools, and where the split came from: corpus, speakers or utterances.

    The corpus's own split is used when every utterance has one and both occur (unless
    ``options.split`` is ``random``); otherwise speakers (or, with overlap allowed,
    utterances) are split at random per gender, in proportion to the requested counts.
    """
    utts = corpus.utterances
    labels = {u.split for u in utts}
    if options.split == "corpus" and labels == set(SPLITS):
        pools = {s: [u for u in utts if u.split == s] for s in SPLITS}
        shared = {u.speaker for u in pools["train"]} & {u.speaker for u in pools["test"]}
        if shared and not options.allow_speaker_overlap:
            log.warning(
                "%d speakers are in both the train and test split of %s (e.g. %s)",
                len(shared),
                corpus.root,
                sorted(shared)[0],
            )
        return pools, "corpus"
    if options.split == "corpus" and labels != {None}:
        log.info("%s has no complete train/test split; splitting at random", corpus.root)
    by_utt = options.allow_speaker_overlap
    rng = np.random.default_rng([options.seed, 1])
    pools = {s: [] for s in SPLITS}
    for gender in ("F", "M"):
        group = [u for u in utts if u.gender == gender]
        keys = sorted({u.utt_id if by_utt else u.speaker for u in group})
        test_keys = set(rng.permutation(keys)[: _num_test_keys(len(keys), gender, options)])
        for u in group:
            pools["test" if (u.utt_id if by_utt else u.speaker) in test_keys else "train"].append(u)
    return pools, "utterances" if by_utt else "speakers"


def _num_test_keys(count: int, gender: str, options: MixOptions) -> int:
    if options.num_test == 0:
        return 0
    if options.num_train == 0:
        return count
    if count < 2:
        what = "utterance" if options.allow_speaker_overlap else "speaker"
        raise VaesepError(
            f"only {count} {'female' if gender == 'F' else 'male'} {what}; a train/test split "
            f"needs 2 or more per gender (or pass --allow-speaker-overlap)"
        )
    share = options.num_test / (options.num_train + options.num_test)
    return min(count - 1, max(1, round(count * share)))


def pair_utterances(
    females: list[Utterance],
    males: list[Utterance],
    count: int,
    rng: np.random.Generator,
    max_uses: int | None = None,
) -> list[tuple[Utterance, Utterance]]:
    """``count`` distinct (female, male) pairs spread over speakers and utterances.

    Utterances are used in turn, so that their use counts differ by one at most.
    """
    if count == 0:
        return []
    if not females or not males:
        raise VaesepError(
            f"{count} mixtures need female and male utterances; found "
            f"{len(females)} female and {len(males)} male"
        )
    uses = math.ceil(count / min(len(females), len(males)))
    if count > len(females) * len(males) or (max_uses is not None and uses > max_uses):
        raise VaesepError(
            f"{count} mixtures need more utterances: found {len(females)} female and "
            f"{len(males)} male (from {len({u.speaker for u in females})} and "
            f"{len({u.speaker for u in males})} speakers), "
            + (
                f"each usable in {max_uses} mixture(s) (--max-uses)"
                if max_uses is not None
                else f"{len(females) * len(males)} distinct pairs at most"
            )
        )
    fem, mal = _spread(females, rng), _spread(males, rng)
    # i -> (i mod F, i mod M) is one-to-one over lcm(F, M) steps; shifting the males by one
    # after each such cycle reaches all F*M pairs without repeating one.
    cycle = math.lcm(len(fem), len(mal))
    return [(fem[i % len(fem)], mal[(i + i // cycle) % len(mal)]) for i in range(count)]


def _spread(utts: list[Utterance], rng: np.random.Generator) -> list[Utterance]:
    """Shuffle, then interleave speakers so that neighbours come from different speakers."""
    groups: dict[str, list[Utterance]] = {}
    for u in sorted(utts, key=lambda u: u.utt_id):
        groups.setdefault(u.speaker, []).append(u)
    queues = [[g[i] for i in rng.permutation(len(g))] for g in groups.values()]
    queues = [queues[i] for i in rng.permutation(len(queues))]
    longest = max(len(q) for q in queues)
    return [q[i] for i in range(longest) for q in queues if i < len(q)]


def _plan_readable(
    pools: dict[str, list[Utterance]], options: MixOptions, skipped: list[dict[str, str]]
) -> tuple[dict[str, list[_Plan]], dict[Path, int]]:
    """Pair utterances, read the chosen ones, drop unreadable ones and pair again until clean."""
    rates: dict[Path, int] = {}
    bad: set[Path] = set()
    while True:
        plans = {}
        for n, split in enumerate(SPLITS):
            count = options.num_train if split == "train" else options.num_test
            good = [u for u in pools[split] if u.path not in bad]
            rng = np.random.default_rng([options.seed, 2, n])
            try:
                pairs = pair_utterances(
                    [u for u in good if u.gender == "F"],
                    [u for u in good if u.gender == "M"],
                    count,
                    rng,
                    options.max_uses,
                )
            except VaesepError as exc:
                raise VaesepError(f"{split} split: {exc}") from None
            plans[split] = [_Plan(split, i, f, m) for i, (f, m) in enumerate(pairs)]
        needed = sorted({u.path for ps in plans.values() for p in ps for u in (p.female, p.male)})
        fresh = [p for p in needed if p not in rates]
        if not fresh:
            return plans, rates
        for path, result in zip(fresh, _run(_probe, fresh), strict=True):
            if isinstance(result, int):
                rates[path] = result
            else:
                log.warning("skipping %s: %s", path, result)
                skipped.append({"path": str(path), "reason": result})
                bad.add(path)


def _probe(path: Path) -> int | str:
    """The file's sample rate, or why it cannot be used."""
    try:
        signal, rate = load_audio(path)
    except VaesepError as exc:
        return str(exc).removeprefix(f"{path}: ")
    if not np.any(signal):
        return "silent (all samples are zero)"
    return rate


def _note_resampling(rates: dict[Path, int], sample_rate: int) -> None:
    other = sorted({r for r in rates.values() if r != sample_rate})
    if other:
        count = sum(r != sample_rate for r in rates.values())
        log.info(
            "%d of %d files are at %s Hz; resampling them to %d Hz",
            count,
            len(rates),
            "/".join(map(str, other)),
            sample_rate,
        )


def _make_mixture(plan: _Plan, out_dir: Path, options: MixOptions) -> dict:
    """Build and write one mixture and its two references; return its mixtures.csv row."""
    sr = options.sample_rate
    rng = np.random.default_rng([options.seed, 3, SPLITS.index(plan.split), plan.index])
    female, f_start = _crop(load_audio(plan.female.path, sr)[0], options.crop, sr, rng)
    male, m_start = _crop(load_audio(plan.male.path, sr)[0], options.crop, sr, rng)
    female, male = _common_length(female, male, options.length)
    snr = float(rng.uniform(*options.snr_range)) if options.snr_range else options.snr_db
    female, male = _set_levels(female, male, snr, options.level)
    peak = max(np.abs(female).max(), np.abs(male).max(), np.abs(female + male).max())
    gain = min(1.0, PEAK_LIMIT / peak) if peak > 0 else 1.0
    female = (female * gain).astype(np.float32)
    male = (male * gain).astype(np.float32)
    stem = out_dir / "wav" / plan.split / plan.utt_id
    paths = {k: stem.parent / f"{stem.name}_{k}.wav" for k in ("mix", "female", "male")}
    save_audio(paths["mix"], female + male, sr)
    save_audio(paths["female"], female, sr)
    save_audio(paths["male"], male, sr)
    return {
        "utt_id": plan.utt_id,
        "female_path": str(plan.female.path),
        "female_start_s": round(f_start / sr, 4),
        "male_path": str(plan.male.path),
        "male_start_s": round(m_start / sr, 4),
        "seconds": round(len(female) / sr, 4),
        "snr_db": round(snr, 3),
        "gain": round(float(gain), 4),
        **{f"{k}_wav": str(v.resolve()) for k, v in paths.items()},
    }


def _crop(
    signal: np.ndarray, crop: tuple[float, float] | None, sr: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """A random segment of ``crop`` seconds (redrawn while mostly silent) and its start."""
    if crop is None:
        return signal, 0
    length = int(round(rng.uniform(*crop) * sr))
    if len(signal) <= length:
        return signal, 0
    full = _rms(signal)
    best = (-1.0, 0)
    for _ in range(_CROP_TRIES):
        start = int(rng.integers(0, len(signal) - length + 1))
        level = _rms(signal[start : start + length])
        best = max(best, (level, start))
        if level >= 0.25 * full:
            break
    return signal[best[1] : best[1] + length], best[1]


def _common_length(a: np.ndarray, b: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    if mode == "min":
        n = min(len(a), len(b))
        return a[:n], b[:n]
    n = max(len(a), len(b))
    return np.pad(a, (0, n - len(a))), np.pad(b, (0, n - len(b)))


def _set_levels(
    female: np.ndarray, male: np.ndarray, snr_db: float, level: str
) -> tuple[np.ndarray, np.ndarray]:
    """Equal level (RMS or peak), then the female-to-male ratio split evenly between both."""
    measure, target = (_rms, TARGET_RMS) if level == "rms" else (_peak, TARGET_PEAK)
    half = 10 ** (snr_db / 40)
    return (
        female * (target * half / max(measure(female), 1e-9)),
        male * (target / half / max(measure(male), 1e-9)),
    )


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def _peak(x: np.ndarray) -> float:
    return float(np.abs(x).max()) if len(x) else 0.0


def _run(func: Callable[[T], R], items: Iterable[T]) -> list[R]:
    with ThreadPoolExecutor(_WORKERS) as pool:
        return list(pool.map(func, items))


def _check_out_dir(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise VaesepError(f"{out_dir}: exists and is not a directory; choose another OUT_DIR")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise VaesepError(f"{out_dir}: exists and is not empty; pass --force to write into it")


def _check_corpus(corpus: Corpus) -> None:
    for gender, word in (("F", "female"), ("M", "male")):
        if not corpus.speakers(gender):
            raise VaesepError(
                f"{corpus.root}: no {word} speakers found among {len(corpus.utterances)} "
                "utterances; mixtures need both genders"
            )
    seen: dict[str, Path] = {}
    for u in corpus.utterances:
        if u.utt_id in seen:
            raise VaesepError(
                f"{corpus.root}: utterance id {u.utt_id!r} is used by {seen[u.utt_id]} and "
                f"{u.path}; ids must be unique"
            )
        seen[u.utt_id] = u.path


def _clear_previous(out_dir: Path) -> None:
    """Remove the files an earlier run wrote here (and nothing else)."""
    for split in SPLITS:
        for name in OUTPUT_FILES:
            (out_dir / split / name).unlink(missing_ok=True)
        for kind in ("mix", "female", "male"):
            for path in (out_dir / "wav" / split).glob(f"*_{kind}.wav"):
                path.unlink()


def _write_split(folder: Path, plans: list[_Plan], records: list[dict]) -> None:
    write_datadir(
        folder,
        mixtures={r["utt_id"]: r["mix_wav"] for r in records},
        sources={
            "female": {r["utt_id"]: r["female_wav"] for r in records},
            "male": {r["utt_id"]: r["male_wav"] for r in records},
        },
        utt2spk={p.utt_id: p.female.speaker for p in plans},
    )
    columns = [k for k in records[0] if not k.endswith("_wav")]
    with (folder / "mixtures.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(sorted(records, key=lambda r: r["utt_id"]))


def _split_summary(plans: list[_Plan], records: list[dict]) -> dict:
    females = [p.female for p in plans]
    males = [p.male for p in plans]
    uses = Counter(u.utt_id for u in females) + Counter(u.utt_id for u in males)
    return {
        "mixtures": len(plans),
        "seconds": round(sum(r["seconds"] for r in records), 3),
        "female_speakers": sorted({u.speaker for u in females}),
        "male_speakers": sorted({u.speaker for u in males}),
        "female_utterances": len({u.utt_id for u in females}),
        "male_utterances": len({u.utt_id for u in males}),
        "max_uses": max(uses.values()),
    }
