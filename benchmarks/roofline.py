"""Separation against this machine's own limit: the matrix-product peak, measured in the run.

    python -m benchmarks.roofline [EXP ...] [--seconds 60] [--out benchmarks/results]

For each trained experiment dir (default: the timit_mf recipe's study and tuned models) it
counts the networks' arithmetic on a mixture (torch's FlopCounterMode for the linear and
convolution layers, 8·h·(in + h) per frame, direction and layer for LSTMs), times the
networks alone and the whole separation (STFT, networks, masks, iSTFT), and reports the
networks' achieved GFLOP/s as a fraction of the fp32 and bf16 matrix-product peaks measured in
the same run, beside × real time and the DSP floor (STFT → identity mask → iSTFT); then the
training step's speed against the same peak; then the same separation with the networks in
bfloat16 (``--precision bf16``), on onnxruntime in
float32 (``--backend onnxruntime``, with its largest deviation from torch) and in int8
(``--precision int8``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from vaesep.expdir import load
from vaesep.features import Stft, spectrogram
from vaesep.models.base import Batch
from vaesep.registry import SECTIONS, build_model
from vaesep.separation.separator import Separator

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EXPS = [ROOT / "recipes" / "timit_mf" / "exp" / m for m in ("vae", "beta_vae", "itl_ae")]
DEFAULT_EXPS += [ROOT / "recipes" / "timit_mf" / "exp" / m for m in ("vae_tuned", "rnn_mask")]


def best_time(func: Callable[[], object], repeats: int = 5) -> float:
    """The fastest of ``repeats`` calls after one warm-up, in seconds."""
    func()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - started)
    return best


def matmul_peak(dtype: torch.dtype, sizes: tuple[int, ...] = (1024, 2048, 4096)) -> float:
    """The best GFLOP/s of square matrix products in ``dtype`` (2n³ operations each)."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        best = max(best, 2 * n**3 / best_time(lambda: a @ b, repeats=3) / 1e9)  # noqa: B023
    return best


def _recurrent_flops(models: torch.nn.ModuleDict, frames: int) -> int:
    """What FlopCounterMode leaves out: each LSTM's 8·h·(in + h) per frame, direction, layer."""
    total = 0
    for module in models.modules():
        if isinstance(module, torch.nn.LSTM):
            h, directions = module.hidden_size, 2 if module.bidirectional else 1
            for layer in range(module.num_layers):
                width = module.input_size if layer == 0 else h * directions
                total += 8 * h * (width + h) * directions * frames
    return total


def network_flops(sep: Separator, spec: torch.Tensor) -> int:
    """Operations of the networks' estimates for the magnitude spectrogram ``spec``."""
    with FlopCounterMode(display=False) as counter:
        sep.estimate_spectrograms(spec)
    return int(counter.get_total_flops()) + _recurrent_flops(sep.models, spec.shape[0])


# The other ways to run the networks, timed beside torch fp32: (label, Separator options).
VARIANTS = (
    ("bf16", {"precision": "bf16"}),
    ("ort_fp32", {"backend": "onnxruntime"}),
    ("int8", {"precision": "int8"}),
)


def bench_model(exp: Path, signal: torch.Tensor, peaks: dict[str, float]) -> dict:
    """Arithmetic, speed and fraction of the peaks of one experiment's separation, and the
    speed of the other precisions and backends (onnxruntime's largest deviation from torch
    on the separated signals beside)."""
    sep = Separator.from_dir(exp)
    features = sep.config.features
    stft = Stft(features)
    spec = spectrogram(stft.stft(signal), features.spectrogram)
    flops = network_flops(sep, spec)
    networks = best_time(lambda: sep.estimate_spectrograms(spec))
    whole = best_time(lambda: sep.separate_tensor(signal))
    floor = best_time(lambda: stft.istft(stft.stft(signal) * 1.0, len(signal)))
    achieved = flops / networks / 1e9
    seconds = len(signal) / features.sample_rate
    result = {
        "frames": int(spec.shape[0]),
        "mflop_per_frame": round(flops / spec.shape[0] / 1e6, 3),
        "networks_s": round(networks, 4),
        "separation_s": round(whole, 4),
        "networks_share": round(networks / whole, 3),
        "gflops": round(achieved, 1),
        "of_fp32_peak": round(achieved / peaks["fp32"], 3),
        "of_bf16_peak": round(achieved / peaks["bf16"], 3),
        "x_realtime": round(seconds / whole),
        "dsp_floor_s": round(floor, 4),
        "vs_dsp_floor": round(whole / floor, 2),
    }
    for label, options in VARIANTS:
        other = Separator.from_dir(exp, **options)
        other_networks = best_time(lambda: other.estimate_spectrograms(spec))  # noqa: B023
        other_whole = best_time(lambda: other.separate_tensor(signal))  # noqa: B023
        result[f"{label}_networks_s"] = round(other_networks, 4)
        result[f"{label}_separation_s"] = round(other_whole, 4)
        result[f"{label}_networks_speedup"] = round(networks / other_networks, 2)
        result[f"{label}_speedup"] = round(whole / other_whole, 2)
        if label == "ort_fp32":
            gap = other.separate_tensor(signal) - sep.separate_tensor(signal)
            result["ort_fp32_max_abs_diff"] = float(gap.abs().max())
    return result


