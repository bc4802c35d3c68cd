"""Loading the separator of any experiment dir: mono, multichannel or oracle."""

from __future__ import annotations

from pathlib import Path

from vaesep.demixing import Demixer
from vaesep.expdir import load
from vaesep.oracle import OracleSeparator
from vaesep.registry import SECTIONS, spec_of
from vaesep.separation import Separator


def load_separator(
    exp_dir: str | Path, device: str = "cpu", separating: bool = False, **kwargs
) -> Separator | Demixer | OracleSeparator:
    """A :class:`Demixer` for a multichannel model, an :class:`OracleSeparator` for an
    oracle (only ``evaluate`` can run it: with ``separating`` an oracle is a one-line error),
    else a :class:`Separator` (``kwargs``: its chunking options)."""
    experiment = load(exp_dir, SECTIONS)
    spec = spec_of(experiment.config)
    if spec.multichannel:
        return Demixer.from_experiment(experiment, device)
    if spec.needs_references and not separating:
        return OracleSeparator(experiment.config, name=experiment.path.name)
    return Separator.from_experiment(experiment, device=device, **kwargs)
