"""Manifest reader: a CSV with columns ``path,speaker,gender`` and optionally ``split``.

Other columns are ignored; relative paths are relative to the CSV's folder; gender is F, M,
female or male in any case; split is train, test or empty.
"""

from __future__ import annotations

import csv
from pathlib import Path

from vaesep.corpora.base import SPLITS, Corpus, Utterance, parse_gender, safe_id
from vaesep.errors import VaesepError

REQUIRED = ("path", "speaker", "gender")


def read_manifest(path: str | Path) -> Corpus:
    """Utterances listed in the CSV at ``path``; errors name the line at fault."""
    path = Path(path)
    if not path.is_file():
        raise VaesepError(f"{path}: no such manifest; pass a CSV with columns path,speaker,gender")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = [(name or "").strip().lower() for name in reader.fieldnames or []]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise VaesepError(
                f"{path}: missing column(s) {', '.join(missing)}; the first line must name "
                f"path,speaker,gender (found: {','.join(header) or 'nothing'})"
            )
        reader.fieldnames = header
        utterances: list[Utterance] = []
        seen: dict[str, int] = {}
        for row in reader:
            if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
                continue
            utt = _utterance(path, reader.line_num, row)
            if utt.utt_id in seen:
                raise VaesepError(
                    f"{path}:{reader.line_num}: utterance id {utt.utt_id!r} repeats line "
                    f"{seen[utt.utt_id]}; give each file of a speaker its own name"
                )
            seen[utt.utt_id] = reader.line_num
            utterances.append(utt)
    if not utterances:
        raise VaesepError(f"{path}: no rows; list one audio file per line as path,speaker,gender")
    return Corpus("manifest", path.resolve(), utterances)


def _utterance(manifest: Path, line: int, row: dict[str, str]) -> Utterance:
    where = f"{manifest}:{line}"
    values = {key: (row.get(key) or "").strip() for key in (*REQUIRED, "split")}
    if not values["path"] or not safe_id(values["speaker"]):
        raise VaesepError(f"{where}: empty path or speaker; every row needs path,speaker,gender")
    gender = parse_gender(values["gender"])
    if gender is None:
        raise VaesepError(f"{where}: gender {values['gender']!r} is not F, M, female or male")
    split = values["split"].lower() or None
    if split is not None and split not in SPLITS:
        raise VaesepError(f"{where}: split {values['split']!r} is not train, test or empty")
    audio = Path(values["path"]).expanduser()
    if not audio.is_absolute():
        audio = manifest.resolve().parent / audio
    speaker = safe_id(values["speaker"])
    stem = safe_id(audio.name.split(".", 1)[0])
    return Utterance(
        path=audio,
        speaker=speaker,
        gender=gender,
        utt_id=stem if stem.startswith(speaker) else f"{speaker}_{stem}",
        split=split,
    )
