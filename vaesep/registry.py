"""The model registry: a new model is one module in ``vaesep/models/``, one line here, one YAML.

Each entry says everything the rest of vaesep needs to know about a model type: its config
section, the module of one source, how it is fitted and how the mixture's per-source estimates
are made. The last two are named, not imported: the training stage owns the fits
(:data:`vaesep.training.experiment.FITS`: gradient steps, a dictionary, a fixed filter, a
conditional VAE, or nothing) and the separation stage the estimates
(:data:`vaesep.separation.estimators.ESTIMATORS`: per source, jointly as NMF does, or by
fitting generative priors' inputs to the mixture at test time;
:data:`vaesep.separation.demixer.DEMIXERS` for a multichannel entry, which demixes the
recording's channels). ``estimate=None`` marks an oracle: only the true sources make its
estimates, so only ``evaluate`` can run it. The registry thus sits below both stages, which
look their entry's names up; nothing switches on a type name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from vaesep.config import Config, ModelSection
from vaesep.config import load_config as _load_config
from vaesep.models.adversarial import AEWGAN, GAN, WGAN, AdversarialConfig
from vaesep.models.bandpass import Bandpass, BandpassConfig
from vaesep.models.base import SourceModel
from vaesep.models.blind import Blind, BSSConfig
from vaesep.models.cdae import CDAE, CDAEConfig
from vaesep.models.class_vae import ClassVAE, ClassVAEConfig
from vaesep.models.complex_vae import ComplexVAE, ComplexVAEConfig
from vaesep.models.cvae import CVAE, CVAEConfig
from vaesep.models.itl_ae import ITLAE, ITLAEConfig
from vaesep.models.nmf import NMF, NMFConfig
from vaesep.models.oracle import OracleConfig, OracleMask
from vaesep.models.priors import MLAE, PriorConfig, PriorVAE
from vaesep.models.rnn_mask import RNNMask, RNNMaskConfig
from vaesep.models.vae import VAE, VAEConfig
from vaesep.models.vrnn import VRNN, VRNNConfig
from vaesep.zoo.configs import resolve_config


@dataclass(frozen=True)
class ModelSpec:
    """One registered model type."""

    section: type[ModelSection]  # its ``model`` config section
    module: type[SourceModel]  # one source's module: module(input_dim, output_dim, section)
    fit: str  # a key of vaesep.training.experiment.FITS
    # A key of vaesep.separation.estimators.ESTIMATORS (mono) or, for a multichannel model,
    # of vaesep.separation.demixer.DEMIXERS: the recording's STFT (frames, bins, mics) -> each
    # source's image at the reference mic (frames, bins, sources), in the sources' order as far as
    # the model can tell. None: needs the true sources (an oracle). ``permute``: scored by the
    # best permutation (BSS Eval's convention for demixing: a blind method has no order).
    estimate: str | None = "per_source"
    multichannel: bool = False
    permute: bool = False

    @property
    def needs_references(self) -> bool:
        """Whether separating needs the true sources (only ``evaluate`` can run it)."""
        return self.estimate is None


MODELS: dict[str, ModelSpec] = {
    "vae": ModelSpec(VAEConfig, VAE, "gradient"),
    "beta_vae": ModelSpec(VAEConfig, VAE, "gradient"),
    "itl_ae": ModelSpec(ITLAEConfig, ITLAE, "gradient"),
    "nmf": ModelSpec(NMFConfig, NMF, "dictionaries", "nmf_joint"),
    "oracle": ModelSpec(OracleConfig, OracleMask, "nothing", None),
    "vrnn": ModelSpec(VRNNConfig, VRNN, "gradient"),
    "rnn_mask": ModelSpec(RNNMaskConfig, RNNMask, "gradient"),
    "mlae": ModelSpec(PriorConfig, MLAE, "gradient", "priors"),
    "gen_vae": ModelSpec(PriorConfig, PriorVAE, "gradient", "priors"),
    "gan": ModelSpec(AdversarialConfig, GAN, "gradient", "priors"),
    "wgan": ModelSpec(AdversarialConfig, WGAN, "gradient", "priors"),
    "ae_wgan": ModelSpec(AdversarialConfig, AEWGAN, "gradient", "priors"),
    "class_vae": ModelSpec(ClassVAEConfig, ClassVAE, "gradient"),
    "cdae": ModelSpec(CDAEConfig, CDAE, "gradient"),
    "bandpass": ModelSpec(BandpassConfig, Bandpass, "filter"),
    "complex_vae": ModelSpec(ComplexVAEConfig, ComplexVAE, "gradient"),
    "auxiva": ModelSpec(BSSConfig, Blind, "nothing", "auxiva", multichannel=True, permute=True),
    "ilrma": ModelSpec(BSSConfig, Blind, "nothing", "ilrma", multichannel=True, permute=True),
    "mvae": ModelSpec(CVAEConfig, CVAE, "conditional", "mvae", multichannel=True, permute=True),
    "fast_mvae": ModelSpec(
        CVAEConfig, CVAE, "conditional", "fast_mvae", multichannel=True, permute=True
    ),
}
SECTIONS: dict[str, type[ModelSection]] = {name: spec.section for name, spec in MODELS.items()}


def spec_of(config: Config) -> ModelSpec:
    """The registry entry of ``config.model.type``."""
    return MODELS[config.model.type]


def build_model(section: ModelSection, input_dim: int, output_dim: int) -> nn.Module:
    """One source's module of the type ``section.type``."""
    return MODELS[section.type].module(input_dim, output_dim, section)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (a file or a shipped config's name, e.g. ``vae``; ``None``: the
    defaults) with ``--set`` overrides, validated against the registry's model sections."""
    return _load_config(resolve_config(path), overrides, SECTIONS)
