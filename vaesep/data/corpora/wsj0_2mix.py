"""wsj0-2mix reader: ``ROOT/wav{8k,16k}/{min,max}/{tr,cv,tt}/{mix,s1,s2}/<name>.wav``.

The lists ``mix_2_spk_{tr,cv,tt}.txt`` hold one mixture a line, ``<utt1 path> <snr1> <utt2
path> <snr2>``; its files are named ``<utt1>_<snr1>_<utt2>_<snr2>.wav`` (utt: the file name
without extension), and a WSJ0 speaker id is the first 3 characters of an utterance id.
Genders come from WSJ0's ``doc/spkrinfo.txt`` (``;`` comments, then speaker id and M/F first)
or any ``<speaker> <gender>`` list. tr is the training split, tt the test one and cv the dev one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vaesep.data.corpora.base import parse_gender
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

SPLITS = {"train": "tr", "test": "tt", "dev": "cv"}
GENDER_FILES = ("spkrinfo.txt", "wsj0/doc/spkrinfo.txt")  # looked for in ROOT
KINDS = ("mix", "s1", "s2")


def read_genders(paths: Sequence[Path]) -> dict[str, str]:
    """``{speaker_id: "F"|"M"}`` (ids lower-case) from spkrinfo.txt-like files, merged."""
    genders: dict[str, str] = {}
    for path in paths:
        if not path.is_file():
            raise VaesepError(
                f"{path}: no such file; pass WSJ0's doc/spkrinfo.txt or a '<speaker> <gender>' "
                "list with --genders"
            )
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            fields = line.split()
            if len(fields) < 2 or line.startswith(";"):
                continue
            if gender := parse_gender(fields[1]):
                genders[fields[0].lower()] = gender
    if not genders:
        raise VaesepError(
            f"{', '.join(map(str, paths))}: no '<speaker> <M|F>' lines; pass WSJ0's "
            "doc/spkrinfo.txt or a '<speaker> <gender>' list with --genders"
        )
    return genders


def prepare_wsj0_2mix(
    root: str | Path,
    out_dir: str | Path,
    genders: Sequence[str | Path] = (),
    lists: str | Path | None = None,
    rate: str = "8k",
    mode: str = "min",
    num_train: int | None = None,
    seed: int = 0,
    force: bool = False,
) -> dict:
    """Female+male data dirs ``train/`` (tr), ``test/`` (tt) and ``dev/`` (cv, when listed).

    ``genders``: WSJ0's spkrinfo.txt and/or ``<speaker> <gender>`` lists (default: the first
    of GENDER_FILES found in ``root``); ``lists``: the folder of the ``mix_2_spk_*.txt`` lists
    (default: ``root``). Returns the summary written to prepare.json.
    """
    root, out_dir = Path(root).absolute(), Path(out_dir)
    check_request(out_dir, "vaesep prepare wsj0-2mix", force, num_train)
    choose("--rate", rate, RATES)
    choose("--mode", mode, MODES)
    wav_dir = root / f"wav{rate}" / mode
    if not wav_dir.is_dir():
        raise VaesepError(
            f"{wav_dir}: no such directory; pass the wsj0-2mix folder (holding wav8k/ or "
            "wav16k/) and a --rate and --mode it was generated with"
        )
    files = [Path(p) for p in genders]
    if not files:
        files = [p for p in (root / f for f in GENDER_FILES) if p.is_file()][:1]
    if not files:
        raise VaesepError(
            f"{root}: no {' nor '.join(GENDER_FILES)}; pass WSJ0's doc/spkrinfo.txt with --genders"
        )
    table = read_genders(files)
    list_dir = Path(lists).absolute() if lists is not None else root
    splits = {}
    for split, name in SPLITS.items():
        listed = list_dir / f"mix_2_spk_{name}.txt"
        if split != "dev" or listed.is_file():
            splits[split] = _read_split(wav_dir / name, listed, table, files)
    corpus = {
        "type": "wsj0-2mix",
        "root": str(root),
        "genders": [str(p.absolute()) for p in files],
        "rate": rate,
        "mode": mode,
        "subsets": {split: [SPLITS[split]] for split in splits},
    }
    return write_female_male(out_dir, splits, corpus, num_train, seed)


def _read_split(
    folder: Path, listed: Path, genders: dict[str, str], files: list[Path]
) -> list[Mixture]:
    """The mixtures of one list file, their files checked against ``folder``."""
    if not listed.is_file():
        raise VaesepError(
            f"{listed}: missing; pass the folder holding wsj0-2mix's mix_2_spk_{{tr,cv,tt}}.txt "
            "with --lists"
        )
    where = ", ".join(map(str, files))
    mixtures = []
    text = listed.read_text(encoding="utf-8", errors="replace")
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 4:
            raise VaesepError(
                f"{listed}:{lineno}: expected '<utt1 path> <snr1> <utt2 path> <snr2>', got "
                f"{line.strip()!r}"
            )
        utts = (Path(fields[0]).stem, Path(fields[2]).stem)
        name = f"{utts[0]}_{fields[1]}_{utts[1]}_{fields[3]}"
        paths = [folder / kind / f"{name}.wav" for kind in KINDS]
        missing = next((p for p in paths if not p.is_file()), None)
        if missing is not None:
            raise VaesepError(
                f"{listed}:{lineno}: {missing} does not exist; generate {folder.name} with the "
                "wsj0-2mix scripts (same --rate and --mode) or fix the list"
            )
        spk = (utts[0][:3].lower(), utts[1][:3].lower())
        sex = (
            gender_of(genders, spk[0], name, where, "--genders"),
            gender_of(genders, spk[1], name, where, "--genders"),
        )
        mixtures.append(Mixture(name, paths[0], (paths[1], paths[2]), spk, sex, listed))
    ids = {m.utt_id for m in mixtures}
    for kind in KINDS:
        check_folder(folder / kind, ids, listed)
    return mixtures
