"""The masked-mixture error of trained experiments on their validation utterances.

A model-agnostic criterion for choosing among training variants (independent or joint
training, a discriminative weight, dynamic mixing) without looking at a test set: each
experiment's held-out *training* utterances (its ``training.seed`` and
``training.validation_fraction``, as the trainer split them) are separated by its own
separator's masks, and the error of every masked mixture against its reference is reported,
in the experiment's target scale: Σ_k ‖m_k ⊙ |X| − |S_k|‖² per frame (``mse``), averaged over
the validation frames — the joint objective without penalties. Lower is better.

    python benchmarks/masked_validation.py recipes/timit_mf/data/mixtures/train EXP [EXP ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from vaesep.features import spectrogram
from vaesep.models.masks import soft_masks
from vaesep.separation.separator import Separator
from vaesep.training.segments import load_stfts, split_utterances


def masked_validation_error(exp: Path, train_dir: Path) -> dict:
    """{exp, utterances, frames, error} of one experiment dir."""
    separator = Separator.from_dir(exp)
    config = separator.config
    stfts = load_stfts(train_dir, config)
    _, val_ids = split_utterances(
        [u for u, _, _ in stfts], config.training.validation_fraction, config.training.seed
    )
    kind = config.features.spectrogram
    scale = separator.featurizer.stats.target_scale
    total, frames = 0.0, 0
    for utt, mixture, sources in stfts:
        if utt not in val_ids:
            continue
        mix = spectrogram(mixture, kind)
        masks = soft_masks(separator.estimate_spectrograms(mix), config.model.mask_power)
        for source, reference in sources.items():
            diff = (masks[source] * mix - spectrogram(reference, kind)) / scale
            total += float(diff.square().sum())
        frames += len(mix)
    return {"exp": str(exp), "utterances": len(val_ids), "frames": frames, "error": total / frames}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_dir", type=Path, help="the training data dir the runs used")
    parser.add_argument("exps", type=Path, nargs="+", help="experiment dirs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for exp in args.exps:
        print(json.dumps(masked_validation_error(exp, args.train_dir)))


if __name__ == "__main__":
    main()
