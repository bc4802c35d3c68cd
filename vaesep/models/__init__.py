"""Model registry: a new model is one module plus one line here plus one YAML config.

Each model class has a ``kind`` that says how it is trained and used:

- ``neural``: maps network inputs (frames, input_dim) and the (scaled) mixture spectrum to
  non-negative spectra (frames, bins), ``forward(x, mixture)``, and has
  ``loss(x, target, mixture) -> (loss, {component: value})`` for gradient training;
- ``nmf``: holds a dictionary learned from its source's spectrograms (supervised NMF);
- ``oracle``: holds nothing; the ideal masks come from the reference sources.
"""

from __future__ import annotations

from typing import Literal

from torch import nn

from vaesep.models.itl_ae import ITLAE
from vaesep.models.nmf import NMF
from vaesep.models.oracle import OracleMask
from vaesep.models.vae import VAE

Kind = Literal["neural", "nmf", "oracle"]

MODELS: dict[str, type[nn.Module]] = {
    "vae": VAE,
    "beta_vae": VAE,
    "itl_ae": ITLAE,
    "nmf": NMF,
    "oracle": OracleMask,
}


def model_kind(model_type: str) -> Kind:
    """The ``kind`` of a registered model type: ``neural``, ``nmf`` or ``oracle``."""
    return MODELS[model_type].kind


def build_model(config, input_dim: int, output_dim: int) -> nn.Module:
    """Instantiate the model named by ``config.type`` (a :class:`ModelConfig`)."""
    return MODELS[config.type](input_dim, output_dim, config)
