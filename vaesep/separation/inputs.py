"""Expanding the ``separate`` command's inputs: files, folders, glob patterns and scp files."""

from __future__ import annotations

import glob
from pathlib import Path

from vaesep.data.datadir import read_scp
from vaesep.errors import VaesepError, log
from vaesep.io.audio import AUDIO_EXTENSIONS, FOREIGN_AUDIO, is_audio_file, is_pipe


def expand_inputs(inputs: list[str]) -> dict[str, Path | str]:
    """Map output stems to audio paths (or an scp's ``cmd |`` pipes, as written); names must be
    unique across all inputs."""
    found: dict[str, Path | str] = {}

    def add(stem: str, path: Path | str) -> None:
        if stem in found and found[stem] != path:
            raise VaesepError(
                f"{path}: same name as {found[stem]}; outputs would collide, separate them "
                "in two runs with different --out-dir"
            )
        found[stem] = path

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
                add(f.stem, f)
        elif path.is_file():
            add(path.stem, path)
        elif glob.has_magic(item):
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not matches:
                raise VaesepError(f"{item}: the pattern matches no file")
            for f in matches:
                add(f.stem, f)
        else:
            raise VaesepError(f"{item}: no such file or folder; check the path")
    return found
