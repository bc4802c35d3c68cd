"""All sources' models trained as one: jointly through their soft masks, or from mixtures and
class labels alone (weak class supervision).

The study trains each source's model apart and lets them meet only in the masks at separation
time. With ``training.joint`` the sources' models (any that define
:meth:`~vaesep.models.base.GradientModel.estimate_for_training`) are one module with one
optimizer, and the loss sees what separation will do (Huang et al. 2015)::

    m_k = Ŝk^p / Σ_j Ŝj^p                     (the separator's masks, p = model.mask_power)
    L   = Σ_k [ rec(m_k ⊙ X, S_k) − γ · Σ_{j≠k} rec(m_k ⊙ X, S_j) + α · rec(Ŝk, S_k)
                + penalties_k ]

with γ = ``training.discriminative`` and α = ``training.joint_direct`` (each model's own,
independent error kept as a regularizer; 0 by default). With ``training.supervision: class``
there are no references: each mixture X only says which classes (sources) it holds, and the
present classes' estimates are asked to add up to it (Karamatlı et al. 2019)::

    L = rec(Σ_{k present} Ŝk, X) + Σ_k penalties_k

Each source's model is built with its own seed, so a joint run starts from the weights the
independent one would; the trainer checkpoints the whole (``checkpoints/joint.last.pt``) and
writes every source's best weights into ``<source>.pt`` as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vaesep.config import TrainingConfig
from vaesep.models.base import GradientModel, add_penalties
from vaesep.models.masks import soft_masks

NAME = "joint"  # the checkpoint's name: checkpoints/joint.last.pt


@dataclass(frozen=True)
class JointBatch:
    """A batch for all sources' models: network inputs ``(B, T, D)``, the sources' targets
    ``{source: (B, T, F)}`` (empty under weak supervision), the mixture ``(B, T, F)`` and which
    sources each segment holds, ``(B, K)`` of 0/1 in the models' order."""

    inputs: torch.Tensor
    targets: dict[str, torch.Tensor]
    mixture: torch.Tensor
    present: torch.Tensor

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def select(self, index: torch.Tensor | slice) -> JointBatch:
        """The segments at ``index``."""
        targets = {s: t[index] for s, t in self.targets.items()}
        return JointBatch(self.inputs[index], targets, self.mixture[index], self.present[index])


class JointModel(GradientModel):
    """The sources' models as one module trained on one objective (see the module)."""

    def __init__(self, models: dict[str, GradientModel], training: TrainingConfig):
        super().__init__()
        self.models = nn.ModuleDict(models)
        self.weak = training.supervision == "class"
        self.discriminative = training.discriminative
        self.direct = training.joint_direct
        first = next(iter(models.values()))
        self.config = first.config
        self.selects_best = first.selects_best

    def split(self, state_dict: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
        """``{source: that model's state dict}`` of a state dict of this module."""
        out: dict[str, dict[str, torch.Tensor]] = {s: {} for s in self.models}
        for key, value in state_dict.items():
            source, name = key.removeprefix("models.").split(".", 1)
            out[source][name] = value
        return out

    def batch_loss(self, batch: JointBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """(loss, {component: value}) of a batch (see the module)."""
        estimates, penalties = {}, {}
        for source, model in self.models.items():
            estimates[source], own = model.estimate_for_training(batch.inputs, batch.mixture)
            penalties.update({f"{name}_{source}": p for name, p in own.items()})
        first = next(iter(self.models.values()))
        parts: dict[str, torch.Tensor] = {}
        if self.weak:
            present = batch.present.to(batch.mixture.dtype)
            total = sum(present[:, k, None, None] * e for k, e in enumerate(estimates.values()))
            parts["rec"] = rec = first.reconstruction(total, batch.mixture)
            loss = rec
        else:
            masks = soft_masks(estimates, self.config.mask_power)
            masked = {s: masks[s] * batch.mixture for s in self.models}
            rec = sum(
                self.models[s].reconstruction(masked[s], batch.targets[s]) for s in self.models
            )
            parts["rec"] = loss = rec
            if self.discriminative:
                parts["disc"] = disc = sum(
                    self.models[s].reconstruction(masked[s], batch.targets[j])
                    for s in self.models
                    for j in self.models
                    if j != s
                )
                loss = rec - self.discriminative * disc
            if self.direct:
                parts["direct"] = direct = sum(
                    self.models[s].reconstruction(estimates[s], batch.targets[s])
                    for s in self.models
                )
                loss = loss + self.direct * direct
        parts.update({k: v for k, (v, _) in penalties.items()})
        return add_penalties(loss, penalties), {k: v.item() for k, v in parts.items()}
