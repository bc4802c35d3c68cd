"""Evaluation-only separation with oracle masks, handed the true sources.

An oracle (``model.type: oracle``) builds the ideal ratio, Wiener or binary mask from the
reference sources (:func:`vaesep.models.oracle.ideal_estimates`) and applies it like any
model's soft masks (eq. 90): the upper bound of what a mask can do. It cannot separate a new
recording, so it is not a :class:`~vaesep.separation.separator.Separator`; ``evaluate`` gives
it the references (:attr:`OracleSeparator.needs_references`);
:func:`vaesep.separation.loading.load_separator` loads any kind of experiment dir.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vaesep.config import Config
from vaesep.errors import VaesepError
from vaesep.features import Stft
from vaesep.io.audio import fit_length, resample
from vaesep.models.masks import soft_masks
from vaesep.models.oracle import ideal_estimates
from vaesep.separation.arrays import mono_input


class OracleSeparator:
    """Ideal masks from the true sources; ``separate(mixture, rate, references)``."""

    needs_references = True

    def __init__(self, config: Config, name: str = "oracle"):
        self.config = config
        self.name = name
        self.sources = config.data.names
        self.stft = Stft(config.features)

    @property
    def sample_rate(self) -> int:
        return self.config.features.sample_rate

    @torch.no_grad()
    def separate(
        self,
        mixture: np.ndarray | torch.Tensor | str | Path,
        sample_rate: int | None = None,
        references: dict[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """The sources' estimates at the input's rate and length; ``references``: the true
        sources at the input's rate."""
        signal, rate, _ = mono_input(mixture, sample_rate)
        missing = [s for s in self.sources if s not in (references or {})]
        if missing:
            raise VaesepError(f"{self.name}: no reference for source(s) {', '.join(missing)}")
        mix = torch.from_numpy(resample(signal.numpy(), rate, self.sample_rate))
        refs = [np.asarray(references[s], dtype=np.float32).reshape(-1) for s in self.sources]
        refs = [fit_length(resample(r, rate, self.sample_rate), len(mix)) for r in refs]
        spec = self.stft.stft(mix)
        ideal = ideal_estimates(
            dict(zip(self.sources, self.stft.stft(torch.from_numpy(np.stack(refs))))),
            self.config.model.mask,
        )
        masks = soft_masks(ideal)
        out = {}
        for source in self.sources:
            estimate = self.stft.istft(masks[source] * spec, len(mix)).numpy()
            out[source] = fit_length(resample(estimate, self.sample_rate, rate), len(signal))
        return out
