"""Mode collapse of the generative priors of [114], measured without references.

For every source of a trained prior experiment (``gan``, ``wgan``, ``ae_wgan``, ``mlae``,
``gen_vae``, and ``wgan_paper``-style configs), the **spread**: the mean over bins of the
standard deviation of ``log(1 + frame)`` of generated frames, divided by that of the source's
real training frames (1: as varied as the speech; near 0: the generator has collapsed onto a
few spectra and cannot follow a mixture). Noise generators and the VAE prior are fed as many
N(0, I) codes as the source has training frames (also those trained on a fixed noise bank:
its vectors are N(0, I) draws too), frame readers (``ae_wgan``, ``mlae``) the training frames
themselves.
``docs/adversarial_priors.md`` calls a generator with a spread below 0.25 collapsed::

    python benchmarks/adversarial_spread.py EXP_DIR TRAIN_DIR [EXP_DIR TRAIN_DIR ...]

It prints one JSON line per experiment: ``{"exp": ..., "spread": {source: value}}``.
"""

from __future__ import annotations

import argparse
import json

import torch

from vaesep.expdir import load
from vaesep.features import Featurizer, spectrogram
from vaesep.models.priors import MLAE
from vaesep.registry import SECTIONS
from vaesep.separation.separator import build_models
from vaesep.training.segments import load_stfts


def log_spread(frames: torch.Tensor) -> float:
    """Mean over bins of the standard deviation of ``log(1 + frames)`` ``(N, F)``."""
    return float(torch.log1p(frames.clamp_min(0)).std(0).mean())


@torch.no_grad()
def spreads(exp_dir: str, train_dir: str, seed: int = 0) -> dict[str, float]:
    """``{source: generated spread / real spread}`` of a prior experiment's generators."""
    experiment = load(exp_dir, SECTIONS)
    config = experiment.config
    featurizer = Featurizer(config.features, experiment.stats)
    stfts = load_stfts(train_dir, config)
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for source, model in build_models(experiment).items():
        model.eval()
        real = torch.cat(
            [spectrogram(refs[source], config.features.spectrogram) for *_, refs in stfts]
        )
        real = featurizer.target(real.float())
        if isinstance(model, MLAE) or getattr(model, "reads_frames", False):
            codes = real
        else:
            codes = torch.randn(len(real), model.code_dim, generator=generator)
        out[source] = round(log_spread(model.generate(codes)) / log_spread(real), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", nargs="+", help="EXP_DIR TRAIN_DIR, repeated")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if len(args.pairs) % 2:
        parser.error("give EXP_DIR TRAIN_DIR pairs")
    for exp_dir, train_dir in zip(args.pairs[::2], args.pairs[1::2]):
        print(json.dumps({"exp": exp_dir, "spread": spreads(exp_dir, train_dir, args.seed)}))


if __name__ == "__main__":
    main()
