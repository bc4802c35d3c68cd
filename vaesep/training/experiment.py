"""Training: fit every source's model of a config on a data dir into an experiment dir.

What is fitted is the registry entry's (:mod:`vaesep.registry`), and how is :data:`FITS` under
the entry's ``fit`` name: gradient steps (:mod:`vaesep.training.gradient`), an NMF dictionary,
a conditional VAE shared by the sources, or nothing; the files written are the experiment dir's
(:mod:`vaesep.expdir`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

from vaesep.config import Config
from vaesep.data.datadir import DEFAULT_SOURCES, read_source_names
from vaesep.errors import VaesepError, log, optional
from vaesep.expdir import ExpDir
from vaesep.io.device import resolve_device
from vaesep.models.bandpass import BandpassConfig, check_band
from vaesep.registry import MODELS, SECTIONS, build_model, spec_of
from vaesep.training.conditional import fit_conditional
from vaesep.training.distributed import Ranks, ReaderDir, barrier, joined, ranks_from_env
from vaesep.training.fitting import FitRun, fit_dictionaries, fit_filter, fit_nothing
from vaesep.training.gradient import fit_gradient
from vaesep.training.initial import initial_weights

# How a registry entry is fitted, by its ``fit`` name: FitRun -> {source: summary}.
FITS: dict[str, Callable[[FitRun], dict[str, dict]]] = {
    "gradient": fit_gradient,
    "dictionaries": fit_dictionaries,
    "filter": fit_filter,
    "conditional": fit_conditional,
    "nothing": fit_nothing,
}


def train(
    config: Config,
    data_dir: str | Path,
    exp_dir: str | Path,
    resume: bool = False,
    force: bool = False,
    sources: tuple[str, ...] | None = None,
    command: list[str] | None = None,
) -> dict:
    """Train every source's model on a data dir and write a self-contained experiment dir.

    ``sources``: the ones to train (default all: the data dir's, see :func:`with_sources`);
    ``command``: the command line to record in ``command.txt`` (the CLI's).
    """
    config = with_sources(config, data_dir)
    sources = config.data.names if sources is None else sources
    check_features(config)
    check_together(config, sources)
    initial = initial_weights(config, sources)
    if config.training.loss == "si_sdr":  # before any work, not at the first batch
        optional("torchmetrics", "train", "training.loss: si_sdr")
    if config.data.streams and spec_of(config).fit != "gradient":
        log.warning(
            "data.loading: %s streams examples to gradient training; %s is fitted from the "
            "data in memory",
            config.data.loading,
            config.model.type,
        )
    ranks = ranks_from_env()
    if ranks.active and spec_of(config).fit != "gradient":
        raise VaesepError(
            f"{config.model.type}: data-parallel training (torchrun) is for gradient models; "
            "train it in one process"
        )
    device = resolve_device(config.training.device, "training.device")
    with joined(ranks, device) as device:
        if not ranks.writes:  # reads the checkpoints rank 0 keeps; writes nothing
            barrier(ranks)
            return _fit(
                config, data_dir, ReaderDir(exp_dir), device, resume, sources, ranks, initial
            )
        exp = ExpDir(exp_dir)
        exp.path.mkdir(parents=True, exist_ok=True)
        with exp.lock():  # before prepare, which --force lets delete files
            exp.prepare(config, SECTIONS, resume, force)
            barrier(ranks)
            summary = _fit(config, data_dir, exp, device, resume, sources, ranks, initial)
            if command is not None:
                exp.write_command(command)
            return summary


def _fit(
    config: Config,
    data_dir: str | Path,
    exp: ExpDir,
    device: torch.device,
    resume: bool,
    sources: tuple[str, ...],
    ranks: Ranks,
    initial: dict[str, dict],
) -> dict:
    """Run the registry entry's fit; ``{"sources": summaries, "seconds": ...}``."""
    if config.training.num_threads:
        torch.set_num_threads(config.training.num_threads)
    started = time.perf_counter()
    build = partial(build_model, config.model)
    run = FitRun(config, Path(data_dir), exp, device, resume, tuple(sources), build, ranks, initial)
    summaries = FITS[spec_of(config).fit](run)
    return {"sources": summaries, "seconds": round(time.perf_counter() - started, 3)}


def with_sources(config: Config, data_dir: str | Path) -> Config:
    """``config`` with ``data.sources`` set to the training dir's sources (its ``sources``
    file), which the experiment then records (female, male: as the config has it, so a
    female+male experiment's config is as before); an error where the config names others."""
    names = read_source_names(Path(data_dir))
    if config.data.sources and tuple(config.data.sources) != names:
        raise VaesepError(
            f"data.sources: the config names {', '.join(config.data.sources)} but {data_dir} "
            f"holds {', '.join(names)} (its sources file); drop the key or name those"
        )
    if names == DEFAULT_SOURCES:
        return config
    return dataclasses.replace(config, data=dataclasses.replace(config.data, sources=list(names)))


def check_features(config: Config) -> None:
    """Complex spectrograms and a model of complex spectra go together, uncompressed; a
    band-pass's band lies below the Nyquist frequency."""
    f = config.features
    complex_model = MODELS[config.model.type].module.complex_spectra
    if complex_model != (f.spectrogram == "complex"):
        need = "complex" if complex_model else "magnitude or power"
        raise VaesepError(
            f"features.spectrogram: model.type {config.model.type} needs {need}, got "
            f"{f.spectrogram}"
        )
    if complex_model and f.compression != "none":
        raise VaesepError("features.compression: complex spectrograms need none (signed values)")
    if isinstance(config.model, BandpassConfig):
        check_band(config.model, f)


def check_together(config: Config, sources: tuple[str, ...]) -> None:
    """One-line errors for joint or weak training (:mod:`vaesep.training.joint`) that cannot run."""
    t = config.training
    if not t.trains_together:
        if getattr(config.model, "shared", False):
            raise VaesepError(
                "model.shared: the sources' models share a network only when they train as "
                "one; set training.joint: true"
            )
        return
    key = "training.joint" if t.joint else "training.supervision"
    if set(sources) != set(config.data.names):
        raise VaesepError(f"{key}: trains every source's model together; drop --sources")
    if not MODELS[config.model.type].module.trains_jointly():
        able = sorted(n for n, m in MODELS.items() if m.module.trains_jointly())
        raise VaesepError(
            f"{key}: model.type {config.model.type} cannot train jointly; "
            f"use one of {', '.join(able)}"
        )
