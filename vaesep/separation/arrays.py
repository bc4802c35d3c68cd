"""The in-memory inputs of the separators: an array or tensor and its sample rate, one signal or
a batch of them.

An array's rate is never guessed: a 22.05 kHz signal taken for the model's 16 kHz would be
separated as another, slower signal. A file's rate is read from the file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Real
from pathlib import Path

import numpy as np
import torch

from vaesep.errors import VaesepError, log
from vaesep.io.audio import load_audio

Signal = np.ndarray | torch.Tensor


def array_rate(sample_rate: int | None, label: str = "separate()") -> int:
    """The rate of an array or tensor input: ``sample_rate``, required, a positive whole number
    of Hz."""
    if sample_rate is None:
        raise TypeError(
            f"{label}: an array or tensor needs its rate; pass sample_rate=..., the rate of the "
            "array in Hz, e.g. separate(x, 22050) (no rate is assumed)"
        )
    number = isinstance(sample_rate, Real) and not isinstance(sample_rate, bool)
    if not number or sample_rate <= 0 or sample_rate != int(sample_rate):
        raise ValueError(f"{label}: sample_rate={sample_rate!r}; pass the rate in Hz, e.g. 16000")
    return int(sample_rate)


def file_rate(path: str | Path, rate: int, sample_rate: int | None) -> int:
    """The rate of a file read at ``rate``; a ``sample_rate`` given with it must be the same."""
    if sample_rate is not None and sample_rate != rate:
        raise ValueError(
            f"separate(): {path} is at {rate} Hz, not sample_rate={sample_rate}; drop "
            "sample_rate for a file (the estimates are at the file's rate)"
        )
    return rate


def read_input(
    mixture: Signal | str | Path,
    sample_rate: int | None,
    load: Callable[[str | Path], tuple[np.ndarray, int]],
) -> tuple[Signal, int, str]:
    """(samples, rate, label) of a path read by ``load``, or of an array or a tensor at
    ``sample_rate`` (required: see :func:`array_rate`)."""
    if isinstance(mixture, (str, Path)):
        samples, rate = load(mixture)
        return samples, file_rate(mixture, rate, sample_rate), str(mixture)
    return mixture, array_rate(sample_rate), "input"


def mono_input(
    mixture: Signal | str | Path, sample_rate: int | None
) -> tuple[torch.Tensor, int, str]:
    """(mono float signal, its rate, a label) of a path, or of an array or a tensor at
    ``sample_rate`` (required: see :func:`array_rate`).

    Multichannel input is downmixed (with a note); empty or non-finite input is an error.
    """
    mixture, rate, label = read_input(mixture, sample_rate, load_audio)
    signal = torch.as_tensor(mixture, dtype=torch.float32)
    if signal.ndim == 2:
        log.info("input with %d channels downmixed to mono", min(signal.shape))
        signal = signal.mean(dim=int(np.argmin(signal.shape)))
    if signal.ndim != 1 or signal.numel() == 0:
        raise VaesepError("input must be a non-empty mono or multichannel signal")
    if not torch.isfinite(signal).all():
        raise VaesepError(f"{label}: NaN or infinite samples; repair the signal")
    return signal, rate, label


def batch_items(signals: Sequence[Signal] | Signal) -> list[Signal]:
    """The signals of a batch: a list (or tuple) of arrays or tensors, each as ``separate``
    takes it (mono, or multichannel to downmix; lengths may differ), or one array or tensor
    ``(batch, samples)`` (``(batch, channels, samples)``: multichannel items)."""
    if isinstance(signals, (np.ndarray, torch.Tensor)):
        if signals.ndim < 2:
            raise ValueError(
                "separate_batch(): a (batch, samples) array or a list of signals, not one "
                "signal; use separate(signal, sample_rate) for one"
            )
        return list(signals)
    if isinstance(signals, (str, Path)) or not isinstance(signals, Sequence):
        raise TypeError(
            "separate_batch(): a list of arrays or tensors or a (batch, samples) array; "
            "separate files with separate(path) or separate_file"
        )
    items = list(signals)
    for item in items:
        if not isinstance(item, (np.ndarray, torch.Tensor)):
            raise TypeError(
                f"separate_batch(): the items are arrays or tensors, not {type(item).__name__}; "
                "separate files with separate(path) or separate_file"
            )
    return items
