"""A model's last-epoch checkpoint: written atomically after every epoch, restored exactly by
``--resume`` (weights, every optimizer's state, the random generators, the loop's state)."""

from __future__ import annotations

from pathlib import Path

import torch

from vaesep.errors import VaesepError
from vaesep.expdir import atomic_save, versions
from vaesep.models.base import GradientModel
from vaesep.training.fitting import FitRun


def save_checkpoint(
    path: Path,
    model: GradientModel,
    optimizers: dict[str, torch.optim.Optimizer],
    generator: torch.Generator,
    best_weights: dict,
    state: dict,
    run: FitRun,
) -> None:
    atomic_save(
        {
            "model": model.state_dict(),
            "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
            "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "best_model": best_weights,
            "state": state,
            "model_type": run.config.model.type,
            "versions": versions(),
        },
        path,
    )


def restore(
    ckpt_path: Path,
    model: GradientModel,
    optimizers: dict[str, torch.optim.Optimizer],
    generator: torch.Generator,
) -> tuple[dict, dict]:
    """Load a last-epoch checkpoint into the training objects; return (best weights, state).

    The optimizers keep the learning rate and weight decay the config gives them now
    (``training.*`` may change on resume).
    """
    device = next(model.parameters()).device
    try:
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        saved = ckpt["optimizers"] if "optimizers" in ckpt else {"model": ckpt["optimizer"]}
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with it, the fix is the same
        raise _unresumable(ckpt_path, type(exc).__name__) from None
    if set(saved) != set(optimizers):
        raise VaesepError(
            f"{ckpt_path}: holds the optimizer(s) {', '.join(sorted(saved))} but the model "
            f"trains with {', '.join(sorted(optimizers))}; resume with the model it was started "
            "with, or delete it to restart that source"
        )
    try:
        model.load_state_dict(ckpt["model"])
        for name, optimizer in optimizers.items():
            fresh = [(g["lr"], g.get("weight_decay")) for g in optimizer.param_groups]
            optimizer.load_state_dict(saved[name])
            for group, (lr, decay) in zip(optimizer.param_groups, fresh):
                group.update(lr=lr, weight_decay=decay)
        generator.set_state(ckpt["generator"])
        torch.set_rng_state(ckpt["torch_rng"])
    except Exception as exc:  # noqa: BLE001
        raise _unresumable(ckpt_path, type(exc).__name__) from None
    state = ckpt["state"]
    state.setdefault("step", 0)
    return ckpt["best_model"], state


def _unresumable(ckpt_path: Path, reason: str) -> VaesepError:
    return VaesepError(
        f"{ckpt_path}: cannot resume from it ({reason}); resume with the training.optimizer "
        "it was started with, or delete it to restart that source"
    )
