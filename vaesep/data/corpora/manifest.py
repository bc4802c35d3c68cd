"""Manifest reader: a CSV with columns ``path,speaker,gender`` and optionally ``split``.

Other columns are ignored; relative paths are relative to the CSV's folder; gender is F, M,
female or male in any case; split is train, test or empty. Utterance ids are the speaker and
the file name; files of one speaker with the same name in different folders get their
folders appended, so every id is unique; a file listed twice is an error.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

from vaesep.data.corpora.base import SPLITS, Corpus, Utterance, parse_gender, safe_id
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
        lines: dict[Path, int] = {}
        for row in reader:
            if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
                continue
            utt = _utterance(path, reader.line_num, row)
            if utt.path in lines:
                raise VaesepError(
                    f"{path}:{reader.line_num}: {utt.path} is listed again (line "
                    f"{lines[utt.path]}); list every file once"
                )
            lines[utt.path] = reader.line_num
            utterances.append(utt)
    if not utterances:
        raise VaesepError(f"{path}: no rows; list one audio file per line as path,speaker,gender")
    return Corpus("manifest", path.resolve(), _unique_ids(utterances))


def _unique_ids(utterances: list[Utterance]) -> list[Utterance]:
    """Files of one speaker with the same name in different folders (``train/SF1/1.wav``,
    ``eval/SF1/1.wav``) get the folders in which their paths differ appended to the id
    (``SF1_1-train``, ``SF1_1-eval``; by the extension where only that differs); other ids
    stay as they are."""
    groups: dict[str, list[int]] = {}
    for i, utt in enumerate(utterances):
        groups.setdefault(utt.utt_id, []).append(i)
    out = list(utterances)
    for indices in groups.values():
        if len(indices) == 1:
            continue
        folders = [utterances[i].path.parent.parts for i in indices]
        suffixes = [safe_id("-".join(d)) for d in _differing(folders)]
        if len(set(suffixes)) < len(suffixes):  # the same folder: tell them by the extension
            suffixes = [
                safe_id(f"{s}-{utterances[i].path.suffix[1:]}") for s, i in zip(suffixes, indices)
            ]
        for i, suffix in zip(indices, suffixes):
            if suffix:
                out[i] = replace(utterances[i], utt_id=f"{utterances[i].utt_id}-{suffix}")
    ids = [utt.utt_id for utt in out]
    if len(set(ids)) < len(ids):
        twice = next(i for i in ids if ids.count(i) > 1)
        raise VaesepError(f"utterance id {twice!r} repeats even with its folders; rename a file")
    return out


def _differing(folders: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Each folder's parts without the leading and trailing parts all of them share."""
    head = 0
    while all(len(f) > head and f[head] == folders[0][head] for f in folders):
        head += 1
    tail = 0
    while all(len(f) - tail > head and f[-1 - tail] == folders[0][-1 - tail] for f in folders):
        tail += 1
    return [f[head : len(f) - tail] for f in folders]


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
