"""The config section and (empty) source model of the blind demixers AuxIVA and ILRMA
(:mod:`vaesep.separation.bss`): nothing is learned, the section holds their settings."""

from __future__ import annotations

from dataclasses import dataclass

from vaesep.config import ModelSection, require
from vaesep.models.base import SourceModel


@dataclass
class BSSConfig(ModelSection):
    """``model`` section of ``auxiva`` and ``ilrma``."""

    type: str = "ilrma"
    iterations: int = 100
    # ILRMA's NMF bases per source (unused by AuxIVA).
    components: int = 2
    # The microphone every output is projected back to, and scored at.
    reference_mic: int = 0

    def validate(self) -> None:
        require(self.iterations >= 1, "model.iterations", "must be at least 1")
        require(self.components >= 1, "model.components", "must be at least 1")
        require(self.reference_mic >= 0, "model.reference_mic", "must be a channel index >= 0")


class Blind(SourceModel):
    """The (empty) source model of a blind method: nothing is learned."""

    receptive_field = None

    def __init__(self, input_dim: int, output_dim: int, config: ModelSection):
        super().__init__()
        self.config = config

    def forward(self, x, mixture):  # pragma: no cover - demixers never call it
        raise NotImplementedError("a blind demixing model has no per-source estimate")
