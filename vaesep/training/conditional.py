"""Training of the conditional VAE all sources share (MVAE / FastMVAE, :mod:`vaesep.models.cvae`).

One CVAE learns every source's clean power spectrograms, each segment labelled with its
index among the sources; the training and validation segments are those of
:func:`vaesep.training.segments.build_segment_sets` (validation: held-out training utterances),
and the epochs, checkpoint (``checkpoints/cvae.last.pt``), exact ``--resume``, early stopping and
``train.log`` those of :func:`vaesep.training.gradient.train_model`.
"""

from __future__ import annotations

import torch

from vaesep.config import FeatureConfig
from vaesep.data.datadir import load_datadir
from vaesep.errors import VaesepError, log
from vaesep.features import Featurizer
from vaesep.models.cvae import LabelledBatch
from vaesep.training.fitting import FitRun, source_seed
from vaesep.training.gradient import train_model
from vaesep.training.segments import SegmentSet, build_segment_sets, read_stfts
from vaesep.training.streaming import InMemory

NAME = "cvae"  # the model's name in its checkpoint, log and progress bar
SILENCE = 1e-10  # segments whose mean power (target scale) is at most this are dropped


def labelled_batch(
    segments: SegmentSet, features: FeatureConfig, device: torch.device | str = "cpu"
) -> LabelledBatch:
    """Every source's target segments of ``segments`` as power ``(N, T, F)`` with their
    index among the sources as label, on ``device``; all-silent segments left out."""
    powers, labels = [], []
    for index, source in enumerate(segments.targets):
        target = segments.targets[source]
        power = target.square() if features.spectrogram == "magnitude" else target
        keep = power.mean(dim=(1, 2)) > SILENCE
        powers.append(power[keep])
        labels.append(torch.full((int(keep.sum()),), index, dtype=torch.long))
    return LabelledBatch(torch.cat(powers).to(device), torch.cat(labels).to(device))


def fit_conditional(run: FitRun) -> dict[str, dict]:
    """Train one CVAE on both sources' clean spectrograms; ``{source: summary}``.

    Every ``<source>.pt`` holds the whole CVAE (the same weights) and its summary the
    source's ``label`` (its class index): separation and evaluation read one model file per
    source, and here that file is the shared conditional model, the source its label.
    """
    config = run.config
    t = config.training
    if t.trains_together:
        key = "training.joint" if t.joint else "training.supervision"
        raise VaesepError(
            f"{key}: model.type {config.model.type} trains one conditional model on the clean "
            "sources with their labels; set training.joint: false, training.supervision: source"
        )
    data = load_datadir(run.data_dir)
    stfts = read_stfts(data, config)
    featurizer = Featurizer(config.features)
    frames = config.model.segment_frames
    train_set, val_set = build_segment_sets(stfts, featurizer, t, frames, names=data.names)
    run.exp.write_setup(config, featurizer.stats)

    def batches(segments: SegmentSet) -> LabelledBatch:
        return labelled_batch(segments, config.features, run.device)

    train_size = len(batches(train_set))
    if train_size == 0:
        raise VaesepError(f"{run.data_dir}: every training segment is silent; check the audio")
    val_size = len(batches(val_set)) if val_set is not None else 0
    if val_set is not None and val_size == 0:
        log.warning("%s: every validation segment is silent; validating on training", NAME)
        val_set = None
    log.info(
        "%d utterances: %d training and %d validation segments of %d frames (both sources), "
        "device %s",
        len(stfts),
        train_size,
        val_size,
        frames,
        run.device,
    )
    torch.manual_seed(source_seed(config, NAME))
    model = run.build(featurizer.input_dim, config.features.num_bins)
    val_data = InMemory(val_set) if val_set is not None else None
    best, summary = train_model(NAME, model, batches, InMemory(train_set), val_data, run)
    return {
        source: run.exp.save_source(
            source, config, best, {"source": source, "label": index, **summary}
        )
        for index, source in enumerate(data.names)
    }
