"""Expanding the ``separate`` command's inputs: files, folders, glob patterns and scp files."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from itertools import takewhile
from pathlib import Path

from vaesep.data.datadir import read_scp
from vaesep.errors import VaesepError, log
from vaesep.io.audio import AUDIO_EXTENSIONS, FOREIGN_AUDIO, is_audio_file, is_pipe


@dataclass(frozen=True)
class Input:
    """One input of ``separate`` and the names its outputs are made from."""

    path: Path | str  # an audio file, or an scp's ``cmd |`` pipe as written
    stem: str  # {stem}: the file's name without its extension; an scp's utterance id
    relpath: str  # {relpath}: its path under the folder (or a pattern's fixed folders) given,
    # without the extension, e.g. spk1/ch1/0001; the stem of a file given by itself


def expand_inputs(inputs: list[str]) -> list[Input]:
    """The inputs in the order given (a folder's and a pattern's sorted); a file given twice
    (by any path) is separated once, unless an scp names it twice. Inputs may share a name:
    :func:`~vaesep.separation.outputs.plan_outputs` refuses outputs that would collide."""
    found: dict[tuple[Path | str, str], Input] = {}

    def add(stem: str, path: Path | str, root: Path | None = None) -> None:
        relpath = stem if root is None else _relpath(Path(path), root)
        same = path if is_pipe(path) else Path(path).resolve()
        found.setdefault((same, stem), Input(path, stem, relpath))

    for item in inputs:
        path = Path(item)
        if path.suffix == ".scp" and path.is_file():
            for utt, target in read_scp(path).items():
                add(utt, target if is_pipe(target) else Path(target))
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and is_audio_file(p))
            foreign = sorted(p for p in path.rglob("*") if p.suffix.lower() in FOREIGN_AUDIO)
            if foreign:
                log.warning(
                    "%s: skipping %d file(s) in a format libsndfile cannot read (e.g. %s); "
                    "convert them to WAV or FLAC (e.g. ffmpeg -i IN OUT.wav)",
                    path,
                    len(foreign),
                    foreign[0].name,
                )
            if not files:
                raise VaesepError(
                    f"{path}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in this folder"
                )
            for f in files:
                add(f.stem, f, path)
        elif path.is_file():
            add(path.stem, path)
        elif glob.has_magic(item):
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not matches:
                raise VaesepError(f"{item}: the pattern matches no file")
            root = Path(*takewhile(lambda part: not glob.has_magic(part), path.parts[:-1]))
            for f in matches:
                add(f.stem, f, root)
        else:
            raise VaesepError(f"{item}: no such file or folder; check the path")
    return list(found.values())


def _relpath(path: Path, root: Path) -> str:
    """``path`` under ``root`` without its extension, e.g. ``spk1/ch1/0001`` (its stem if it
    does not lie there); a pattern's ``..`` are resolved (by name), so it never leaves ``root``."""
    try:
        relative = Path(os.path.normpath(path)).relative_to(os.path.normpath(root))
    except ValueError:
        return path.stem
    return (relative.parent / relative.stem).as_posix()
