"""The speaker-pair protocol of Subakan & Smaragdis (ICASSP 2018): one model per speaker.

N random (dialect region, female, male) speaker triples are drawn from the corpus's train
split. Per pair the closest-length female/male utterance pair is the single test mixture and
all other utterances of the two speakers make the training mixtures (speaker-dependent), each
mixture at 0 dB with the shorter source zero-padded. ``prepare_pairs`` writes
``OUT/<pair_id>/{train,test}/`` data dirs, the audio under ``OUT/<pair_id>/wav/`` and, last,
``OUT/pairs.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np

from vaesep.data.corpora import Corpus, Utterance
from vaesep.data.mixing import MixOptions, MixturePlan, make_mixture
from vaesep.data.preparation import (
    _check_corpus,
    _check_out_dir,
    _clear_previous,
    _note_resampling,
    _probe,
    _run,
    _write_split,
)
from vaesep.errors import VaesepError, log
from vaesep.io.atomic import write_text_atomic
from vaesep.io.audio import audio_info
from vaesep.version import __version__

NO_DIALECT = "all"  # the one group of a corpus without dialect regions
_STREAM = 5  # random stream of the triple draw (pairing and mixing use 1 to 3)

Key = tuple[str, str, str]  # (dialect, gender, speaker)


@dataclass
class PairOptions:
    """How speaker pairs are drawn and mixed; the defaults follow the paper (25 pairs)."""

    num_pairs: int = 25
    seed: int = 0
    split: str = "train"  # corpus split the speakers come from; "all": ignore the split
    min_utterances: int = 3  # speakers with fewer readable utterances are left out
    sample_rate: int = 16000
    force: bool = False

    def validate(self) -> None:
        """Raise VaesepError naming the first bad option."""
        if self.num_pairs < 1:
            raise VaesepError(f"--pairs {self.num_pairs}: use 1 or more")
        if self.split not in ("train", "all"):
            raise VaesepError(f"--split {self.split!r}: use train or all")
        if self.min_utterances < 2:
            raise VaesepError(
                f"--min-utterances {self.min_utterances}: use 2 or more (one utterance is "
                "tested, the others train)"
            )
        if self.sample_rate < 1000:
            raise VaesepError(f"--sample-rate {self.sample_rate}: use a rate such as 16000")


@dataclass(frozen=True)
class SpeakerPair:
    """One female + male speaker pair: its single test mixture and its training mixtures."""

    pair_id: str
    dialect: str
    female: str
    male: str
    test: MixturePlan
    train: list[MixturePlan]


def plan_pairs(
    corpus: Corpus, options: PairOptions, skipped: list[dict[str, str]] | None = None
) -> list[SpeakerPair]:
    """Draw ``options.num_pairs`` distinct (dialect, female, male) triples and plan their mixtures.

    Triples whose speakers no other pair uses are preferred; speakers are shared only when
    there are too few. Only the drawn speakers' files are read: unreadable or silent ones are
    skipped (and appended to ``skipped``) and the draw is repeated without speakers left with
    fewer than ``min_utterances``. Every utterance of both speakers is used: the test pair is
    the (female, male) utterance pair closest in length (ties: by ids); the others, each
    speaker's sorted by length, are paired in turn, and the extra ones of the speaker with more
    are paired again with the other's from the shortest on.
    """
    options.validate()
    _check_corpus(corpus)
    speakers = _speakers(corpus, options)
    lengths: dict[Path, int] = {}
    rates: dict[Path, int] = {}
    bad: set[Path] = set()
    while True:
        speakers = {k: [u for u in us if u.path not in bad] for k, us in speakers.items()}
        for key in [k for k, us in speakers.items() if len(us) < options.min_utterances]:
            log.warning(
                "leaving out speaker %s: %d usable utterances (--min-utterances %d)",
                key[2],
                len(speakers.pop(key)),
                options.min_utterances,
            )
        chosen = _draw(sorted(speakers), corpus, options)
        fresh = sorted({u.path for pair in chosen for k in pair for u in speakers[k]} - set(rates))
        if not fresh:
            break
        for path, result in zip(fresh, _run(_probe, fresh)):
            if isinstance(result, str):
                log.warning("skipping %s: %s", path, result)
                bad.add(path)
                if skipped is not None:
                    skipped.append({"path": str(path), "reason": result})
            else:
                rates[path] = result
                frames = audio_info(path).frames
                lengths[path] = math.ceil(frames * options.sample_rate / result)
    _note_resampling(rates, options.sample_rate)
    width = max(2, len(str(len(chosen))))
    return [
        _plan_pair(f"p{n:0{width}d}-{f[0]}-{f[2]}-{m[2]}", f, m, speakers, lengths)
        for n, (f, m) in enumerate(sorted(chosen), start=1)
    ]


def _speakers(corpus: Corpus, options: PairOptions) -> dict[Key, list[Utterance]]:
    """``(dialect, gender, speaker)`` → the speaker's utterances in the chosen split."""
    utts = [u for u in corpus.utterances if options.split in ("all", u.split)]
    if not utts:
        raise VaesepError(
            f"{corpus.root}: no utterances in a {options.split!r} split; pass --split all to "
            "draw speakers from the whole corpus"
        )
    with_dialect = all("dialect" in u.meta for u in utts)
    speakers: dict[Key, list[Utterance]] = {}
    for u in sorted(utts, key=lambda u: u.utt_id):
        dialect = str(u.meta["dialect"]) if with_dialect else NO_DIALECT
        speakers.setdefault((dialect, u.gender, u.speaker), []).append(u)
    return speakers


