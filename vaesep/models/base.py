"""The model interface: what training and separation ask of a registered model.

Tensors are laid out ``(batch, frames, features)``: a training example is a *segment* of
``segment_frames`` consecutive frames of one utterance (1 for the study's frame-wise MLPs),
and separation hands a model a whole (chunk of a) recording as one ``(1, frames, ·)`` segment.

- :class:`SourceModel`: one source's model as separation uses it: ``forward(x, mixture)``
  maps network inputs ``(B, T, D)`` and the mixture spectrum ``(B, T, F)`` (in the target
  scale) to that source's non-negative spectrum estimate ``(B, T, F)``. ``receptive_field``
  says how many frames on each side an output frame depends on (``None``: unbounded, e.g. a
  recurrent network), which decides how long recordings are chunked; a model whose field
  depends on its config sets it per instance (the class value is its default).
  ``onnx_refusal`` says why the module cannot be traced into one ONNX graph for any length
  (None: it can; :mod:`vaesep.separation.onnx_runtime`).
- :class:`GradientModel`: a source model trained by gradient steps. The trainer calls
  :meth:`~GradientModel.optimizers` once, then :meth:`~GradientModel.training_step` for every
  batch and :meth:`~GradientModel.validation_step` for every validation batch; the defaults
  are one optimizer and ``loss`` minimized. A model usually writes only
  :meth:`~GradientModel.estimate_for_training` (its estimate as training sees it, e.g. from a
  sampled code, and its weighted penalties such as a KL); the default ``loss`` adds the
  reconstruction error of that estimate, or scores it as a waveform (``training.loss:
  si_sdr``, :mod:`vaesep.models.objectives`). Such a model can also be trained jointly with the
  other sources' models through their masks, or from mixtures and class labels alone
  (:mod:`vaesep.training.joint`). A model with another objective overrides ``loss``; one with
  several optimizers (e.g. an adversarial one) overrides ``optimizers`` and the steps too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn

from vaesep.models.layers import reconstruction_loss

if TYPE_CHECKING:
    from vaesep.models.objectives import Waveforms

# {name: (value, weight)}: a model's penalties, each added to its loss as weight · value.
Penalties = dict[str, tuple[torch.Tensor, float]]


@dataclass(frozen=True)
class Batch:
    """A batch of segments for one source's model: network inputs ``(B, T, D)``, that
    source's target spectrum and the mixture spectrum ``(B, T, F)`` (target scale), and under
    ``training.loss: si_sdr`` the complex STFTs the estimate is scored as a waveform with."""

    inputs: torch.Tensor
    target: torch.Tensor
    mixture: torch.Tensor
    waveforms: Waveforms | None = None

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def select(self, index: torch.Tensor | slice) -> Batch:
        """The segments at ``index`` (a tensor of indices or a slice)."""
        waveforms = self.waveforms.select(index) if self.waveforms is not None else None
        return Batch(self.inputs[index], self.target[index], self.mixture[index], waveforms)


class NonFiniteLoss(ArithmeticError):
    """A training step met a NaN or infinite loss (the trainer turns it into a user error)."""

    def __init__(self, value: float):
        super().__init__(value)
        self.value = value


class SourceModel(nn.Module):
    """One source's model as the separator uses it (see the module docstring)."""

    # Frames on each side an output frame depends on; None: unbounded (recurrent).
    receptive_field: ClassVar[int | None] = 0
    # Why the module cannot be traced into one ONNX graph for every length (None: it can).
    onnx_refusal: ClassVar[str | None] = None
    # Whether it estimates complex spectra [Re, Im] (features.spectrogram: complex), which
    # separation rejoins instead of masking the mixture.
    complex_spectra: ClassVar[bool] = False

    def forward(self, x: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        """Non-negative spectrum estimate ``(B, T, F)`` of inputs ``(B, T, D)``."""
        raise NotImplementedError

    @classmethod
    def trains_jointly(cls) -> bool:
        """Whether the model can train jointly and under weak class supervision."""
        return False


class GradientModel(SourceModel):
    """A source model trained by gradient steps; the defaults are the study's loop body."""

    # Keep the epoch of the lowest validation loss (False: the last epoch, e.g. for a GAN,
    # whose losses do not measure quality).
    selects_best: ClassVar[bool] = True

    def estimate_for_training(
        self, x: torch.Tensor, mixture: torch.Tensor
    ) -> tuple[torch.Tensor, Penalties]:
        """The spectrum estimate ``(B, T, F)`` as training sees it and the model's penalties.

        A model that defines it can train jointly through the masks (``training.joint``) and
        under weak class supervision (``training.supervision: class``).
        """
        raise NotImplementedError(f"{type(self).__name__} has no training estimate")

    @classmethod
    def trains_jointly(cls) -> bool:
        """Whether the model defines :meth:`estimate_for_training`."""
        return cls.estimate_for_training is not GradientModel.estimate_for_training

    def reconstruction(
        self, estimate: torch.Tensor, target: torch.Tensor, per_segment: bool = False
    ) -> torch.Tensor:
        """The reconstruction error of an estimate (``model.reconstruction``): a scalar, or
        with ``per_segment`` one per segment ``(B,)``."""
        return reconstruction_loss(estimate, target, self.config.reconstruction, per_segment)

    def loss(
        self, x: torch.Tensor, target: torch.Tensor, mixture: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """(scalar loss, {component: value}) of a batch of segments: by default the
        reconstruction error of the training estimate plus the weighted penalties."""
        estimate, penalties = self.estimate_for_training(x, mixture)
        return with_penalties("rec", self.reconstruction(estimate, target), penalties)

    def optimizers(self, training) -> dict[str, torch.optim.Optimizer]:
        """The optimizers by name (checkpointed under these names): one, over all weights."""
        return {"model": make_optimizer(self.parameters(), training)}

    @classmethod
    def scores_waveforms(cls) -> bool:
        """Whether ``training.loss: si_sdr`` can replace the model's reconstruction error: it
        writes only its estimate (and penalties), not its own loss."""
        return cls.trains_jointly() and cls.loss is GradientModel.loss

    def batch_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """(loss, components) of a batch; the default is :meth:`loss` of one source's, or with
        the batch's waveforms the negative SI-SDR of the estimate plus the penalties."""
        if batch.waveforms is None:
            return self.loss(batch.inputs, batch.target, batch.mixture)
        estimate, penalties = self.estimate_for_training(batch.inputs, batch.mixture)
        return with_penalties("neg_si_sdr", batch.waveforms.loss(estimate), penalties)

    def training_step(
        self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer], step: int
    ) -> dict[str, float]:
        """One gradient step; returns ``loss`` (for the epoch's mean) and its components.

        Raises :class:`NonFiniteLoss` before stepping when the loss is NaN or infinite.
        """
        loss, components = self.batch_loss(batch)
        check_finite(loss)
        optimizer = optimizers["model"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), **components}

    def validation_step(self, batch: Batch) -> dict[str, float]:
        """The validation ``loss`` of a batch (it picks the best epoch); in eval mode."""
        with torch.no_grad():
            loss, _ = self.batch_loss(batch)
        return {"loss": loss.item()}


