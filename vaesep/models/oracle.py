"""Oracle baselines: ideal masks computed from the true sources (upper bounds of eq. 90).

``ratio``: |S_k| / Σ_j |S_j|; ``wiener``: |S_k|² / Σ_j |S_j|²; ``binary``: 1 for the source
with the largest magnitude in the bin, 0 for the others. Nothing is learned; separating needs
the reference sources, so an oracle can be evaluated but not used on new recordings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from vaesep.config import ModelSection
from vaesep.models.base import SourceModel


@dataclass
class OracleConfig(ModelSection):
    """``model`` section of ``oracle``: which ideal mask."""

    type: str = "oracle"
    mask: Literal["ratio", "wiener", "binary"] = "ratio"


def ideal_estimates(references: dict[str, torch.Tensor], mask: str) -> dict[str, torch.Tensor]:
    """Per-source estimates whose soft masks Ŝ_k / Σ Ŝ are the ideal ``mask``.

    ``references`` are the sources' complex spectrograms (frames, bins).
    """
    magnitudes = torch.stack([r.abs() for r in references.values()])
    if mask == "wiener":
        estimates = magnitudes.square()
    elif mask == "binary":
        winner = nn.functional.one_hot(magnitudes.argmax(0), len(references))
        estimates = winner.movedim(-1, 0).to(magnitudes.dtype)
    else:
        estimates = magnitudes
    return dict(zip(references, estimates))


class OracleMask(SourceModel):
    """A source's place in an experiment dir; it holds nothing (the mask comes from the
    references, see :class:`vaesep.separation.oracle_separator.OracleSeparator`)."""

    def __init__(self, input_dim: int, output_dim: int, config: OracleConfig):
        super().__init__()
        self.config = config
