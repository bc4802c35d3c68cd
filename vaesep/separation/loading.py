"""Loading the separator of any experiment dir: mono, multichannel or oracle, optionally with
other separation settings (``--set``) than it was trained with."""

from __future__ import annotations

from pathlib import Path

from vaesep.errors import VaesepError
from vaesep.expdir import is_bag, load, with_settings
from vaesep.io.device import resolve_device
from vaesep.registry import SECTIONS, spec_of
from vaesep.separation.bag import Bag, bag_from_dir
from vaesep.separation.demixer import Demixer
from vaesep.separation.onnx_runtime import refusal
from vaesep.separation.oracle_separator import OracleSeparator
from vaesep.separation.separator import Separator, resolve_backend


def load_separator(
    exp_dir: str | Path,
    device: str = "auto",
    separating: bool = False,
    overrides: list[str] | None = None,
    **kwargs,
) -> Separator | Bag | Demixer | OracleSeparator:
    """A :class:`Demixer` for a multichannel model, an :class:`OracleSeparator` for an
    oracle (only ``evaluate`` can run it: with ``separating`` an oracle is a one-line error),
    else a :class:`Separator` (``kwargs``: its chunking options, ``precision`` and
    ``backend``) on ``device`` (see :meth:`Separator.from_experiment`; ``auto`` by default).
    ``overrides`` change model settings that keep the trained network (see
    :func:`with_settings`). A bag dir (``bag.yaml``) is a :class:`Bag` of its members, each
    loaded as here with these options."""
    if is_bag(exp_dir):
        return bag_from_dir(
            exp_dir,
            lambda member: load_separator(member, device, True, overrides, **kwargs),
        )
    experiment = load(exp_dir, SECTIONS)
    if overrides:
        experiment = with_settings(experiment, overrides)
    spec = spec_of(experiment.config)
    precision = kwargs.get("precision", "fp32")
    backend = resolve_backend(precision, kwargs.get("backend"))
    no_network = spec.multichannel or spec.needs_references
    if no_network and backend != "torch":
        raise VaesepError(refusal(experiment.config, spec, experiment.path.name))
    if no_network and precision != "fp32":
        raise VaesepError(
            f"--precision {precision}: {experiment.config.model.type} runs in fp32 only (no "
            "network to run in lower precision at separation); drop --precision"
        )
    if no_network and experiment.config.features.shifts > 1:
        raise VaesepError(
            f"features.shifts: model.type {experiment.config.model.type} has no network whose "
            "frame grid to shift; drop the setting"
        )
    if spec.multichannel:
        return Demixer.from_experiment(experiment, device)
    if spec.needs_references and not separating:
        resolve_device(device, "--device")  # an oracle runs on no device: the name is checked
        return OracleSeparator(experiment.config, name=experiment.path.name)
    return Separator.from_experiment(experiment, device=device, **kwargs)
