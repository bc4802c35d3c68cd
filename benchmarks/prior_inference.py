"""Time the test-time inference of the generative priors on a 3 s mixture (CPU).

Reads the experiments of ``recipes/timit_pairs`` (``EXP/<method>/<pair>/seed0``), cuts the
first pair's test mixture to 3 s (tiled if shorter) and times ``Separator.separate`` (STFT,
inference, masks, iSTFT) with 1 and 2 threads, best of 3. Target: ≤ 5 s on the CPU.

    python benchmarks/prior_inference.py recipes/timit_pairs/exp
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from vaesep.data.datadir import load_datadir
from vaesep.io.audio import load_audio
from vaesep.separation.separator import Separator

PRIORS = ("mlae", "gen_vae", "gan", "wgan", "wgan_gp", "ae_wgan")
SECONDS = 3.0


def three_seconds(exp: Path) -> tuple[np.ndarray, int, Path]:
    """The first pair's test mixture cut (or tiled) to 3 s, its rate, and that pair's dir."""
    pair = sorted(p for p in (exp / PRIORS[0]).iterdir() if p.is_dir())[0]
    test = exp.parent / "data" / "pairs" / pair.name / "test"  # the recipe's layout
    mixture = next(iter(load_datadir(test).mixtures.values()))
    signal, rate = load_audio(mixture, 16000)
    n = int(SECONDS * rate)
    return np.resize(signal, n).astype(np.float32), rate, pair


def best_of(func, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exp", type=Path, help="the pairs recipe's exp dir")
    args = parser.parse_args()
    signal, rate, pair = three_seconds(args.exp)
    rows = {}
    for method in PRIORS:
        exp_dir = args.exp / method / pair.name / "seed0"
        if not (exp_dir / "female.pt").is_file():
            continue
        separator = Separator.from_dir(exp_dir)
        rows[method] = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            rows[method][f"{threads}_thread"] = round(
                best_of(lambda s=separator: s.separate(signal, rate)), 3
            )
    print(json.dumps({"pair": pair.name, "seconds_of_audio": SECONDS, "times_s": rows}, indent=2))


if __name__ == "__main__":
    main()
