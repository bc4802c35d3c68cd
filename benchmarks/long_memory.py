"""Peak memory of separating a long recording through the CLI path (target: < 500 MB for 1 h).

    python benchmarks/long_memory.py [--minutes 60] [--rate 16000] [--model EXP_DIR]
                                     [--in-memory] [--json]

Writes a long mixture (generated female/male harmonic tones with noise, 16-bit WAV, block by
block), trains a tiny model at the mixture's rate unless ``--model`` is given, and runs
``vaesep separate`` in a fresh Python process that reports its own peak RSS (``ru_maxrss``),
next to the peak RSS of a process that only imports vaesep. ``--in-memory`` also measures
``Separator.separate(path)``, which holds the whole signal and its estimates in memory.
The last line printed is the result as JSON with ``--json``.

This process never imports torch, and trains in a child process: on Linux a child's
``ru_maxrss`` starts from its parent's peak, so a big parent would inflate the figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
TARGET_MB = 500.0

_PEAK = "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
_CLI = f"""
import sys
from vaesep.cli import app
try:
    app(sys.argv[1:], prog_name="vaesep")
except SystemExit as exc:
    assert not exc.code, f"vaesep exited with {{exc.code}}"
{_PEAK}
"""
_IN_MEMORY = f"""
import sys
from vaesep.separation.separator import Separator
Separator.from_dir(sys.argv[1]).separate(sys.argv[2])
{_PEAK}
"""
_IMPORT_ONLY = f"import vaesep.cli, vaesep.separation.separator\n{_PEAK}"


def speech_like(seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A female (~220 Hz) plus a male (~110 Hz) harmonic tone with syllable-rate envelopes."""
    t = np.arange(int(seconds * rate)) / rate
    mix = np.zeros_like(t)
    for f0 in (rng.uniform(200, 250), rng.uniform(95, 125)):
        phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t))) / rate
        voice = sum(np.sin(k * phase) / k for k in range(1, int(rate / 2.2 / f0)))
        mix += voice * (0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(2, 5) * t))
    mix += 0.05 * rng.standard_normal(len(t))
    return (0.1 * mix / np.sqrt(np.mean(mix**2))).astype(np.float32)


def write_long_mixture(path: Path, minutes: float, rate: int, seed: int = 0) -> int:
    """Tile 10 s of generated speech-like audio (random gain per tile) into a 16-bit WAV."""
    rng = np.random.default_rng(seed)
    tile = speech_like(10.0, rate, rng)
    total = int(minutes * 60 * rate)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=1, subtype="PCM_16") as f:
        for start in range(0, total, len(tile)):
            f.write(tile[: total - start] * rng.uniform(0.5, 1.0))
    return total


def train_tiny_model(work: Path, rate: int) -> Path:
    """A small VAE at ``rate`` (16 ms window, 8 ms overlap) trained for one epoch."""
    from vaesep.data.datadir import write_datadir
    from vaesep.io.audio import save_audio
    from vaesep.registry import load_config
    from vaesep.training.experiment import train

    rng = np.random.default_rng(1)
    mixtures, refs = {}, {"female": {}, "male": {}}
    for i in range(6):
        parts = {"female": speech_like(2.0, rate, rng), "male": speech_like(2.0, rate, rng)}
        for name, signal in (*parts.items(), ("mix", parts["female"] + parts["male"])):
            save_audio(work / "wav" / f"u{i}_{name}.wav", signal, rate)
        mixtures[f"u{i}"] = str(work / "wav" / f"u{i}_mix.wav")
        for name in parts:
            refs[name][f"u{i}"] = str(work / "wav" / f"u{i}_{name}.wav")
    write_datadir(work / "data", mixtures, refs)
    overrides = [f"features.sample_rate={rate}", "training.epochs=1", "training.progress=false"]
    overrides += ["model.encoder_layers=[64]", "model.decoder_layers=[64]", "model.latent_dim=8"]
    train(load_config(ROOT / "configs" / "vae.yaml", overrides), work / "data", work / "exp")
    return work / "exp"


def _train_in_child(work: Path, rate: int) -> Path:
    command = [sys.executable, __file__, "--train-tiny", str(work), "--rate", str(rate)]
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
    return work / "exp"


def peak_rss_mb(code: str, *args: str) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of a fresh Python process running ``code`` with ``args``."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"long_memory: the measured process failed:\n{done.stderr[-2000:]}")
    return round(float(done.stdout.strip().splitlines()[-1]), 1), round(seconds, 1)


def measure(minutes: float, rate: int, model: Path | None, in_memory: bool) -> dict:
    """Write the mixture, separate it in fresh processes, and collect the figures."""
    with tempfile.TemporaryDirectory(prefix="vaesep-long-") as tmp:
        work = Path(tmp)
        mixture = work / "long.wav"
        samples = write_long_mixture(mixture, minutes, rate)
        exp = model or _train_in_child(work, rate)
        out = work / "out"
        cli = ["separate", str(mixture), "--model", str(exp), "--out-dir", str(out)]
        result = {"minutes": minutes, "rate": rate, "input_mb": round(samples * 4 / 2**20, 1)}
        result["import_only_mb"] = peak_rss_mb(_IMPORT_ONLY)[0]
        result["separate_peak_rss_mb"], result["separate_seconds"] = peak_rss_mb(_CLI, *cli)
        frames = [sf.info(str(p)).frames for p in sorted(out.glob("*.wav"))]
        result["outputs_ok"] = len(frames) == 2 and all(n == samples for n in frames)
        if in_memory:
            result["in_memory_peak_rss_mb"] = peak_rss_mb(_IN_MEMORY, str(exp), str(mixture))[0]
    result["command"] = f"vaesep separate long.wav --model {model or 'tiny-vae'} --out-dir out"
    result["target_mb"] = TARGET_MB
    result["within_target"] = result["separate_peak_rss_mb"] < TARGET_MB
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="Length of the recording.")
    parser.add_argument("--rate", type=int, default=16000, help="Its sample rate (Hz).")
    parser.add_argument("--model", type=Path, help="Experiment dir (default: train a tiny one).")
    parser.add_argument("--in-memory", action="store_true", help="Also measure separate(path).")
    parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
    parser.add_argument("--train-tiny", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train_tiny:
        train_tiny_model(args.train_tiny, args.rate)
        return
    result = measure(args.minutes, args.rate, args.model, args.in_memory)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
