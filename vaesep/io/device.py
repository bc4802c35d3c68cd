"""Which torch device to run on."""

from __future__ import annotations

import torch

from vaesep.errors import VaesepError


def resolve_device(name: str, key: str = "device") -> torch.device:
    """``auto`` → CUDA when available, else the CPU; any other name must exist here.

    ``key`` names the setting in the error (e.g. ``training.device`` or ``--device``).
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise VaesepError(f"{key}: unknown device {name!r}; use auto, cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise VaesepError(f"{key}: {name} requested but no GPU is visible here; use auto or cpu")
    return device
