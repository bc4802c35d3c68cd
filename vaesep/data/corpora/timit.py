"""TIMIT reader: ``ROOT/{TRAIN,TEST}/DR1..DR8/<F|M>XXXn/<SA|SI|SX>n.WAV`` in any letter case.

Audio may be NIST SPHERE (as on the LDC discs) or RIFF; only names are read at scan time,
plus the small ``.TXT`` transcripts (``<start> <end> <text>``).
"""

from __future__ import annotations

import re
from pathlib import Path

from vaesep.data.corpora.base import Corpus, Utterance
from vaesep.errors import VaesepError

_DIALECT = re.compile(r"dr[1-8]")
_SPEAKER = re.compile(r"[fm][a-z0-9]+")
_SENTENCE = re.compile(r"(sa|si|sx)\d+")
_WRAPPERS = ("timit", "data")  # folders that may hold TRAIN/ and TEST/ (TIMIT/, timit/TIMIT/ ...)


def find_timit_root(root: str | Path) -> Path:
    """The folder holding TRAIN/ and/or TEST/: ``root`` itself or a TIMIT/ or data/ below it."""
    root = Path(root)
    if not root.is_dir():
        raise VaesepError(f"{root}: no such directory; pass the TIMIT folder that holds TRAIN/")
    found = _search(root, depth=3)
    if found is None:
        raise VaesepError(
            f"{root}: no TIMIT layout found; expected TRAIN/ or TEST/ with DR1..DR8/<speaker>/ "
            "folders (here or in a TIMIT/ folder below)"
        )
    return found


def _search(folder: Path, depth: int) -> Path | None:
    children = _subdirs(folder)
    if any(c.name.lower() in ("train", "test") for c in children):
        return folder
    if depth == 0:
        return None
    for child in children:
        if child.name.lower() in _WRAPPERS and (found := _search(child, depth - 1)):
            return found
    return None


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir())


def read_timit(root: str | Path, include_sa: bool = False) -> Corpus:
    """All SI and SX utterances (and SA ones if ``include_sa``) with TIMIT's train/test split.

    ``meta`` holds ``dialect`` (DR1..DR8) and ``sentence_type`` (SA, SI or SX); utterance ids
    are ``<SPEAKER>_<SENTENCE>`` such as ``FAKS0_SX13``.
    """
    base = find_timit_root(root)
    keep = ("SA", "SI", "SX") if include_sa else ("SI", "SX")
    utterances: list[Utterance] = []
    skipped: list[dict[str, str]] = []
    for split_dir in _subdirs(base):
        split = split_dir.name.lower()
        if split not in ("train", "test"):
            continue
        for dialect_dir in _subdirs(split_dir):
            if not _DIALECT.fullmatch(dialect_dir.name.lower()):
                continue
            for speaker_dir in _subdirs(dialect_dir):
                if _SPEAKER.fullmatch(speaker_dir.name.lower()):
                    utts, skips = _read_speaker(speaker_dir, split, dialect_dir.name.upper())
                    utterances.extend(u for u in utts if u.meta["sentence_type"] in keep)
                    skipped.extend(skips)
    if not utterances:
        raise VaesepError(
            f"{base}: no TIMIT utterances found; expected <SPEAKER>/SI*.WAV or SX*.WAV files "
            "under TRAIN/DR1..DR8 and TEST/DR1..DR8"
        )
    return Corpus("timit", base, utterances, skipped)


def _read_speaker(
    folder: Path, split: str, dialect: str
) -> tuple[list[Utterance], list[dict[str, str]]]:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    texts = {p.name.lower(): p for p in files if p.suffix.lower() == ".txt"}
    chosen: dict[str, Path] = {}
    skipped = []
    for path in files:
        if path.suffix.lower() != ".wav":
            continue
        sentence = path.name.split(".", 1)[0].lower()
        if not _SENTENCE.fullmatch(sentence):
            skipped.append({"path": str(path), "reason": "not a TIMIT sentence name (SA/SI/SX)"})
        elif sentence not in chosen or len(path.name) < len(chosen[sentence].name):
            chosen[sentence] = path  # SA1.WAV rather than a converted copy such as SA1.WAV.wav
    speaker = folder.name.upper()
    utterances = [
        Utterance(
            path=path,
            speaker=speaker,
            gender=speaker[0],
            utt_id=f"{speaker}_{sentence.upper()}",
            split=split,
            text=_read_text(texts.get(f"{sentence}.txt")),
            meta={"dialect": dialect, "sentence_type": sentence[:2].upper()},
        )
        for sentence, path in sorted(chosen.items())
    ]
    return utterances, skipped


def _read_text(path: Path | None) -> str | None:
    """The words of a TIMIT ``.TXT`` file (``<start> <end> <words>``), or None."""
    if path is None:
        return None
    parts = path.read_text(encoding="utf-8", errors="replace").split(maxsplit=2)
    return parts[2].strip() if len(parts) == 3 else None
