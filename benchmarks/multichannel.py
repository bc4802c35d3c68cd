"""Multichannel demixing: the speed of MVAE, FastMVAE and ILRMA, and the bound of the IP
demixing model.

``speed``: seconds to separate one two-channel recording of about ``--seconds`` (test
mixtures of a rooms data dir joined end to end), the whole ``Demixer.separate`` call, the
median of ``--repeats``, on ``--threads`` torch/BLAS threads, for ILRMA, MVAE and FastMVAE
with the CVAE of an ``mvae`` experiment::

    python benchmarks/multichannel.py speed EXP ROOMS [--seconds 5] [--threads 2]

``bound``: the mean BSS Eval SDR of the IP demixing model when each source's variance is its
true reference power |S_n(f, t)|² (what a perfect source model would give the iterative
projection MVAE uses: the same updates, projection back and scoring; a reference point, not
a strict bound, since the likelihood it maximizes is not SDR), beside ILRMA::

    python benchmarks/multichannel.py bound ROOMS [--window-ms 64]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from dataclasses import replace
from pathlib import Path

import mir_eval
import numpy as np
import torch
from threadpoolctl import threadpool_limits

from vaesep.data.datadir import DEFAULT_SOURCES as SOURCES
from vaesep.data.datadir import load_datadir
from vaesep.expdir import load
from vaesep.features import Stft
from vaesep.io.audio import load_audio, load_channels
from vaesep.registry import SECTIONS, load_config
from vaesep.separation.bss import demix, ip_update, project_back
from vaesep.separation.demixer import Demixer
from vaesep.separation.separator import build_models

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def joined(rooms: Path, seconds: float) -> tuple[np.ndarray, int]:
    """Test mixtures of ``rooms`` joined end to end until ``seconds`` long: (2, n), rate."""
    data = load_datadir(rooms)
    pieces, rate, total = [], 16000, 0
    for utt in data.utt_ids:
        signal, rate = load_channels(data.mixtures[utt])
        pieces.append(signal)
        total += signal.shape[1]
        if total >= seconds * rate:
            break
    return np.concatenate(pieces, axis=1)[:, : int(seconds * rate)], rate


def speed(exp: Path, rooms: Path, seconds: float, threads: int, repeats: int) -> dict:
    """{model: median seconds} of separating one joined recording."""
    torch.set_num_threads(threads)
    signal, rate = joined(rooms, seconds)
    experiment = load(exp, SECTIONS)
    models = build_models(experiment)
    demixers = {
        "ilrma": Demixer(load_config(CONFIGS / "ilrma.yaml"), {}, "ilrma"),
        **{
            kind: Demixer(
                replace(experiment.config, model=replace(experiment.config.model, type=kind)),
                models,
                kind,
            )
            for kind in ("mvae", "fast_mvae")
        },
    }
    times = {}
    with threadpool_limits(threads):
        for name, demixer in demixers.items():
            demixer.separate(signal[:, : rate // 2], rate)  # warm up: imports, allocations
            runs = []
            for _ in range(repeats):
                start = time.perf_counter()
                demixer.separate(signal, rate)
                runs.append(time.perf_counter() - start)
            times[name] = round(float(np.median(runs)), 2)
    return {
        "seconds_of_audio": round(signal.shape[1] / rate, 2),
        "threads": threads,
        "seconds": times,
        "fast_mvae_speedup": round(times["mvae"] / times["fast_mvae"], 2),
    }


def bound(rooms: Path, window_ms: float, iterations: int = 30) -> dict:
    """Mean SDR of IP demixing with the true source variances, and of ILRMA, on ``rooms``."""
    overlap = f"features.overlap_ms={window_ms * 0.75}"
    config = load_config(CONFIGS / "ilrma.yaml", [f"features.window_ms={window_ms}", overlap])
    stft = Stft(config.features)
    ilrma = Demixer(config, {}, "ilrma")
    data = load_datadir(rooms)
    sdrs: dict[str, list[float]] = {"oracle_variance_ip": [], "ilrma": []}
    for utt in data.utt_ids:
        channels, rate = load_channels(data.mixtures[utt], config.features.sample_rate)
        refs = np.stack([load_audio(data.sources[s][utt], rate)[0] for s in SOURCES])
        X = torch.stack([stft.stft(torch.from_numpy(c)) for c in channels], dim=-1).numpy()
        X = X.astype(np.complex128)
        power = np.stack([stft.stft(torch.from_numpy(r)).abs().numpy() ** 2 for r in refs])
        power = power + 1e-10 * power.mean()
        W = np.tile(np.eye(len(SOURCES), dtype=complex), (X.shape[1], 1, 1))
        for _ in range(iterations):
            W = ip_update(W, X, 1.0 / power)
        Y = project_back(demix(W, X), X, 0)
        images = [
            stft.istft(torch.from_numpy(Y[:, :, k]).to(torch.complex64), channels.shape[1])
            for k in range(len(SOURCES))
        ]
        estimates = {
            "oracle_variance_ip": np.stack([i.numpy() for i in images]),
            "ilrma": np.stack(list(ilrma.separate(channels, rate).values())),
        }
        for name, est in estimates.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                sdr = mir_eval.separation.bss_eval_sources(refs, est)[0]  # best permutation
            sdrs[name].append(float(sdr.mean()))
    return {
        "rooms": str(rooms),
        "window_ms": window_ms,
        "mixtures": len(data.utt_ids),
        "sdr": {k: round(float(np.mean(v)), 2) for k, v in sdrs.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("speed")
    s.add_argument("exp", type=Path)
    s.add_argument("rooms", type=Path)
    s.add_argument("--seconds", type=float, default=5.0)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--repeats", type=int, default=3)
    b = sub.add_parser("bound")
    b.add_argument("rooms", type=Path)
    b.add_argument("--window-ms", type=float, default=64.0)
    args = parser.parse_args()
    if args.command == "speed":
        result = speed(args.exp, args.rooms, args.seconds, args.threads, args.repeats)
    else:
        result = bound(args.rooms, args.window_ms)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
