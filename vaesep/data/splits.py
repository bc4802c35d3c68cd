"""Which utterances are mixed: the train/test split and the female + male pairs of each split.

Both are drawn from ``MixOptions.seed``, so the same corpus and options give the same plans;
no audio is read here.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from vaesep.data.corpora import SPLITS, Corpus, Utterance
from vaesep.data.mixing import MixOptions, MixturePlan
from vaesep.errors import VaesepError, log


def split_utterances(corpus: Corpus, options: MixOptions) -> tuple[dict[str, list[Utterance]], str]:
    """Train and test pools, and where the split came from: corpus, speakers or utterances.

    The corpus's own split is used when every utterance has one and both occur (unless
    ``options.split`` is ``random``); otherwise speakers (or, with overlap allowed,
    utterances) are split at random per gender, in proportion to the requested counts.
    """
    utts = corpus.utterances
    labels = {u.split for u in utts}
    wanted = {s for s, n in zip(SPLITS, (options.num_train, options.num_test)) if n}
    # the corpus's split, whole or (e.g. a held-out manifest of test utterances) the part asked
    if options.split == "corpus" and labels in (set(SPLITS), wanted):
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


def plan_mixtures(
    pools: dict[str, list[Utterance]], options: MixOptions, exclude: set[Path]
) -> dict[str, list[MixturePlan]]:
    """The mixtures of each split, paired from its pool without the files in ``exclude``."""
    plans = {}
    for n, split in enumerate(SPLITS):
        count = options.num_train if split == "train" else options.num_test
        good = [u for u in pools[split] if u.path not in exclude]
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
        plans[split] = [MixturePlan(split, i, f, m) for i, (f, m) in enumerate(pairs)]
    return plans
