"""Fine-tuning: ``training.init_from`` starts every source's network from a trained model's
weights (an experiment dir or a bundled model's name) instead of a random draw.

The model must be of the same ``model.type``, network sizes and features, and hold every source
trained; its weights are all that is taken (the feature statistics are fitted on the new data,
the optimizer starts afresh). With ``--resume`` the run's own checkpoint wins.
"""

from __future__ import annotations

import torch
from torch import nn

from vaesep.config import Config
from vaesep.errors import VaesepError
from vaesep.expdir import load
from vaesep.registry import SECTIONS, spec_of
from vaesep.zoo.pretrained import resolve_model

KEY = "training.init_from"


def initial_weights(config: Config, sources: tuple[str, ...]) -> dict[str, dict]:
    """``{source: state dict}`` of ``training.init_from`` ({} when unset), checked against
    ``config``: every mismatch is a one-line error naming the key."""
    name = config.training.init_from
    if not name:
        return {}
    if spec_of(config).fit != "gradient":
        raise VaesepError(
            f"{KEY}: {config.model.type} is not trained by gradient steps, so there are no "
            "weights to start from; drop the key"
        )
    path = resolve_model(name, KEY)
    trained = load(path, SECTIONS)
    if trained.config.model.type != config.model.type:
        raise VaesepError(
            f"{KEY}: {path} holds a {trained.config.model.type} model and this config trains "
            f"{config.model.type}; start from a model of the same type"
        )
    if trained.config.features.as_trained() != config.features.as_trained():
        raise VaesepError(
            f"{KEY}: {path} was trained with other features.* than this config's; copy its "
            "features section"
        )
    missing = [s for s in sources if s not in trained.checkpoints]
    if missing:
        raise VaesepError(
            f"{KEY}: {path} has no model of {', '.join(missing)} (it holds "
            f"{', '.join(trained.checkpoints)}); start from one trained on these sources"
        )
    return {s: trained.checkpoints[s].state_dict for s in sources}


def initialize(model: nn.Module, weights: dict[str, torch.Tensor], name: str) -> None:
    """Load ``weights`` (``training.init_from``'s, of source ``name``) into ``model``; a
    network of other sizes is a one-line error."""
    try:
        model.load_state_dict(weights)
    except RuntimeError:
        raise VaesepError(
            f"{KEY}: the {name} network there has other sizes than model.* here; copy its "
            "model section (a model trained with other sizes cannot start this one)"
        ) from None
