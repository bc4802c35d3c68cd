"""open-unmix 1.3.0 as vaesep's peer, trained and run as its own recipe does (the peer of
``python -m benchmarks.peers``). Runs in the benchmark-only venv of ``peers_setup.sh``
(torch, numpy, soundfile, openunmix), not vaesep's: it imports no vaesep.

    python benchmarks/openunmix_peer.py train --female F.txt --male M.txt --cpu-minutes 25 --out DIR
    python benchmarks/openunmix_peer.py separate --model DIR --scp wav.scp --out SEP_DIR

Two targets, female and male, each an ``OpenUnmix`` (3 BLSTM layers, 256 units in all: 1.45 M
weights) on the 512-point STFT (hop 256) magnitudes of mono 16 kHz audio; MSE on magnitudes
and Adam (lr 1e-3, weight decay 1e-5) as its ``train.py``; the input statistics from the
training mixtures as its ``get_statistics``. Every step is a fresh batch of random crops, one
female and one male utterance each, mixed at 0 dB, until the CPU-time budget (of all the
process's threads) is spent. A line ``speaker<TAB>path`` groups a speaker's files: a crop
then draws the speaker first, every speaker equally likely (as vaesep's ``data.draw:
speaker``); ``--snapshot M`` also keeps the models as they are after M CPU minutes.
Every ``--checkpoint-minutes`` of CPU time the whole state (models, optimisers, step, random
states, time spent) goes to ``DIR/checkpoint.pt``; the same command run again resumes from it,
so a budget longer than one sitting (or a stopped run) is still one run. Separation: its
``Separator`` with one Wiener iteration. Files: one path per line.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import soundfile
import torch

RATE, N_FFT, HOP, HIDDEN, LAYERS = 16000, 512, 256, 256, 3
TARGETS = ("female", "male")
CHECKPOINT = "checkpoint.pt"


def crop(path: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A random ``seconds`` crop of a mono file (a shorter file whole, zero-padded)."""
    info = soundfile.info(path)
    length = int(seconds * info.samplerate)
    start = int(rng.integers(max(info.frames - length, 0) + 1))
    signal, _ = soundfile.read(path, start=start, frames=length, dtype="float32", always_2d=True)
    signal = signal.mean(1)
    return np.pad(signal, (0, length - len(signal)))


def read_groups(path: str) -> list[list[str]]:
    """A list file's paths grouped by speaker (``speaker<TAB>path``), or one group per path."""
    groups: dict[str, list[str]] = {}
    for line in Path(path).read_text().splitlines():
        speaker, _, file = line.rpartition("\t")
        groups.setdefault(speaker or file, []).append(file)
    return list(groups.values())


def draw(groups: list[list[str]], rng: np.random.Generator) -> str:
    """A file of a random group (one draw where the group holds one file)."""
    group = groups[rng.integers(len(groups))]
    return group[rng.integers(len(group))] if len(group) > 1 else group[0]


