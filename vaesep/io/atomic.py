"""Files written whole or not at all, and a failed write as one line that names the file.

Every writer goes through a hidden temporary name beside its target (short, whatever the
target's length) that is renamed over the target once complete and removed when anything
fails. A full disk, a quota, a name longer than the file system allows or a read-only folder
become one :class:`VaesepError` naming the file, whichever library (Python, libsndfile, torch)
did the writing.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vaesep.errors import VaesepError

NAME_MAX = 255  # bytes of one file name on the usual Linux, macOS and Windows file systems
_LOW_SPACE = 1 << 20  # below 1 MiB free, a failed write is taken to be a full disk


def check_name(path: Path, fix: str = "use a shorter name") -> None:
    """Refuse a file name the file system cannot hold (more than 255 bytes)."""
    size = len(os.fsencode(Path(path).name))
    if size > NAME_MAX:
        raise VaesepError(
            f"{path}: the file name is {size} bytes, more than the {NAME_MAX} a file system "
            f"allows; {fix}"
        )


def temp_beside(path: Path) -> Path:
    """A fresh hidden name in ``path``'s folder, well under the name limit."""
    return path.with_name(f".{path.name[:40]}.{secrets.token_hex(4)}.part")


# What a failed write raises: OS errors, and RuntimeErrors from libsndfile and torch.save.
WRITE_ERRORS = (OSError, RuntimeError)


def write_error(path: Path, exc: BaseException) -> VaesepError:
    """The one-line error of a failed write of ``path``."""
    reason = getattr(exc, "strerror", None) or "the write failed"
    if type(exc).__module__ == "soundfile":  # libsndfile's own words ("System error.")
        reason = str(exc).rsplit(": ", 1)[-1].rstrip(".")
    folder = Path(path).parent
    try:
        full = shutil.disk_usage(folder if folder.exists() else ".").free < _LOW_SPACE
    except OSError:
        full = False
    if full:
        reason = "no space left on the device"
    return VaesepError(
        f"{path}: could not write it ({reason}); free some disk space, "
        "check the folder's permissions or write elsewhere"
    )


@contextmanager
def atomic_path(path: str | Path, fix: str = "use a shorter name") -> Iterator[Path]:
    """A temporary path to write ``path`` through: renamed over it when the block completes,
    removed when it raises; a write that fails is one :class:`VaesepError`.

    Only the writing itself belongs in the block (a RuntimeError there is taken as a failed
    write).
    """
    path = Path(path)
    check_name(path, fix)
    tmp = temp_beside(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except WRITE_ERRORS as exc:
        raise write_error(path, exc) from None
    finally:
        tmp.unlink(missing_ok=True)


def remove_if_empty(*folders: Path) -> None:
    """Remove each of ``folders``, in order, that exists and holds nothing (what a failed or
    replaced run leaves behind)."""
    for folder in folders:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
