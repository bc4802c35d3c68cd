"""What the readers of ready-made two-speaker corpora (:mod:`~vaesep.data.corpora.libri2mix`,
:mod:`~vaesep.data.corpora.wsj0_2mix`) share: the :class:`Mixture` record, checks of the request
and the tree, and :func:`write_female_male`, which keeps the female+male mixtures of each split,
puts the female source in ``spk1.scp`` and the male one in ``spk2.scp`` and writes the data dirs
(pointing at the corpus's files; no audio is copied) and ``prepare.json``.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vaesep.data.datadir import check_replaceable, replacing, write_datadir
from vaesep.errors import VaesepError
from vaesep.version import __version__

SUMMARY_FILE = "prepare.json"
RATES = ("8k", "16k")
MODES = ("min", "max")


@dataclass(frozen=True)
class Mixture:
    """One two-speaker mixture of a corpus: its files, speakers and their genders (F/M), in
    the corpus's source order (s1, s2), and the list file that named it."""

    utt_id: str
    mixture: Path
    sources: tuple[Path, Path]
    speakers: tuple[str, str]
    genders: tuple[str, str]
    listed_in: Path


def check_request(out_dir: Path, command: str, force: bool, num_train: int | None) -> None:
    """Refuse an ``out_dir`` that may not be replaced, and a ``num_train`` under 1."""
    check_replaceable(out_dir, SUMMARY_FILE, command, force)
    if num_train is not None and num_train < 1:
        raise VaesepError(f"--num-train {num_train}: must be at least 1 (or left out for all)")


def choose(option: str, value: str, allowed: Sequence[str]) -> None:
    """Refuse a ``value`` of ``option`` that is not one of ``allowed``."""
    if value not in allowed:
        raise VaesepError(f"{option} {value!r}: use one of {', '.join(allowed)}")


def gender_of(genders: dict[str, str], speaker: str, utt_id: str, where: str, option: str) -> str:
    """The gender of ``speaker`` (of mixture ``utt_id``) in the table read from ``where``."""
    if speaker not in genders:
        raise VaesepError(
            f"{where}: no gender for speaker {speaker} (of mixture {utt_id}); add it or pass a "
            f"complete list with {option}"
        )
    return genders[speaker]


def check_folder(folder: Path, ids: set[str], listed_in: Path) -> None:
    """Refuse a ``folder`` of the tree holding ``.wav`` files that ``listed_in`` does not list."""
    if not folder.is_dir():
        return
    strays = sorted(p.name for p in folder.glob("*.wav") if p.stem not in ids)
    if strays:
        raise VaesepError(
            f"{folder}: {len(strays)} file(s) not listed in {listed_in} (e.g. {strays[0]}); "
            "regenerate the folder with its list, or remove the strays"
        )


def write_female_male(
    out_dir: Path,
    splits: dict[str, list[Mixture]],
    corpus: dict,
    num_train: int | None = None,
    seed: int = 0,
) -> dict:
    """Write ``out_dir/<split>/`` data dirs of the female+male ``splits`` and ``prepare.json``
    (``corpus`` says what was read); ``num_train`` of the training ones (seeded) if given.

    Returns the summary written to prepare.json.
    """
    chosen: dict[str, list[Mixture]] = {}
    counts: dict[str, dict] = {}
    for split, mixtures in splits.items():
        lists = sorted({str(m.listed_in) for m in mixtures})
        ids = Counter(m.utt_id for m in mixtures)
        twice = [utt for utt, n in ids.items() if n > 1]
        if twice:
            raise VaesepError(
                f"{', '.join(lists)}: mixture {twice[0]} is listed twice in the {split} "
                "split; list each mixture once"
            )
        kept = [m for m in mixtures if sorted(m.genders) == ["F", "M"]]
        if not kept:
            raise VaesepError(
                f"{', '.join(lists)}: none of its {len(mixtures)} mixtures pairs a female with "
                "a male speaker; check the speaker genders"
            )
        pairs = Counter("+".join(m.genders) for m in mixtures)
        counts[split] = {
            "lists": lists,
            "mixtures": len(mixtures),
            "kept": len(kept),
            "dropped_same_gender": len(mixtures) - len(kept),
            "female_female": pairs["F+F"],
            "male_male": pairs["M+M"],
        }
        if split == "train" and num_train is not None and num_train < len(kept):
            kept = random.Random(seed).sample(kept, num_train)
        chosen[split] = kept
        counts[split] |= {
            "written": len(kept),
            "female_speakers": len({m.speakers[m.genders.index("F")] for m in kept}),
            "male_speakers": len({m.speakers[m.genders.index("M")] for m in kept}),
        }
    summary = {
        "vaesep_version": __version__,
        "corpus": corpus,
        "num_train": num_train,
        "seed": seed,
        "kept": sum(c["kept"] for c in counts.values()),
        "dropped_same_gender": sum(c["dropped_same_gender"] for c in counts.values()),
        "splits": counts,
    }
    with replacing(out_dir) as tmp:
        for split, kept in chosen.items():
            write_datadir(
                tmp / split,
                mixtures={m.utt_id: str(m.mixture) for m in kept},
                sources={
                    name: {m.utt_id: str(m.sources[m.genders.index(gender)]) for m in kept}
                    for name, gender in (("female", "F"), ("male", "M"))
                },
                utt2spk={m.utt_id: m.speakers[m.genders.index("F")] for m in kept},
            )
        (tmp / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
