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
independent error kept as a regularizer; 0 by default). With ``training.loss: si_sdr`` every
``rec(Ŝ, S)`` is the negative SI-SDR of ``Ŝ`` resynthesized with the mixture's phase against the
waveform of ``S`` (:mod:`vaesep.models.objectives`): the objective scores what the separator
outputs. With ``training.permutation_invariant`` (PIT, Kolbæk et al. 2017) each segment is
scored under the assignment π of outputs to references that fits it best::

    L = mean over segments of  min_π Σ_k rec(m_k ⊙ X, S_π(k))

so the outputs need not be named by the sources (e.g. two voices of one gender,
``data.genders: any``); ``in_order`` logs the share of segments whose best π is the identity.

With ``training.supervision: class`` there are no references: each mixture X only says which
classes (sources) it holds, and the present classes' estimates are asked to add up to it
(Karamatlı et al. 2019)::

    L = rec(Σ_{k present} Ŝk, X) + Σ_k penalties_k

Each source's model is built with its own seed, so a joint run starts from the weights the
independent one would; the trainer checkpoints the whole (``checkpoints/joint.last.pt``) and
writes every source's best weights into ``<source>.pt`` as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import torch
from torch import nn

from vaesep.config import TrainingConfig
from vaesep.models.base import GradientModel, add_penalties
from vaesep.models.masks import soft_masks
from vaesep.models.objectives import Waveforms

NAME = "joint"  # the checkpoint's name: checkpoints/joint.last.pt


@dataclass(frozen=True)
class JointBatch:
    """A batch for all sources' models: network inputs ``(B, T, D)``, the sources' targets
    ``{source: (B, T, F)}`` (empty under weak supervision), the mixture ``(B, T, F)`` and which
    sources each segment holds, ``(B, K)`` of 0/1 in the models' order; with ``training.loss:
    si_sdr`` each source's :class:`Waveforms`."""

    inputs: torch.Tensor
    targets: dict[str, torch.Tensor]
    mixture: torch.Tensor
    present: torch.Tensor
    waveforms: dict[str, Waveforms] | None = None

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def select(self, index: torch.Tensor | slice) -> JointBatch:
        """The segments at ``index``."""
        targets = {s: t[index] for s, t in self.targets.items()}
        waves = self.waveforms
        waves = {s: w.select(index) for s, w in waves.items()} if waves is not None else None
        return JointBatch(
            self.inputs[index], targets, self.mixture[index], self.present[index], waves
        )


class JointModel(GradientModel):
    """The sources' models as one module trained on one objective (see the module)."""

    def __init__(self, models: dict[str, GradientModel], training: TrainingConfig):
        super().__init__()
        self.models = nn.ModuleDict(models)
        first = next(iter(models.values()))
        if getattr(first.config, "shared", False):  # model.shared: one trunk, a head each
            for model in list(models.values())[1:]:
                model.share(first)
        self.weak = training.supervision == "class"
        self.discriminative = training.discriminative
        self.direct = training.joint_direct
        self.permutation_invariant = training.permutation_invariant
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

        def error(
            estimate: torch.Tensor, model: str, reference: str, per_segment: bool = False
        ) -> torch.Tensor:
            """``rec`` of model's ``estimate`` against source ``reference`` (or each
            segment's)."""
            if batch.waveforms is not None:
                return batch.waveforms[reference].loss(estimate, per_segment)
            target = batch.targets[reference]
            return self.models[model].reconstruction(estimate, target, per_segment)

        if self.weak:
            present = batch.present.to(batch.mixture.dtype)
            total = sum(present[:, k, None, None] * e for k, e in enumerate(estimates.values()))
            parts["rec"] = rec = first.reconstruction(total, batch.mixture)
            loss = rec
        else:
            masks = soft_masks(estimates, self.config.mask_power)
            masked = {s: masks[s] * batch.mixture for s in self.models}
            if self.permutation_invariant:
                names = list(self.models)
                errors = {(s, r): error(masked[s], s, r, True) for s in names for r in names}
                totals = torch.stack(
                    [sum(errors[pair] for pair in zip(names, p)) for p in permutations(names)]
                )  # (assignments, B); the first is the identity
                best = totals.min(dim=0)
                parts["rec"] = loss = best.values.mean()
                parts["in_order"] = (best.indices == 0).to(loss.dtype).mean()
            else:
                parts["rec"] = loss = sum(error(masked[s], s, s) for s in self.models)
            if self.discriminative:
                parts["disc"] = disc = sum(
                    error(masked[s], s, j) for s in self.models for j in self.models if j != s
                )
                loss = loss - self.discriminative * disc
            if self.direct:
                parts["direct"] = direct = sum(error(estimates[s], s, s) for s in self.models)
                loss = loss + self.direct * direct
        parts.update({k: v for k, (v, _) in penalties.items()})
        return add_penalties(loss, penalties), {k: v.item() for k, v in parts.items()}
