"""What one model trains on: a part's segments as batches on the training device."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from vaesep.features import Stft
from vaesep.models.base import Batch
from vaesep.models.objectives import Waveforms
from vaesep.training.joint import JointBatch
from vaesep.training.segments import SegmentSet


class Batches(Protocol):
    """What the epoch loop needs of a model's training data: its size and a selection
    (``Batch``, ``JointBatch``, ``vaesep.models.cvae.LabelledBatch``)."""

    def __len__(self) -> int: ...

    def select(self, index: torch.Tensor | slice) -> Batches: ...


def on_device(
    segments: SegmentSet, source: str, device: torch.device, stft: Stft | None = None
) -> Batch:
    """All of ``segments`` for one source's model, on ``device`` (with ``stft``: the
    waveforms of a time-domain loss)."""
    waveforms = None
    if stft is not None and segments.stfts is not None:
        waveforms = Waveforms(segments.stfts["mixture"], segments.stfts[source], stft).to(device)
    return Batch(
        segments.inputs.to(device),
        segments.targets[source].to(device),
        segments.mixture.to(device),
        waveforms,
    )


def joint_on_device(
    segments: SegmentSet, device: torch.device, stft: Stft | None = None
) -> JointBatch:
    """All of ``segments`` for the sources' models together, on ``device`` (with ``stft``:
    every source's waveforms for a time-domain loss)."""
    waveforms = None
    if stft is not None and segments.stfts is not None:
        mixture = segments.stfts["mixture"]
        waveforms = {
            s: Waveforms(mixture, segments.stfts[s], stft).to(device) for s in segments.targets
        }
    return JointBatch(
        segments.inputs.to(device),
        {s: t.to(device) for s, t in segments.targets.items()},
        segments.mixture.to(device),
        segments.present.to(device),
        waveforms,
    )


class Cached:
    """``batches(part)``, made once for a part met again (an in-memory set every epoch)."""

    def __init__(self, batches: Callable[[SegmentSet], Batches]):
        self.batches, self.part, self.made = batches, None, None

    def __call__(self, part: SegmentSet) -> Batches:
        if part is not self.part:
            self.part, self.made = part, self.batches(part)
        return self.made
