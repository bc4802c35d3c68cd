"""LibriSpeech reader: ``ROOT/<subset>/<speaker>/<chapter>/*.flac``, genders from SPEAKERS.TXT."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vaesep.data.corpora.base import Corpus, Utterance, parse_gender, safe_id
from vaesep.errors import VaesepError
from vaesep.io.audio import is_audio_file

SPEAKERS_FILE = "SPEAKERS.TXT"


def read_speakers(path: str | Path) -> dict[str, str]:
    """``{speaker_id: "F"|"M"}`` from a SPEAKERS.TXT (``ID | SEX | SUBSET | MINUTES | NAME``)."""
    genders: dict[str, str] = {}
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        fields = [f.strip() for f in line.split("|")]
        if line.lstrip().startswith(";") or len(fields) < 2:
            continue
        gender = parse_gender(fields[1])
        if fields[0].isdigit() and gender:
            genders[fields[0]] = gender
    return genders


def read_librispeech(
    root: str | Path,
    train_subsets: Sequence[str] | None = None,
    test_subsets: Sequence[str] | None = None,
) -> Corpus:
    """Utterances of the train and test subsets (default: every ``train-*`` and ``test-*``).

    A subset named in both lists, or every subset when the folder has neither ``train-*`` nor
    ``test-*`` ones, gets no split. ``root`` may also be one subset folder. Speakers missing
    from SPEAKERS.TXT are skipped. ``meta`` holds ``subset`` and ``chapter``.
    """
    root = Path(root)
    if not root.is_dir():
        raise VaesepError(f"{root}: no such directory; pass the LibriSpeech folder")
    if not (root / SPEAKERS_FILE).is_file() and (root.parent / SPEAKERS_FILE).is_file():
        root, only = root.parent, [root.name]
        train_subsets = only if train_subsets is None else train_subsets
        test_subsets = [] if test_subsets is None else test_subsets
    if not (root / SPEAKERS_FILE).is_file():
        raise VaesepError(
            f"{root}: no {SPEAKERS_FILE}; pass the LibriSpeech folder that holds it and the "
            "subset folders (train-clean-100/, test-clean/ ...)"
        )
    genders = read_speakers(root / SPEAKERS_FILE)
    present = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    train = _pick(root, present, train_subsets, "train")
    test = _pick(root, present, test_subsets, "test")
    if not train and not test:
        train = test = present
    utterances: list[Utterance] = []
    skipped: list[dict[str, str]] = []
    subsets = sorted(set(train) | set(test))
    for subset in subsets:
        in_train, in_test = subset in train, subset in test
        split = None if in_train and in_test else "train" if in_train else "test"
        _scan_subset(root / subset, split, genders, utterances, skipped)
    if not utterances:
        raise VaesepError(
            f"{root}: no LibriSpeech utterances found in {', '.join(subsets)} (expected "
            "<subset>/<speaker>/<chapter>/*.flac of speakers listed in SPEAKERS.TXT)"
        )
    return Corpus("librispeech", root, utterances, skipped)


def _pick(root: Path, present: list[str], wanted: Sequence[str] | None, prefix: str) -> list[str]:
    if wanted is None:
        return [s for s in present if s.startswith(prefix)]
    missing = [s for s in wanted if s not in present]
    if missing:
        raise VaesepError(
            f"{root}: no subset {', '.join(missing)}; found {', '.join(present) or 'none'}"
        )
    return list(wanted)


def _scan_subset(
    folder: Path,
    split: str | None,
    genders: dict[str, str],
    utterances: list[Utterance],
    skipped: list[dict[str, str]],
) -> None:
    for speaker_dir in sorted(p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()):
        speaker = speaker_dir.name
        for chapter_dir in sorted(p for p in speaker_dir.iterdir() if p.is_dir()):
            files = sorted(p for p in chapter_dir.iterdir() if p.is_file() and is_audio_file(p))
            if speaker not in genders:
                skipped.extend(
                    {"path": str(p), "reason": f"speaker {speaker} not in {SPEAKERS_FILE}"}
                    for p in files
                )
                continue
            texts = _read_transcripts(chapter_dir / f"{speaker}-{chapter_dir.name}.trans.txt")
            for path in files:
                stem = safe_id(path.name.split(".", 1)[0])
                utterances.append(
                    Utterance(
                        path=path,
                        speaker=speaker,
                        gender=genders[speaker],
                        utt_id=stem if stem.startswith(f"{speaker}-") else f"{speaker}-{stem}",
                        split=split,
                        text=texts.get(stem),
                        meta={"subset": folder.name, "chapter": chapter_dir.name},
                    )
                )


def _read_transcripts(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return dict(parts for line in lines if len(parts := line.split(maxsplit=1)) == 2)
