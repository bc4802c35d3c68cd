"""Where a result came from (as ESPnet records it): when, which software and git commit, on
which device, by which command, and on how much test data."""

from __future__ import annotations

import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from vaesep.data.datadir import DataDir, read_utt2spk
from vaesep.version import __version__

_CHECKOUT = Path(__file__).resolve().parents[2]  # vaesep/scoring/ -> the repository


def git_commit() -> str | None:
    """The commit of the checkout vaesep runs from (``+dirty`` with uncommitted changes); None
    for an installed copy (whose site-packages may lie inside some other repository)."""
    if not (_CHECKOUT / ".git").exists():
        return None

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(_CHECKOUT), *args], capture_output=True, text=True, timeout=10
        )
        if done.returncode:
            raise OSError(done.stderr)
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def provenance(device: str, data: DataDir, seconds: float) -> dict[str, Any]:
    """The provenance record of a result on ``data`` (``seconds`` of mixtures) on ``device``."""
    import torch

    speakers = set(read_utt2spk(data.root, data.utt_ids).values())
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "vaesep": __version__,
        "git_commit": git_commit(),
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "data": {"mixtures": len(data.utt_ids), "speakers": len(speakers), "seconds": seconds},
    }


def device_of(separator: object) -> str:
    """The device a separator's weights are on (the CPU for one without weights or on
    onnxruntime), with the networks' backend and precision where not torch fp32."""
    try:
        device = str(next(separator.parameters()).device)  # type: ignore[attr-defined]
    except (AttributeError, StopIteration, TypeError):
        device = "cpu"
    networks = (getattr(separator, "backend", "torch"), getattr(separator, "precision", "fp32"))
    return device if networks == ("torch", "fp32") else f"{device} ({' '.join(networks)})"


def timed(items: Iterable[Any], rate: int, total: list[float]) -> Iterator[Any]:
    """``items`` as they come, adding each one's ``mixture`` length in seconds to ``total[0]``."""
    for item in items:
        total[0] += len(item.mixture) / rate
        yield item
