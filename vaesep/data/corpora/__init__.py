"""Speech corpora as lists of :class:`Utterance` records, whatever their layout on disk.

Readers: TIMIT (``timit``), LibriSpeech (``librispeech``) and a CSV manifest (``manifest``);
``synth`` builds a TIMIT-layout corpus with text-to-speech.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vaesep.data.corpora.base import GENDERS, SPLITS, Corpus, Utterance, parse_gender, safe_id
from vaesep.data.corpora.librispeech import read_librispeech
from vaesep.data.corpora.manifest import read_manifest
from vaesep.data.corpora.timit import read_timit
from vaesep.errors import VaesepError

CORPUS_KINDS = ("timit", "librispeech", "manifest")
_READERS = {"timit": read_timit, "librispeech": read_librispeech, "manifest": read_manifest}


def load_corpus(kind: str, root: str | Path, **options: Any) -> Corpus:
    """Read a corpus of ``kind`` (one of CORPUS_KINDS); ``options`` go to that reader."""
    if kind not in _READERS:
        raise VaesepError(f"unknown corpus type {kind!r}; use one of {', '.join(CORPUS_KINDS)}")
    return _READERS[kind](root, **options)


__all__ = [
    "CORPUS_KINDS",
    "GENDERS",
    "SPLITS",
    "Corpus",
    "Utterance",
    "load_corpus",
    "parse_gender",
    "safe_id",
]
