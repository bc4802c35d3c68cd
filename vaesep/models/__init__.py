"""Model registry: a new model is one module plus one line here plus one YAML config.

Every model maps network inputs (frames, input_dim) to non-negative spectra (frames, bins),
and has ``loss(x, target) -> (loss, {component: value})`` for training.
"""

from __future__ import annotations

from torch import nn

from vaesep.models.itl_ae import ITLAE
from vaesep.models.vae import VAE

MODELS: dict[str, type[nn.Module]] = {
    "vae": VAE,
    "beta_vae": VAE,
    "itl_ae": ITLAE,
}


def build_model(config, input_dim: int, output_dim: int) -> nn.Module:
    """Instantiate the model named by ``config.type`` (a :class:`ModelConfig`)."""
    return MODELS[config.type](input_dim, output_dim, config)