def add_penalties(loss: torch.Tensor, penalties: Penalties) -> torch.Tensor:
    """``loss`` plus every penalty's weight · value."""
    for value, weight in penalties.values():
        loss = loss + weight * value
    return loss


def with_penalties(
    name: str, error: torch.Tensor, penalties: Penalties
) -> tuple[torch.Tensor, dict[str, float]]:
    """(``error`` plus the weighted penalties, {``name``: error, each penalty: its value})."""
    parts = {k: v.item() for k, (v, _) in penalties.items()}
    return add_penalties(error, penalties), {name: error.item(), **parts}


def check_finite(loss: torch.Tensor) -> None:
    """Raise :class:`NonFiniteLoss` when ``loss`` is NaN or infinite (before any step)."""
    if not torch.isfinite(loss):
        raise NonFiniteLoss(loss.item())


def make_optimizer(parameters, training) -> torch.optim.Optimizer:
    """``training.optimizer`` (adam, adamw, rmsprop, or sgd with momentum 0.9) over
    ``parameters``."""
    if training.optimizer == "sgd":
        return torch.optim.SGD(
            parameters, lr=training.learning_rate, momentum=0.9, weight_decay=training.weight_decay
        )
    if training.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            parameters, lr=training.learning_rate, weight_decay=training.weight_decay
        )
    cls = torch.optim.AdamW if training.optimizer == "adamw" else torch.optim.Adam
    return cls(parameters, lr=training.learning_rate, weight_decay=training.weight_decay)
