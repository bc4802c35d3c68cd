"""Loading the separator of any experiment dir: mono, multichannel or oracle, optionally with
other separation settings (``--set``) than it was trained with."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from vaesep.config import apply_overrides, config_from_dict
from vaesep.errors import VaesepError
from vaesep.expdir import CONFIG_FILE, Experiment, load
from vaesep.io.device import resolve_device
from vaesep.registry import MODELS, SECTIONS, spec_of
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
) -> Separator | Demixer | OracleSeparator:
    """A :class:`Demixer` for a multichannel model, an :class:`OracleSeparator` for an
    oracle (only ``evaluate`` can run it: with ``separating`` an oracle is a one-line error),
    else a :class:`Separator` (``kwargs``: its chunking options, ``precision`` and
    ``backend``) on ``device`` (see :meth:`Separator.from_experiment`; ``auto`` by default).
    ``overrides`` change model settings that keep the trained network (see
    :func:`with_settings`)."""
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
    if spec.multichannel:
        return Demixer.from_experiment(experiment, device)
    if spec.needs_references and not separating:
        resolve_device(device, "--device")  # an oracle runs on no device: the name is checked
        return OracleSeparator(experiment.config, name=experiment.path.name)
    return Separator.from_experiment(experiment, device=device, **kwargs)


def with_settings(experiment: Experiment, overrides: list[str]) -> Experiment:
    """The experiment with ``--set`` overrides of its model's separation settings, e.g.
    ``model.type=fast_mvae`` on an ``mvae`` experiment (the same network) or
    ``model.iterations=80``, or ``features.input_level_db``. The other features and the network
    stay as trained: a type of another network, or a size its weights do not fit, is a
    one-line error."""
    source = f"{experiment.path / CONFIG_FILE} with --set"
    data = apply_overrides(experiment.config.to_dict(), overrides)
    config = config_from_dict(data, SECTIONS, source=source)
    trained, wanted = experiment.config.model.type, config.model.type
    if config.features.as_trained() != experiment.config.features.as_trained():
        raise VaesepError(
            f"--set features.*: {experiment.path} was trained with its features (of them only "
            "features.input_level_db is a separation setting)"
        )
    if MODELS[wanted].module is not MODELS[trained].module:
        raise VaesepError(
            f"--set model.type={wanted}: {experiment.path} holds a {trained} network and "
            f"{wanted} uses another; choose a type of the same network or train one"
        )
    return replace(experiment, config=config)
