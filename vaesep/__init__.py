"""vaesep: monaural speech source separation with per-source VAE, beta-VAE and ITL-AE models."""

from vaesep.errors import VaesepError

__version__ = "0.1.0"
__all__ = ["VaesepError", "__version__"]
