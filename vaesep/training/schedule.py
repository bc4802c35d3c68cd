"""The learning rate's decay on validation plateaus (``training.lr_decay``,
``training.lr_patience``): torch's :class:`ReduceLROnPlateau` per optimizer, its state kept in
the training loop's checkpointed state so that ``--resume`` continues the decayed rate."""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau

from vaesep.config import TrainingConfig


def plateaus(
    optimizers: dict[str, torch.optim.Optimizer], t: TrainingConfig
) -> dict[str, ReduceLROnPlateau]:
    """Each optimizer's rate decay on a validation plateau (``training.lr_decay``); none at 1.
    A plateau is ``lr_patience`` epochs without a strictly lower loss, as early stopping
    counts them."""
    if t.lr_decay == 1:
        return {}
    return {
        name: ReduceLROnPlateau(opt, factor=t.lr_decay, patience=t.lr_patience, threshold=0.0)
        for name, opt in optimizers.items()
    }


def restore_plateaus(
    schedulers: dict[str, ReduceLROnPlateau],
    optimizers: dict[str, torch.optim.Optimizer],
    state: dict,
) -> None:
    """On resume the decay goes on where it was (its rate and plateau count; the factor and
    patience are the config's, as every ``training.*`` may change on resume). A checkpoint
    written without one (a constant rate until then) starts it at the config's rate, counting
    the epochs since the best one as part of the plateau, as early stopping does."""
    saved = state.get("plateaus", {})
    for name, scheduler in schedulers.items():
        if name not in saved:
            scheduler.best, scheduler.num_bad_epochs = state["best_loss"], state["stale"]
            continue
        factor, patience = scheduler.factor, scheduler.patience  # the config's, now
        scheduler.load_state_dict(saved[name])
        scheduler.factor, scheduler.patience = factor, patience
        for group, rate in zip(optimizers[name].param_groups, scheduler.get_last_lr()):
            group["lr"] = rate


def rate(optimizers: dict[str, torch.optim.Optimizer]) -> float:
    """The rate the epoch trained with (the first optimizer's first group)."""
    return next(iter(optimizers.values())).param_groups[0]["lr"]
