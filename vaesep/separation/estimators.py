"""How a registered model's per-source spectrogram estimates Ŝk are made from a mixture.

Every estimator maps ``(models, featurizer, mixture_spec)`` — the sources' modules, the
featurizer with the training statistics, and the mixture spectrogram ``(frames, bins)`` — to
``{source: Ŝk (frames, bins)}``; the separator then applies the soft masks of eq. 90. It is
called under ``torch.no_grad()``: an estimator that fits inputs to the mixture at test time
(a generative prior, as NMF fits its activations) opens ``torch.enable_grad()`` itself. Its
receptive field (the module's ``receptive_field``) decides how long recordings are chunked.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from vaesep.features import Featurizer
from vaesep.models.nmf import separate_spectrogram
from vaesep.separation.inference import fit_priors


def per_source(
    models: nn.ModuleDict, featurizer: Featurizer, mixture_spec: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Each source's network reads the normalized mixture as one segment ``(1, frames, D)``."""
    x = featurizer.network_input(mixture_spec).unsqueeze(0)
    mixture = featurizer.target(mixture_spec).unsqueeze(0)  # the scale the models work in
    return {s: featurizer.to_spectrogram(m(x, mixture)[0]) for s, m in models.items()}


def nmf_joint(
    models: nn.ModuleDict, featurizer: Featurizer, mixture_spec: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The mixture decomposed on all sources' NMF dictionaries at once (supervised NMF)."""
    dictionaries = {s: m.dictionary for s, m in models.items()}
    config = next(iter(models.values())).config
    return separate_spectrogram(mixture_spec, dictionaries, config)


# A mono registry entry's estimate, by its name (``ModelSpec.estimate``).
Estimator = Callable[[nn.ModuleDict, Featurizer, torch.Tensor], dict[str, torch.Tensor]]
ESTIMATORS: dict[str, Estimator] = {
    "per_source": per_source,
    "nmf_joint": nmf_joint,
    "priors": fit_priors,
}
