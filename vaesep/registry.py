"""The model registry: a new model is one module in ``vaesep/models/``, one line here, one YAML.

Each entry says everything the rest of vaesep needs to know about a model type: its config
section, the module of one source, how it is fitted (gradient steps, a dictionary fit, or
nothing) and how the mixture's per-source estimates are made (per source, jointly as NMF
does, by fitting generative priors' inputs to the mixture at test time, or — for an oracle —
only from the true sources, so that only ``evaluate`` can run it). A multichannel entry
demixes the recording's channels instead (:mod:`vaesep.demixing`). The trainer and the
separators call what the entry gives them; nothing switches on a type name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from vaesep import config as _config
from vaesep.bss import Blind, BSSConfig, Demix, auxiva, ilrma
from vaesep.conditional import fit_conditional
from vaesep.config import Config, ModelSection
from vaesep.estimators import nmf_joint, per_source
from vaesep.fitting import FitRun, fit_dictionaries, fit_nothing
from vaesep.inference import fit_priors
from vaesep.models.adversarial import AEWGAN, GAN, WGAN, AdversarialConfig
from vaesep.models.base import SourceModel
from vaesep.models.cdae import CDAE, CDAEConfig
from vaesep.models.class_vae import ClassVAE, ClassVAEConfig
from vaesep.models.cvae import CVAE, CVAEConfig
from vaesep.models.itl_ae import ITLAE, ITLAEConfig
from vaesep.models.nmf import NMF, NMFConfig
from vaesep.models.oracle import OracleConfig, OracleMask
from vaesep.models.priors import MLAE, PriorConfig, PriorVAE
from vaesep.models.rnn_mask import RNNMask, RNNMaskConfig
from vaesep.models.vae import VAE, VAEConfig
from vaesep.models.vrnn import VRNN, VRNNConfig
from vaesep.mvae import fast_mvae, mvae
from vaesep.trainer import fit_gradient

Estimator = Callable[..., dict]


@dataclass(frozen=True)
class ModelSpec:
    """One registered model type."""

    section: type[ModelSection]  # its ``model`` config section
    module: type[SourceModel]  # one source's module: module(input_dim, output_dim, section)
    fit: Callable[[FitRun], dict[str, dict]]  # fit_gradient | fit_dictionaries | fit_nothing
    estimate: Estimator | Demix | None = per_source  # None: needs the true sources (an oracle)
    # A multichannel model's ``estimate`` is a demixer (:mod:`vaesep.bss`): the recording's
    # STFT (frames, bins, mics) -> each source's image at the reference mic (frames, bins,
    # sources), in SOURCES order as far as the model can tell; ``permute``: scored by the
    # best permutation (BSS Eval's convention for demixing: a blind method has no order).
    multichannel: bool = False
    permute: bool = False

    @property
    def needs_references(self) -> bool:
        """Whether separating needs the true sources (only ``evaluate`` can run it)."""
        return self.estimate is None


MODELS: dict[str, ModelSpec] = {
    "vae": ModelSpec(VAEConfig, VAE, fit_gradient),
    "beta_vae": ModelSpec(VAEConfig, VAE, fit_gradient),
    "itl_ae": ModelSpec(ITLAEConfig, ITLAE, fit_gradient),
    "nmf": ModelSpec(NMFConfig, NMF, fit_dictionaries, nmf_joint),
    "oracle": ModelSpec(OracleConfig, OracleMask, fit_nothing, None),
    "vrnn": ModelSpec(VRNNConfig, VRNN, fit_gradient),
    "rnn_mask": ModelSpec(RNNMaskConfig, RNNMask, fit_gradient),
    "mlae": ModelSpec(PriorConfig, MLAE, fit_gradient, fit_priors),
    "gen_vae": ModelSpec(PriorConfig, PriorVAE, fit_gradient, fit_priors),
    "gan": ModelSpec(AdversarialConfig, GAN, fit_gradient, fit_priors),
    "wgan": ModelSpec(AdversarialConfig, WGAN, fit_gradient, fit_priors),
    "ae_wgan": ModelSpec(AdversarialConfig, AEWGAN, fit_gradient, fit_priors),
    "class_vae": ModelSpec(ClassVAEConfig, ClassVAE, fit_gradient),
    "cdae": ModelSpec(CDAEConfig, CDAE, fit_gradient),
    "auxiva": ModelSpec(BSSConfig, Blind, fit_nothing, auxiva, multichannel=True, permute=True),
    "ilrma": ModelSpec(BSSConfig, Blind, fit_nothing, ilrma, multichannel=True, permute=True),
    "mvae": ModelSpec(CVAEConfig, CVAE, fit_conditional, mvae, multichannel=True, permute=True),
    "fast_mvae": ModelSpec(
        CVAEConfig, CVAE, fit_conditional, fast_mvae, multichannel=True, permute=True
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
    """Load a YAML config (or the defaults) with ``--set`` overrides, validated against the
    registry's model sections."""
    return _config.load_config(path, overrides, SECTIONS)
