"""Core speed figures of issue 2, measured on generated speech-like data (no corpus needed).

    python benchmarks/core_speed.py [--config configs/vae.yaml] [--set key=value ...]

Trains both sources on a study-sized set (80 mixtures of 3 s at 16 kHz, 16 ms / 8 ms STFT)
and times the separation of a 10 s mixture (model loading excluded, best of 5 runs).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from synthetic import make_datadir, make_pair  # noqa: E402

from vaesep.config import load_config  # noqa: E402
from vaesep.separation import Separator  # noqa: E402
from vaesep.training import train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="configs/vae.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    cfg = load_config(args.config, ["training.progress=false", *args.overrides])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_datadir(root / "train", n_utts=80, seconds=3.0, rate=16000, seed=0)
        started = time.perf_counter()
        result = train(cfg, root / "train", root / "exp")
        train_s = time.perf_counter() - started
        sep = Separator.from_dir(root / "exp")
        female, male = make_pair(np.random.default_rng(1), 10.0, 16000)
        mix = female + male
        sep.separate(mix, 16000)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            sep.separate(mix, 16000)
            times.append(time.perf_counter() - t0)
    epochs = {s: r["epochs_run"] for s, r in result["sources"].items()}
    print(f"cores: {torch.get_num_threads()} torch threads; config {args.config} {args.overrides}")
    print(f"train both sources (80 x 3 s): {train_s:.1f} s  (epochs run: {epochs})")
    print(f"separate a 10 s mixture: {min(times) * 1000:.1f} ms (best of 5)")


if __name__ == "__main__":
    main()