def draw_batch(
    files: dict[str, list[list[str]]], size: int, seconds: float, rng: np.random.Generator
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A batch of ``size`` female + male mixtures at 0 dB (the male crop scaled to the female
    one's RMS): the mixtures and each target, ``(size, 1, samples)``."""
    sources: dict[str, list[np.ndarray]] = {t: [] for t in TARGETS}
    for _ in range(size):
        female, male = (crop(draw(files[t], rng), seconds, rng) for t in TARGETS)
        level = np.sqrt(np.mean(female**2)) / max(np.sqrt(np.mean(male**2)), 1e-8)
        sources["female"].append(female)
        sources["male"].append(male * np.float32(level))
    targets = {t: torch.from_numpy(np.stack(s))[:, None] for t, s in sources.items()}
    return targets["female"] + targets["male"], targets


def _transforms():
    from openunmix import transforms

    encoder, _ = transforms.make_filterbanks(n_fft=N_FFT, n_hop=HOP, sample_rate=RATE)
    return torch.nn.Sequential(encoder, transforms.ComplexNorm(mono=True))


def _models(mean: np.ndarray | None = None, scale: np.ndarray | None = None) -> dict:
    from openunmix.model import OpenUnmix

    bins = N_FFT // 2 + 1
    return {
        t: OpenUnmix(bins, 1, HIDDEN, LAYERS, input_mean=mean, input_scale=scale) for t in TARGETS
    }


def train(args: argparse.Namespace) -> None:
    """Train both targets until ``--cpu-minutes`` of CPU time are spent (resuming from
    ``DIR/checkpoint.pt`` where a run left one); save them and a log."""
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    state = _start(args) if not (Path(args.out) / CHECKPOINT).is_file() else _resumed(args)
    models, optimizers, rng = state["models"], state["optimizers"], state["rng"]
    files = {t: read_groups(getattr(args, t)) for t in TARGETS}
    spectra = _transforms()
    snapshots = sorted(m for m in args.snapshot if state["cpu_s"] / 60 < m < args.cpu_minutes)
    cpu = time.process_time() - state["cpu_s"]  # CPU time spent before this sitting counts
    started = time.perf_counter() - state["wall_s"]
    steps, losses = state["steps"], state["losses"]
    checkpoint = time.process_time() + args.checkpoint_minutes * 60
    while time.process_time() - cpu < args.cpu_minutes * 60:
        if snapshots and time.process_time() - cpu >= snapshots[0] * 60:
            at = Path(args.out) / f"cpu{snapshots.pop(0):g}min"
            save(models, steps, losses, started, cpu, args, at)
        if time.process_time() >= checkpoint:
            keep = {"models": models, "optimizers": optimizers, "rng": rng, "steps": steps,
                    "losses": losses, "cpu_s": time.process_time() - cpu,
                    "wall_s": time.perf_counter() - started}  # fmt: skip
            _checkpoint(keep, Path(args.out))
            checkpoint = time.process_time() + args.checkpoint_minutes * 60
        mixture, targets = draw_batch(files, args.batch, args.seconds, rng)
        with torch.no_grad():
            x = spectra(mixture)
        step_loss = 0.0
        for t, model in models.items():
            model.train()
            with torch.no_grad():
                y = spectra(targets[t])
            loss = torch.nn.functional.mse_loss(model(x), y)
            optimizers[t].zero_grad()
            loss.backward()
            optimizers[t].step()
            step_loss += loss.item()
        steps += 1
        losses.append(step_loss)
    save(models, steps, losses, started, cpu, args, Path(args.out))
    (Path(args.out) / CHECKPOINT).unlink(missing_ok=True)


def _start(args: argparse.Namespace) -> dict:
    """A fresh run: the input statistics (their CPU time counts), the models and optimisers."""
    started, cpu = time.perf_counter(), time.process_time()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    files = {t: read_groups(getattr(args, t)) for t in TARGETS}
    spectra = _transforms()
    with torch.no_grad():  # get_statistics: per-bin mean and std of the mixtures' magnitudes
        frames = [
            spectra(draw_batch(files, args.batch, args.seconds, rng)[0])[:, 0].permute(0, 2, 1)
            for _ in range(args.stats_batches)
        ]
    frames = torch.cat([f.reshape(-1, f.shape[-1]) for f in frames]).double().numpy()
    mean, scale = frames.mean(0), np.maximum(frames.std(0), 1e-4)
    models = _models(mean, scale)
    return {"models": models, "optimizers": _optimizers(models), "rng": rng, "steps": 0,
            "losses": [], "cpu_s": time.process_time() - cpu,
            "wall_s": time.perf_counter() - started}  # fmt: skip


def _optimizers(models: dict) -> dict:
    return {
        t: torch.optim.Adam(m.parameters(), lr=1e-3, weight_decay=1e-5) for t, m in models.items()
    }


def _checkpoint(state: dict, out: Path) -> None:
    """Write the whole training state to ``out/checkpoint.pt`` (atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    saved = {**state, "rng": state["rng"].bit_generator.state, "torch_rng": torch.get_rng_state()}
    saved["models"] = {t: m.state_dict() for t, m in state["models"].items()}
    saved["optimizers"] = {t: o.state_dict() for t, o in state["optimizers"].items()}
    torch.save(saved, out / f"{CHECKPOINT}.tmp")
    os.replace(out / f"{CHECKPOINT}.tmp", out / CHECKPOINT)


def _resumed(args: argparse.Namespace) -> dict:
    """The state a stopped run left in ``DIR/checkpoint.pt``."""
    saved = torch.load(Path(args.out) / CHECKPOINT, weights_only=False)
    models = _models()
    for t, model in models.items():
        model.load_state_dict(saved["models"][t])
    optimizers = _optimizers(models)
    for t, optimizer in optimizers.items():
        optimizer.load_state_dict(saved["optimizers"][t])
    rng = np.random.default_rng()
    rng.bit_generator.state = saved["rng"]
    torch.set_rng_state(saved["torch_rng"])
    print(f"resuming at step {saved['steps']}, {saved['cpu_s'] / 60:.1f} CPU min", flush=True)
    return {**saved, "models": models, "optimizers": optimizers, "rng": rng}


def save(
    models: dict, steps: int, losses: list[float], started: float, cpu: float,
    args: argparse.Namespace, out: Path,
) -> None:  # fmt: skip
    """Write the models and ``train.json`` (the steps, times and losses so far) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for t, model in models.items():
        torch.save(model.state_dict(), out / f"{t}.pth")
    log = {"steps": steps, "wall_s": time.perf_counter() - started,
           "cpu_s": time.process_time() - cpu, "batch": args.batch, "crop_s": args.seconds,
           "mixture_hours": steps * args.batch * args.seconds / 3600,
           "loss_first_100": float(np.mean(losses[:100])) if losses else None,
           "loss_last_100": float(np.mean(losses[-100:])) if losses else None,
           "parameters": sum(p.numel() for p in models["female"].parameters() if p.requires_grad),
           "threads": torch.get_num_threads(), "torch": torch.__version__}  # fmt: skip
    (out / "train.json").write_text(json.dumps(log, indent=2) + "\n")
    print(json.dumps(log))


def separate(args: argparse.Namespace) -> None:
    """Separate every mixture of a wav.scp into ``<utt>_female.wav``, ``<utt>_male.wav``."""
    from openunmix.model import Separator

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    models = _models()
    for t, model in models.items():
        model.load_state_dict(torch.load(Path(args.model) / f"{t}.pth"))
        model.freeze()
    separator = Separator(
        models, niter=1, n_fft=N_FFT, n_hop=HOP, nb_channels=1, sample_rate=RATE
    ).eval()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for line in Path(args.scp).read_text().splitlines():
        utt, path = line.split(maxsplit=1)
        signal, rate = soundfile.read(path, dtype="float32", always_2d=True)
        if rate != RATE:
            raise SystemExit(f"{path}: {rate} Hz; the peer separates {RATE} Hz audio")
        with torch.no_grad():
            estimates = separator(torch.from_numpy(signal.mean(1))[None, None])[0, :, 0]
        for t, estimate in zip(TARGETS, estimates):
            soundfile.write(out / f"{utt}_{t}.wav", estimate.numpy(), RATE, subtype="FLOAT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("train")
    fit.add_argument("--female", required=True, help="File of female paths ([speaker<TAB>]path)")
    fit.add_argument("--male", required=True, help="File of male paths ([speaker<TAB>]path)")
    fit.add_argument(
        "--snapshot",
        type=float,
        action="append",
        default=[],
        help="Also keep the models after this many CPU minutes (in DIR/cpu<M>min)",
    )
    fit.add_argument("--cpu-minutes", type=float, required=True, help="CPU time to train")
    fit.add_argument("--out", required=True)
    fit.add_argument("--batch", type=int, default=8)
    fit.add_argument("--seconds", type=float, default=4.0, help="Crop length")
    fit.add_argument("--stats-batches", type=int, default=64)
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--threads", type=int, default=0, help="0: every core")
    fit.add_argument(
        "--checkpoint-minutes", type=float, default=10.0, help="CPU minutes between checkpoints"
    )
    run = commands.add_parser("separate")
    run.add_argument("--model", required=True)
    run.add_argument("--scp", required=True, help="A data dir's wav.scp")
    run.add_argument("--out", required=True)
    run.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    {"train": train, "separate": separate}[args.command](args)


if __name__ == "__main__":
    main()
