"""Which torch device to run on: ``auto``, ``cpu``, ``cuda`` (``cuda:N``) or ``mps`` (the GPU of
Apple silicon)."""

from __future__ import annotations

import torch

from vaesep.errors import VaesepError

CHOICES = "auto, cpu, cuda, cuda:N or mps"


def resolve_device(name: str, key: str = "device") -> torch.device:
    """``auto`` → CUDA when available, else the CPU; any other name must exist here.

    ``key`` names the setting in the error (e.g. ``training.device`` or ``--device``).
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise VaesepError(f"{key}: unknown device {name!r}; use {CHOICES}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise VaesepError(f"{key}: {name} requested but no GPU is visible here; use {_here()}")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise VaesepError(
            f"{key}: {name} requested but only {torch.cuda.device_count()} GPU(s) are visible "
            "here, cuda:0 the first; use auto, cuda or a lower cuda:N"
        )
    if device.type == "mps" and not _mps_available():
        raise VaesepError(
            f"{key}: {name} requested but MPS (the GPU of Apple silicon, macOS 12.3+) is not "
            f"available here; use {_here()}"
        )
    if device.type == "mps" and device.index:
        raise VaesepError(f"{key}: {name}: there is one MPS device; use mps")
    return device


def _mps_available() -> bool:
    """Whether this torch build has MPS and the machine can use it."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _here() -> str:
    """The device names that work on this machine, for an error message."""
    names = ["auto", "cpu"] + ["cuda"] * torch.cuda.is_available() + ["mps"] * _mps_available()
    return ", ".join(names[:-1]) + " or " + names[-1]
