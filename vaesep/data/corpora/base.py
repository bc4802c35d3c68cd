"""What every corpus reader shares: the utterance and corpus records, gender words, safe ids."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GENDERS = ("F", "M")
SPLITS = ("train", "test")

_GENDER_WORDS = {"f": "F", "female": "F", "m": "M", "male": "M"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Utterance:
    """One recording of one speaker; ``utt_id`` is unique and starts with the speaker id."""

    path: Path
    speaker: str
    gender: str  # "F" or "M"
    utt_id: str
    split: str | None = None  # "train", "test" or None when the corpus has no split
    text: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Corpus:
    """What a reader found: the utterances, and the files it passed over with the reason."""

    kind: str
    root: Path
    utterances: list[Utterance]
    skipped: list[dict[str, str]] = field(default_factory=list)

    def speakers(self, gender: str | None = None) -> list[str]:
        """Sorted speaker ids, of one gender if given."""
        return sorted({u.speaker for u in self.utterances if gender in (None, u.gender)})


def parse_gender(value: str) -> str | None:
    """``F``/``M`` for F, M, female, male (any case, spaces ignored); None otherwise."""
    return _GENDER_WORDS.get(value.strip().lower())


def safe_id(value: str) -> str:
    """``value`` with runs of characters unsafe in Kaldi ids replaced by ``-``."""
    return _UNSAFE.sub("-", value.strip()).strip("-")
