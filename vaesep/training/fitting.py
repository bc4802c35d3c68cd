"""How registered models are fitted, apart from gradient training (:mod:`vaesep.training.gradient`).

Every fit takes a :class:`FitRun` and returns ``{source: summary}``, each summary with an
``outcome`` line for the CLI. NMF learns one dictionary per source from that source's training
spectrograms (``train.log``: the loss every 10 iterations); a fixed filter (the band-pass of
[116]) stores each source's per-bin gain; an oracle learns nothing. All store identity feature
statistics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from vaesep.config import Config
from vaesep.data.datadir import load_datadir
from vaesep.expdir import ExpDir
from vaesep.features import FeatureStats, spectrogram
from vaesep.models.bandpass import band_gains
from vaesep.models.nmf import learn_dictionary
from vaesep.training.distributed import Ranks
from vaesep.training.segments import load_stfts


@dataclass(frozen=True)
class FitRun:
    """One training run: what to fit, on which data, into which experiment dir."""

    config: Config
    data_dir: Path
    exp: ExpDir
    device: torch.device
    resume: bool
    sources: tuple[str, ...]
    # Builds one source's module from (input_dim, output_dim): the registry entry's.
    build: Callable[[int, int], nn.Module]
    ranks: Ranks = Ranks()  # data-parallel processes (vaesep.training.distributed)
    # {source: state dict} to start from (training.init_from, vaesep.training.initial).
    initial: dict[str, dict] = field(default_factory=dict)


def source_seed(config: Config, source: str) -> int:
    """The seed of one source's model: ``training.seed`` plus the source's index."""
    seed, names = config.training.seed, config.data.names
    return seed + names.index(source) if source in names else seed


def fit_dictionaries(run: FitRun) -> dict[str, dict]:
    """One NMF dictionary per source from all of that source's training spectrograms.

    Nothing to resume: a dictionary takes seconds, so it is learned again.
    """
    config = run.config
    stfts = load_stfts(run.data_dir, config)
    run.exp.write_setup(config, FeatureStats.identity(config.features.num_bins))
    m = config.model
    summaries = {}
    for source in run.sources:
        started = time.perf_counter()
        stft = torch.cat([refs[source] for _, _, refs in stfts])
        frames = spectrogram(stft, config.features.spectrogram).float().to(run.device)
        dictionary, losses = learn_dictionary(frames, m, source_seed(config, source))
        run.exp.append_log([{"source": source, "iteration": i, "loss": loss} for i, loss in losses])
        seconds = round(time.perf_counter() - started, 3)
        summary = {
            "source": source,
            "model": m.type,
            "components": m.nmf_components,
            "divergence": m.nmf_divergence,
            "iterations": m.nmf_iterations,
            "loss": losses[-1][1],
            "train_frames": len(frames),
            "device": str(run.device),
            "seconds": seconds,
            "outcome": f"{m.nmf_iterations} NMF iterations, loss {losses[-1][1]:.4g}, "
            f"{seconds:.1f} s",
        }
        state = {"dictionary": dictionary}
        summaries[source] = run.exp.save_source(source, config, state, summary)
    return summaries


def fit_filter(run: FitRun) -> dict[str, dict]:
    """The band-pass of [116]: the first source keeps ``|H|²`` of each bin, the second the
    rest (nothing is learned; the data dir is checked)."""
    load_datadir(run.data_dir)
    config = run.config
    m, first = config.model, config.data.names[0]
    run.exp.write_setup(config, FeatureStats.identity(config.features.num_bins))
    gain = band_gains(m, config.features)
    summaries = {}
    for source in run.sources:
        kept = "the pass band" if source == first else "the stop bands"
        summary = {
            "source": source,
            "model": m.type,
            "band_hz": [m.low_hz, m.high_hz],
            "seconds": 0.0,
            "outcome": f"{kept} of a Chebyshev I band-pass, {m.low_hz:g}-{m.high_hz:g} Hz",
        }
        state = {"gain": gain if source == first else 1 - gain}
        summaries[source] = run.exp.save_source(source, config, state, summary)
    return summaries


def fit_nothing(run: FitRun) -> dict[str, dict]:
    """Nothing to learn (an oracle): check the data dir, write the config and empty models."""
    load_datadir(run.data_dir)
    config = run.config
    run.exp.write_setup(config, FeatureStats.identity(config.features.num_bins))
    model = {"model": config.model.type, "seconds": 0.0, "outcome": "nothing to learn"}
    return {s: run.exp.save_source(s, config, {}, {"source": s, **model}) for s in run.sources}