def _draw(keys: list[Key], corpus: Corpus, options: PairOptions) -> list[tuple[Key, Key]]:
    """Distinct (female, male) speakers of one dialect, in a seeded random order, each time
    the first of those sharing the fewest speakers with the pairs drawn before."""
    triples = [(f, m) for f in keys for m in keys if f[0] == m[0] and (f[1], m[1]) == ("F", "M")]
    if len(triples) < options.num_pairs:
        raise VaesepError(
            f"--pairs {options.num_pairs}: only {len(triples)} (dialect, female, male) "
            f"speaker triples with >= {options.min_utterances} utterances in {corpus.root} "
            f"({options.split} split); pass --pairs {len(triples)} or use a larger corpus "
            "(e.g. vaesep synth-corpus --speakers-per-gender 24)"
        )
    rng = np.random.default_rng([options.seed, _STREAM])
    remaining = [triples[i] for i in rng.permutation(len(triples))]
    used: set[Key] = set()
    chosen = []
    for _ in range(options.num_pairs):
        best = min(range(len(remaining)), key=lambda i: len(used.intersection(remaining[i])))
        chosen.append(remaining.pop(best))
        used.update(chosen[-1])
    return chosen


def _plan_pair(
    pair_id: str,
    female: Key,
    male: Key,
    speakers: dict[Key, list[Utterance]],
    lengths: dict[Path, int],
) -> SpeakerPair:
    """The closest-length pair to test; the rest, sorted by length, paired in turn to train."""
    test = min(
        ((f, m) for f in speakers[female] for m in speakers[male]),
        key=lambda p: (abs(lengths[p[0].path] - lengths[p[1].path]), p[0].utt_id, p[1].utt_id),
    )
    fem, mal = (
        sorted((u for u in speakers[k] if u not in test), key=lambda u: (lengths[u.path], u.utt_id))
        for k in (female, male)
    )
    train = [
        MixturePlan("train", i, fem[i % len(fem)], mal[i % len(mal)])
        for i in range(max(len(fem), len(mal)))
    ]
    return SpeakerPair(pair_id, female[0], female[2], male[2], MixturePlan("test", 0, *test), train)


def prepare_pairs(corpus: Corpus, out_dir: str | Path, options: PairOptions | None = None) -> dict:
    """Write ``out_dir/<pair_id>/{train,test}/`` data dirs (audio in ``<pair_id>/wav/``) and,
    once all are complete, ``out_dir/pairs.json``; return what pairs.json holds."""
    options = options or PairOptions()
    options.validate()
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, options.force)
    skipped = list(corpus.skipped)
    pairs = plan_pairs(corpus, options, skipped)
    mix = MixOptions(
        seed=options.seed, snr_db=0.0, level="rms", length="max", sample_rate=options.sample_rate
    )
    index = out_dir / "pairs.json"
    if options.force:
        for pair_id in {p.pair_id for p in pairs} | set(_previous_ids(index)):
            _clear_previous(out_dir / pair_id)
        index.unlink(missing_ok=True)
    rows = []
    for pair in pairs:
        folder, seconds = out_dir / pair.pair_id, {}
        for split, plans in (("train", pair.train), ("test", [pair.test])):
            records = _run(partial(make_mixture, out_dir=folder, options=mix), plans)
            _write_split(folder / split, plans, records)
            seconds[split] = round(sum(r["seconds"] for r in records), 3)
        rows.append(
            {
                "id": pair.pair_id,
                "dialect": pair.dialect,
                "female": pair.female,
                "male": pair.male,
                "test": pair.test.utt_id,
                "train": [p.utt_id for p in pair.train],
                "seconds": seconds,
            }
        )
    summary = {
        "vaesep_version": __version__,
        "corpus": {"type": corpus.kind, "root": str(corpus.root.resolve())},
        "options": {k: v for k, v in asdict(options).items() if k != "force"},
        "pairs": rows,
        "skipped": skipped,
    }
    write_text_atomic(index, json.dumps(summary, indent=2) + "\n")
    return summary


def _previous_ids(index: Path) -> list[str]:
    """The pair ids listed in an earlier run's pairs.json (none if it is missing or damaged)."""
    try:
        return [row["id"] for row in json.loads(index.read_text(encoding="utf-8"))["pairs"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
