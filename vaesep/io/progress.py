"""Progress over the seconds of audio a command works through (tqdm, on stderr).

The bar shows only when stderr is a terminal and the user did not ask for quiet; lines
printed through it do not break it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO, TypeVar

from tqdm import tqdm

from vaesep.errors import VaesepError
from vaesep.io.audio import audio_info, is_pipe

T = TypeVar("T")


def audio_seconds(paths: Iterable[Path | str]) -> float | None:
    """The seconds of all the files together; None when one is a pipe or cannot be read."""
    total = 0.0
    for path in paths:
        if is_pipe(path):
            return None
        try:
            info = audio_info(path)
        except VaesepError:
            return None
        total += info.frames / info.samplerate
    return total


class Progress:
    """A bar over seconds of audio (or nothing), and a way to print lines beside it."""

    def __init__(self, bar: tqdm):
        self._bar = bar

    def update(self, seconds: float) -> None:
        self._bar.update(seconds)

    def write(self, line: str) -> None:
        tqdm.write(line, file=sys.stdout)


@contextmanager
def progress_bar(
    total_seconds: float | None, quiet: bool = False, stream: TextIO | None = None
) -> Iterator[Progress]:
    """A :class:`Progress` over ``total_seconds`` of audio, drawn on ``stream`` (stderr) when it
    is a terminal and not ``quiet``."""
    with _bar(
        quiet,
        stream,
        total=None if total_seconds is None else round(total_seconds, 2),
        unit="s",
        bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} s audio [{elapsed}<{remaining}]",
    ) as bar:
        yield Progress(bar)


def counted(
    items: Iterable[T], total: int, unit: str, quiet: bool = False, stream: TextIO | None = None
) -> Iterator[T]:
    """``items`` as they come, with a bar over their count on ``stream`` (stderr) when it is a
    terminal and not ``quiet``."""
    with _bar(quiet, stream, iterable=items, total=total, unit=f" {unit}") as bar:
        yield from bar


def _bar(quiet: bool, stream: TextIO | None, **options) -> tqdm:
    """A tqdm bar on ``stream`` (stderr), drawn only on a terminal and when not ``quiet``."""
    disable = True if quiet else None  # None: tqdm draws only on a terminal
    return tqdm(file=stream or sys.stderr, disable=disable, dynamic_ncols=True, **options)