def bench_training(exp: Path, peaks: dict[str, float]) -> dict:
    """One source's training step (forward, backward, optimizer) at the experiment's batch
    and segment size, on random data: its time, operations and fraction of the fp32 peak.
    LSTMs' backward counts twice their forward (FlopCounterMode sees neither)."""
    experiment = load(exp, SECTIONS)
    config, dims = experiment.config, next(iter(experiment.checkpoints.values()))
    model = build_model(config.model, dims.input_dim, dims.output_dim).train()
    optimizers = model.optimizers(config.training)
    batch_size, frames = config.training.batch_size, config.model.segment_frames
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, frames, dims.input_dim, generator=generator)
    target, mixture = torch.rand(2, batch_size, frames, dims.output_dim, generator=generator)
    batch = Batch(inputs, target, mixture + target)
    with FlopCounterMode(display=False) as counter:
        model.training_step(batch, optimizers, 0)
    recurrent = 3 * _recurrent_flops(torch.nn.ModuleDict({"m": model}), batch_size * frames)
    flops = int(counter.get_total_flops()) + recurrent
    step = best_time(lambda: model.training_step(batch, optimizers, 0), repeats=20)
    return {
        "train_frames_per_step": batch_size * frames,
        "train_step_s": round(step, 5),
        "train_gflops": round(flops / step / 1e9, 1),
        "train_of_fp32_peak": round(flops / step / 1e9 / peaks["fp32"], 3),
    }


def bench_roofline(
    exps: list[Path], seconds: float = 60.0, sizes: tuple[int, ...] = (1024, 2048, 4096)
) -> dict:
    """The peaks (products of ``sizes``), then every experiment's figures on the same
    ``seconds`` of noise."""
    rng = np.random.default_rng(0)
    signal = torch.from_numpy((0.05 * rng.standard_normal(int(seconds * 16000))).astype("f4"))
    peaks = {"fp32": matmul_peak(torch.float32, sizes), "bf16": matmul_peak(torch.bfloat16, sizes)}
    models = {
        exp.name: {**bench_model(exp, signal, peaks), **bench_training(exp, peaks)} for exp in exps
    }
    return {
        "threads": torch.get_num_threads(),
        "seconds": seconds,
        "peak_gflops": {k: round(v, 1) for k, v in peaks.items()},
        "models": models,
    }


def markdown(result: dict) -> str:
    """The roofline table, then the other precisions' and backends' speed."""
    peaks = result["peak_gflops"]
    lines = [
        f"Matrix-product peak ({result['threads']} threads, best of 1024², 2048², 4096², "
        "measured in this run): "
        f"fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s. Separation of "
        f"{result['seconds']:.0f} s of audio, fp32 on torch:",
        "",
        "| model | MFLOP/frame | networks | of fp32 peak | networks' share | separation "
        "| × real time | DSP floor | × floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in result["models"].items():
        lines.append(
            f"| {name} | {m['mflop_per_frame']:.2f} | {m['networks_s']:.3f} s, "
            f"{m['gflops']:.0f} GFLOP/s | {100 * m['of_fp32_peak']:.0f} % | "
            f"{100 * m['networks_share']:.0f} % | {m['separation_s']:.3f} s | "
            f"{m['x_realtime']}× | {m['dsp_floor_s']:.4f} s | {m['vs_dsp_floor']:.1f}× |"
        )
    lines += [
        "",
        "Training: one source's gradient step at the experiment's batch and segment size "
        "(forward, backward, optimizer; random data), on the same threads:",
        "",
        "| model | frames per step | step | GFLOP/s | of fp32 peak |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, m in result["models"].items():
        lines.append(
            f"| {name} | {m['train_frames_per_step']} | {1000 * m['train_step_s']:.2f} ms | "
            f"{m['train_gflops']:.1f} | {100 * m['train_of_fp32_peak']:.0f} % |"
        )
    lines += [
        "",
        "The same separation with the networks in bf16 (torch autocast), on onnxruntime in "
        "fp32, and in int8 (onnxruntime dynamic quantization): networks' time and whole "
        "separation's, × faster than torch fp32:",
        "",
        "| model | bf16 networks | bf16 separation | onnxruntime fp32 networks | onnxruntime "
        "fp32 separation | max abs diff from torch | int8 networks | int8 separation |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in result["models"].items():
        cells = [
            f"{m[f'{label}_{part}_s']:.3f} s (×{m[f'{label}_{speed}']:.2f})"
            for label, _ in VARIANTS
            for part, speed in (("networks", "networks_speedup"), ("separation", "speedup"))
        ]
        cells.insert(4, f"{m['ort_fp32_max_abs_diff']:.1e}")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exps", nargs="*", type=Path, default=DEFAULT_EXPS)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    missing = [e for e in args.exps if not (e / "config.yaml").is_file()]
    if missing:
        parser.error(f"{missing[0]}: not an experiment dir (train it, or run the recipe)")
    result = bench_roofline(args.exps, args.seconds)
    result["date"] = dt.datetime.now().isoformat(timespec="seconds")
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y-%m-%d")
    (args.out / f"roofline-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    (args.out / f"roofline-{stamp}.md").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
