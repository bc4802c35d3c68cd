"""Generated test signals: a 'female' high harmonic comb and a 'male' low one, and data dirs."""

from __future__ import annotations

import warnings
from pathlib import Path

import mir_eval
import numpy as np

from vaesep.data.datadir import write_datadir
from vaesep.io.audio import save_audio


def tiny_training(rate: int = 8000) -> list[str]:
    """``--set`` overrides that train any model for one quick epoch on one thread at ``rate``."""
    return [
        f"features.sample_rate={rate}",
        "training.epochs=1",
        "training.progress=false",
        "training.num_threads=1",
        "training.early_stopping_patience=0",
    ]


def harmonic_comb(f0: float, seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A voiced-like source: harmonics of a slowly gliding f0 with a syllable-rate envelope."""
    t = np.arange(int(seconds * rate)) / rate
    glide = f0 * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(glide) / rate
    n_harm = int((rate / 2 - 200) // (f0 * 1.1))
    signal = sum(np.sin(k * phase + rng.uniform(0, 6)) / k for k in range(1, n_harm + 1))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, 6))
    out = signal * envelope
    return (0.1 * out / np.sqrt(np.mean(out**2))).astype(np.float32)


def make_pair(rng: np.random.Generator, seconds: float, rate: int) -> tuple[np.ndarray, np.ndarray]:
    female = harmonic_comb(rng.uniform(200, 260), seconds, rate, rng)
    male = harmonic_comb(rng.uniform(90, 120), seconds, rate, rng)
    return female, male


def make_datadir(
    root: Path, n_utts: int = 6, seconds: float = 1.0, rate: int = 8000, seed: int = 0
) -> Path:
    """Write a data dir of ``n_utts`` mixtures (mixture = female + male) under ``root``."""
    rng = np.random.default_rng(seed)
    mixtures, sources = {}, {"female": {}, "male": {}}
    for i in range(n_utts):
        utt = f"utt{i:03d}"
        female, male = make_pair(rng, seconds, rate)
        for name, sig in (("mix", female + male), ("female", female), ("male", male)):
            save_audio(root / "wav" / f"{utt}_{name}.wav", sig, rate)
        mixtures[utt] = str(root / "wav" / f"{utt}_mix.wav")
        sources["female"][utt] = str(root / "wav" / f"{utt}_female.wav")
        sources["male"][utt] = str(root / "wav" / f"{utt}_male.wav")
    write_datadir(root, mixtures, sources)
    return root


def sdr(references: list[np.ndarray], estimates: list[np.ndarray]) -> np.ndarray:
    """BSS Eval SDR per source, sources matched by index."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecated in 0.8; we pin < 0.9
        return mir_eval.separation.bss_eval_sources(
            np.stack(references), np.stack(estimates), compute_permutation=False
        )[0]


def sdr_gains(separator, seed: int, seconds: float, rate: int, pairs: int = 3) -> np.ndarray:
    """SDR improvements over the mixture on new pairs; checks the estimates' shape and sum."""
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(pairs):
        female, male = make_pair(rng, seconds, rate)
        mix = female + male
        out = separator.separate(mix, rate)
        assert set(out) == {"female", "male"} and out["female"].shape == mix.shape
        assert np.allclose(out["female"] + out["male"], mix, atol=1e-4)
        ours = sdr([female, male], [out["female"], out["male"]])
        gains.append(ours - sdr([female, male], [mix, mix]))
    return np.array(gains)


def make_pool_dir(
    root: Path, speakers: dict[str, str], per_speaker: int = 2, rate: int = 8000
) -> Path:
    """A pool dir: female.scp, male.scp, utt2spk over generated one-speaker recordings."""
    rng = np.random.default_rng(0)
    scp: dict[str, list[str]] = {"female": [], "male": []}
    utt2spk = []
    for speaker, source in speakers.items():
        for k in range(per_speaker):
            utt = f"{speaker}-{k}"
            path = root / "wav" / f"{utt}.wav"
            f0 = 220.0 if source == "female" else 110.0
            t = np.arange(int(rate * (0.5 + 0.5 * k))) / rate
            signal = 0.1 * np.sin(2 * np.pi * f0 * (1 + 0.1 * rng.random()) * t)
            save_audio(path, signal.astype(np.float32), rate)
            scp[source].append(f"{utt} {path}\n")
            utt2spk.append(f"{utt} {speaker}\n")
    for source, lines in scp.items():
        (root / f"{source}.scp").write_text("".join(lines))
    (root / "utt2spk").write_text("".join(utt2spk))
    return root
