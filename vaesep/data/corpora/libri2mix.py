"""The Libri2Mix reader: its female+male mixtures as data dirs (see :mod:`.two_speaker`).

A Libri2Mix tree (made by the LibriMix scripts) holds
``Libri2Mix/wav{8k,16k}/{min,max}/<subset>/{mix_clean,mix_both,s1,s2,noise}/<id>.wav`` and
``metadata/mixture_<subset>_<mixture>.csv`` (``mixture_ID,mixture_path,source_1_path,
source_2_path,...``); a mixture id joins two LibriSpeech utterance ids with ``_``, the speaker
id being what comes before the first ``-``. Genders come from LibriSpeech's SPEAKERS.TXT.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from vaesep.data.corpora.librispeech import SPEAKERS_FILE, read_speakers
from vaesep.data.corpora.two_speaker import (
    MODES,
    RATES,
    Mixture,
    check_folder,
    check_request,
    choose,
    gender_of,
    write_female_male,
)
from vaesep.errors import VaesepError

MIXTURE_TYPES = ("mix_clean", "mix_both")
COLUMNS = ("mixture_ID", "mixture_path", "source_1_path", "source_2_path")


def prepare_libri2mix(
    root: str | Path,
    out_dir: str | Path,
    speakers: str | Path | None = None,
    rate: str = "8k",
    mode: str = "min",
    mixture: str = "mix_clean",
    train: Sequence[str] = ("train-100",),
    test: Sequence[str] = ("test",),
    dev: Sequence[str] | None = None,
    num_train: int | None = None,
    seed: int = 0,
    force: bool = False,
) -> dict:
    """Female+male data dirs ``train/``, ``test/`` (and ``dev/``) of a Libri2Mix tree.

    ``root`` holds ``Libri2Mix/`` (or is it); ``speakers`` is LibriSpeech's SPEAKERS.TXT
    (default: ``root/LibriSpeech/SPEAKERS.TXT`` or ``root/SPEAKERS.TXT``); ``dev`` defaults
    to ``dev`` when its metadata is there. Returns the summary written to prepare.json.
    """
    root, out_dir = Path(root).absolute(), Path(out_dir)
    check_request(out_dir, "vaesep prepare libri2mix", force, num_train)
    choose("--rate", rate, RATES)
    choose("--mode", mode, MODES)
    choose("--mixture", mixture, MIXTURE_TYPES)
    base = root / "Libri2Mix" if (root / "Libri2Mix").is_dir() else root
    wav_dir = base / f"wav{rate}" / mode
    if not wav_dir.is_dir():
        raise VaesepError(
            f"{wav_dir}: no such directory; pass the folder holding Libri2Mix/ (made by the "
            "LibriMix scripts) and a --rate and --mode it was generated with"
        )
    speakers_file = _speakers_file(root, speakers)
    genders = read_speakers(speakers_file)
    if dev is None:
        dev = ["dev"] if (wav_dir / "metadata" / f"mixture_dev_{mixture}.csv").is_file() else []
    subsets = {"train": list(train), "test": list(test), "dev": list(dev)}
    if not subsets["train"] or not subsets["test"]:
        raise VaesepError("--train-subsets, --test-subsets: name at least one subset each")
    shared = sorted(set(subsets["train"]) & set(subsets["test"]))
    if shared:
        raise VaesepError(f"--train-subsets, --test-subsets: both name {shared[0]}; choose one")
    splits = {
        split: [
            m
            for subset in names
            for m in _read_subset(wav_dir, subset, mixture, genders, speakers_file)
        ]
        for split, names in subsets.items()
        if names
    }
    corpus = {
        "type": "libri2mix",
        "root": str(root),
        "genders": [str(speakers_file.absolute())],
        "rate": rate,
        "mode": mode,
        "mixture": mixture,
        "subsets": {split: names for split, names in subsets.items() if names},
    }
    return write_female_male(out_dir, splits, corpus, num_train, seed)


def _speakers_file(root: Path, given: str | Path | None) -> Path:
    if given is not None:
        if not Path(given).is_file():
            raise VaesepError(f"{given}: no such file; pass LibriSpeech's SPEAKERS.TXT")
        return Path(given)
    candidates = (root / "LibriSpeech" / SPEAKERS_FILE, root / SPEAKERS_FILE)
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise VaesepError(
            f"{root}: no LibriSpeech/{SPEAKERS_FILE} nor {SPEAKERS_FILE}; pass LibriSpeech's "
            f"{SPEAKERS_FILE} with --speakers"
        )
    return found


def _read_subset(
    wav_dir: Path, subset: str, mixture: str, genders: dict[str, str], speakers_file: Path
) -> list[Mixture]:
    """The mixtures listed in one subset's metadata CSV, their files checked."""
    listed = wav_dir / "metadata" / f"mixture_{subset}_{mixture}.csv"
    if not listed.is_file():
        raise VaesepError(
            f"{listed}: missing; generate Libri2Mix's {subset} {mixture} with the LibriMix "
            "scripts, or choose other subsets"
        )
    with listed.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise VaesepError(
                f"{listed}: no column {', '.join(missing)}; expected a LibriMix metadata CSV "
                f"({','.join(COLUMNS)},...)"
            )
        rows = list(reader)
    folder = wav_dir / subset
    mixtures = []
    for lineno, row in enumerate(rows, start=2):
        utt = (row["mixture_ID"] or "").strip()
        parts = utt.split("_")
        if len(parts) != 2 or not all(p.split("-")[0].isdigit() for p in parts):
            raise VaesepError(
                f"{listed}:{lineno}: mixture id {utt!r} is not two LibriSpeech utterance ids "
                "joined by '_'; fix the row"
            )
        files = [
            _locate((row[column] or "").strip(), folder / kind / f"{utt}.wav", listed, lineno)
            for column, kind in zip(COLUMNS[1:], (mixture, "s1", "s2"), strict=True)
        ]
        spk = (parts[0].split("-")[0], parts[1].split("-")[0])
        sex = (
            gender_of(genders, spk[0], utt, str(speakers_file), "--speakers"),
            gender_of(genders, spk[1], utt, str(speakers_file), "--speakers"),
        )
        mixtures.append(Mixture(utt, files[0], (files[1], files[2]), spk, sex, listed))
    ids = {m.utt_id for m in mixtures}
    for kind in (mixture, "s1", "s2"):
        check_folder(folder / kind, ids, listed)
    return mixtures


def _locate(written: str, layout: Path, listed: Path, lineno: int) -> Path:
    """The file a CSV cell names when it exists, else the one at the tree's ``layout`` path."""
    candidates = list(dict.fromkeys([Path(written).absolute(), layout] if written else [layout]))
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise VaesepError(
            f"{listed}:{lineno}: no file at {' nor at '.join(map(str, candidates))}; regenerate "
            "it with the LibriMix scripts or drop the row"
        )
    return found
