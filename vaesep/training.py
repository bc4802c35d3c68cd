"""Training: one model per source, input the mixture frame, target that source's frame.

Writes into the experiment dir: ``config.yaml`` (resolved), ``stats.npz`` (feature statistics),
``<source>.pt`` (best weights) and ``<source>.json`` (its summary), ``train.log`` (JSON lines,
one per epoch and source) and ``checkpoints/<source>.last.pt`` (weights, optimizer and
random-generator state after every epoch, written atomically) from which ``resume=True``
continues. On a multi-core CPU the sources train side by side (``training.parallel_sources``).

The baselines write the same files without a network: NMF learns one dictionary per source
from that source's training spectrograms (``train.log``: the loss every 10 iterations), an
oracle learns nothing; both store identity statistics.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vaesep import workers
from vaesep.audio import load_audio
from vaesep.config import Config, TrainingConfig, load_config, save_config
from vaesep.datadir import SOURCES, load_datadir
from vaesep.device import resolve_device
from vaesep.errors import VaesepError, log
from vaesep.features import FeatureStats, Featurizer, Stft, spectrogram
from vaesep.models import build_model, model_kind
from vaesep.models.nmf import learn_dictionary

CONFIG_FILE = "config.yaml"
STATS_FILE = "stats.npz"
LOG_FILE = "train.log"
LOCK_FILE = ".lock"


@dataclass
class FrameSet:
    """Network inputs, per-source targets and the mixture spectrum (target scale) of frames."""

    inputs: torch.Tensor
    targets: dict[str, torch.Tensor]
    mixture: torch.Tensor
    # Dynamic mixing: a new pairing of the sources for an offset (None: fixed mixtures).
    remix: Callable[[int], FrameSet] | None = None

    def __len__(self) -> int:
        return self.inputs.shape[0]


def load_stfts(
    data_dir: str | Path, config: Config
) -> list[tuple[str, torch.Tensor, dict[str, torch.Tensor]]]:
    """(utt_id, mixture STFT, {source: STFT}) for every utterance of a data dir (complex)."""
    data = load_datadir(data_dir)
    stft = Stft(config.features)
    rate = config.features.sample_rate
    out = []
    for utt, mix_path in data.mixtures.items():
        signals = {"mixture": load_audio(mix_path, rate)[0]}
        signals.update({s: load_audio(data.sources[s][utt], rate)[0] for s in SOURCES})
        length = min(len(x) for x in signals.values())
        specs = {k: stft.stft(torch.from_numpy(x[:length])) for k, x in signals.items()}
        mixture = specs.pop("mixture")
        out.append((utt, mixture, specs))
    return out


def split_utterances(utt_ids: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Seeded split of utterance ids into (train, validation); at least one each when possible."""
    n_val = int(round(len(utt_ids) * fraction))
    if fraction > 0 and len(utt_ids) > 1:
        n_val = max(n_val, 1)
    order = np.random.default_rng(seed).permutation(len(utt_ids))
    val = {utt_ids[i] for i in order[:n_val]}
    return [u for u in utt_ids if u not in val], [u for u in utt_ids if u in val]


def build_frame_sets(
    stfts: list[tuple[str, torch.Tensor, dict[str, torch.Tensor]]],
    featurizer: Featurizer,
    training: TrainingConfig,
) -> tuple[FrameSet, FrameSet | None]:
    """Fit the featurizer on the training utterances and build the train/validation frames.

    With ``training.dynamic_mixing`` the training set can remix itself: the male frames are
    shifted against the female ones and added as complex STFTs, a new pairing every epoch.
    """
    kind = featurizer.config.spectrogram
    by_utt = {utt: (mix, refs) for utt, mix, refs in stfts}
    train_ids, val_ids = split_utterances(list(by_utt), training.validation_fraction, training.seed)
    featurizer.fit([spectrogram(by_utt[u][0], kind) for u in train_ids])

    def frame_set(mixture: torch.Tensor, sources: dict[str, torch.Tensor]) -> FrameSet:
        mixture_spec = spectrogram(mixture, kind)
        inputs = featurizer.network_input(mixture_spec).float()
        targets = {s: featurizer.target(spectrogram(x, kind)).float() for s, x in sources.items()}
        return FrameSet(inputs, targets, featurizer.target(mixture_spec).float())

    def frames(ids: list[str]) -> FrameSet:
        sources = {s: torch.cat([by_utt[u][1][s] for u in ids]) for s in SOURCES}
        return frame_set(torch.cat([by_utt[u][0] for u in ids]), sources)

    train_set = frames(train_ids)
    if training.dynamic_mixing:
        female = torch.cat([by_utt[u][1]["female"] for u in train_ids])
        male = torch.cat([by_utt[u][1]["male"] for u in train_ids])

        def remix(offset: int) -> FrameSet:
            shifted = torch.roll(male, offset, dims=0)
            return frame_set(female + shifted, {"female": female, "male": shifted})

        train_set.remix = remix
    return train_set, (frames(val_ids) if val_ids else None)


@contextmanager
def experiment_lock(exp_dir: Path) -> Iterator[None]:
    """Refuse a second training in the same experiment dir while one runs."""
    lock = exp_dir / LOCK_FILE
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        pid = lock.read_text().strip() or "?"
        if pid.isdigit() and not _pid_alive(int(pid)):
            lock.unlink(missing_ok=True)
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        else:
            raise VaesepError(
                f"{exp_dir}: another training (pid {pid}) is using this experiment dir; "
                f"wait for it or remove {lock} if it is gone"
            ) from None
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def atomic_save(obj: object, path: Path) -> None:
    """torch.save to a temporary file, then rename over ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _make_optimizer(model: torch.nn.Module, config: Config) -> torch.optim.Optimizer:
    t = config.training
    if t.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=t.learning_rate, momentum=0.9, weight_decay=t.weight_decay
        )
    cls = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
    return cls(model.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)


def _on_device(
    frames: FrameSet, source: str, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(inputs, that source's targets, mixture spectrum) of ``frames`` on ``device``."""
    return frames.inputs.to(device), frames.targets[source].to(device), frames.mixture.to(device)


def _evaluate_loss(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor,
    mixture: torch.Tensor,
    batch: int,
) -> float:
    model.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(inputs), batch):
            part = slice(start, start + batch)
            loss, _ = model.loss(inputs[part], target[part], mixture[part])
            total += loss.item() * len(inputs[part])
    model.train()
    return total / len(inputs)


def train_source(
    source: str,
    train_set: FrameSet,
    val_set: FrameSet | None,
    config: Config,
    exp_dir: Path,
    device: torch.device,
    resume: bool = False,
    position: int = 0,
) -> dict:
    """Train the model of one source; keeps the best epoch (validation loss) in ``<source>.pt``.

    ``position`` is the line of its progress bar when several sources train at once.
    """
    t = config.training
    seed = source_seed(config, source)
    torch.manual_seed(seed)
    model = build_model(config.model, train_set.inputs.shape[1], config.features.num_bins)
    model.to(device)
    optimizer = _make_optimizer(model, config)
    generator = torch.Generator().manual_seed(seed)
    state = {"epoch": 0, "best_loss": float("inf"), "best_epoch": 0, "stale": 0, "history": []}
    best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ckpt_path = exp_dir / "checkpoints" / f"{source}.last.pt"
    if resume and ckpt_path.exists():
        best_weights, state = _restore(ckpt_path, model, optimizer, generator, config)
        log.info("%s: resuming after epoch %d", source, state["epoch"])
    ckpt_path.parent.mkdir(exist_ok=True)

    inputs, target, mixture = _on_device(train_set, source, device)
    val = _on_device(val_set, source, device) if val_set is not None else None
    n = len(inputs)
    done = state["epoch"] >= t.epochs or (
        t.early_stopping_patience and state["stale"] >= t.early_stopping_patience
    )
    bar = tqdm(
        range(state["epoch"], t.epochs if not done else state["epoch"]),
        desc=f"train {source}",
        disable=None if t.progress else True,
        leave=False,
        position=position,
    )
    for epoch in bar:
        started = time.perf_counter()
        if train_set.remix is not None:
            view = train_set.remix(int(torch.randint(1, n, (1,), generator=generator)))
            inputs, target, mixture = _on_device(view, source, device)
        perm = torch.randperm(n, generator=generator).to(device)
        running = 0.0
        parts: dict[str, float] = {}
        for start in range(0, n, t.batch_size):
            idx = perm[start : start + t.batch_size]
            loss, components = model.loss(inputs[idx], target[idx], mixture[idx])
            if not torch.isfinite(loss):
                raise _diverged(source, epoch + 1, loss.item(), ckpt_path)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += loss.item() * len(idx)
            for k, v in components.items():
                parts[k] = parts.get(k, 0.0) + v * len(idx)
        train_loss = running / n
        val_loss = (
            _evaluate_loss(model, *val, max(t.batch_size, 1024)) if val is not None else train_loss
        )
        if not (math.isfinite(val_loss) and _finite_weights(model)):
            raise _diverged(source, epoch + 1, val_loss, ckpt_path)
        record = {
            "source": source,
            "epoch": epoch + 1,
            "train_loss": train_loss,
            "val_loss": val_loss if val_set is not None else None,
            **{k: v / n for k, v in parts.items()},
            "seconds": round(time.perf_counter() - started, 3),
        }
        state["history"].append(record)
        state["epoch"] = epoch + 1
        if val_loss < state["best_loss"]:
            state.update(best_loss=val_loss, best_epoch=epoch + 1, stale=0)
            best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            state["stale"] += 1
        atomic_save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "best_model": best_weights,
                "state": state,
            },
            ckpt_path,
        )
        with open(exp_dir / LOG_FILE, "a", encoding="utf-8") as fh:  # after: no repeats on resume
            fh.write(json.dumps(record) + "\n")
        bar.set_postfix(train=f"{train_loss:.4g}", val=f"{val_loss:.4g}")
        if t.early_stopping_patience and state["stale"] >= t.early_stopping_patience:
            log.info(
                "%s: early stop after epoch %d (best %d)", source, epoch + 1, state["best_epoch"]
            )
            break
    bar.close()

    summary = {
        "source": source,
        "model": config.model.type,
        "epochs_run": state["epoch"],
        "best_epoch": state["best_epoch"],
        "best_loss": state["best_loss"],
        "train_frames": n,
        "val_frames": len(val_set) if val_set is not None else 0,
        "device": str(device),
        "seconds": round(sum(r["seconds"] for r in state["history"]), 3),
    }
    return save_source(exp_dir, source, config, best_weights, summary)


def source_seed(config: Config, source: str) -> int:
    """The seed of one source's model: ``training.seed`` plus the source's index."""
    seed = config.training.seed
    return seed + SOURCES.index(source) if source in SOURCES else seed


def save_source(
    exp_dir: Path, source: str, config: Config, state_dict: dict, summary: dict
) -> dict:
    """Write ``<source>.pt`` (weights and sizes) and ``<source>.json`` (summary); return it."""
    atomic_save(
        {
            "model_type": config.model.type,
            "input_dim": Featurizer(config.features).input_dim,
            "output_dim": config.features.num_bins,
            "state_dict": {k: v.cpu() for k, v in state_dict.items()},
        },
        exp_dir / f"{source}.pt",
    )
    (exp_dir / f"{source}.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def _restore(
    ckpt_path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    config: Config,
) -> tuple[dict, dict]:
    """Load a last-epoch checkpoint into the training objects; return (best weights, state)."""
    device = next(model.parameters()).device
    try:
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        generator.set_state(ckpt["generator"])
        torch.set_rng_state(ckpt["torch_rng"])
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with it, the fix is the same
        raise VaesepError(
            f"{ckpt_path}: cannot resume from it ({type(exc).__name__}); resume with the "
            "training.optimizer it was started with, or delete it to restart that source"
        ) from None
    for group in optimizer.param_groups:  # training.* may change on resume: the new values hold
        group.update(lr=config.training.learning_rate, weight_decay=config.training.weight_decay)
    return ckpt["best_model"], ckpt["state"]


def _finite_weights(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def _diverged(source: str, epoch: int, loss: float, ckpt_path: Path) -> VaesepError:
    """The one-line error for a NaN or infinite loss (or weights)."""
    kept = (
        f"the last good checkpoint {ckpt_path} is kept"
        if ckpt_path.exists()
        else "no checkpoint was written yet"
    )
    return VaesepError(
        f"training.learning_rate: the {source} model diverged in epoch {epoch} (loss {loss}); "
        f"{kept}; lower the learning rate and rerun (--resume continues from the checkpoint)"
    )


def prepare_exp_dir(exp_dir: Path, config: Config, resume: bool, force: bool) -> None:
    """Check an (existing) experiment dir; refuse to reuse one unless resuming or forced."""
    existing = exp_dir / CONFIG_FILE
    if existing.exists() and not (resume or force):
        raise VaesepError(
            f"{exp_dir}: already holds an experiment; use --resume to continue it, "
            "--force to train again over it, or another --exp-dir"
        )
    if resume and existing.exists():
        previous = load_config(existing)
        if previous.features != config.features or previous.model != config.model:
            raise VaesepError(
                f"{existing}: features/model differ from the requested config; resume with the "
                "same settings (only training.* may change) or use --force"
            )
    if force and not resume:
        for name in [LOG_FILE, *(f"{s}.pt" for s in SOURCES), *(f"{s}.json" for s in SOURCES)]:
            (exp_dir / name).unlink(missing_ok=True)
        for ckpt in (exp_dir / "checkpoints").glob("*.pt"):
            ckpt.unlink()


def train(
    config: Config,
    data_dir: str | Path,
    exp_dir: str | Path,
    resume: bool = False,
    force: bool = False,
    sources: tuple[str, ...] = SOURCES,
) -> dict:
    """Train every source's model on a data dir and write a self-contained experiment dir."""
    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    with experiment_lock(exp_dir):  # before prepare_exp_dir, which --force lets delete files
        prepare_exp_dir(exp_dir, config, resume, force)
        if config.training.num_threads:
            torch.set_num_threads(config.training.num_threads)
        device = resolve_device(config.training.device, "training.device")
        started = time.perf_counter()
        kind = model_kind(config.model.type)
        if kind == "oracle":
            summaries = fit_oracle(config, data_dir, exp_dir, sources)
        elif kind == "nmf":
            summaries = fit_nmf(config, data_dir, exp_dir, device, sources)
        else:
            summaries = fit_networks(config, data_dir, exp_dir, device, resume, sources)
        return {"sources": summaries, "seconds": round(time.perf_counter() - started, 3)}


def fit_networks(
    config: Config,
    data_dir: str | Path,
    exp_dir: Path,
    device: torch.device,
    resume: bool,
    sources: tuple[str, ...],
) -> dict[str, dict]:
    """Gradient training of one network per source (the study's models)."""
    stfts = load_stfts(data_dir, config)
    featurizer = Featurizer(config.features)
    train_set, val_set = build_frame_sets(stfts, featurizer, config.training)
    _write_setup(config, exp_dir, featurizer.stats)
    log.info(
        "%d utterances: %d training frames, %d validation frames, device %s",
        len(stfts),
        len(train_set),
        len(val_set) if val_set else 0,
        device,
    )
    n_workers = parallel_workers(config, device, len(sources))
    if n_workers == 1:
        return {
            s: train_source(s, train_set, val_set, config, exp_dir, device, resume) for s in sources
        }
    threads = config.training.num_threads or max(1, workers.cpu_count() // n_workers)
    log.info("training %d sources in parallel, %d thread(s) each", len(sources), threads)

    def job(source: str, position: int) -> dict:
        return train_source(source, train_set, val_set, config, exp_dir, device, resume, position)

    return dict(zip(sources, workers.map_forked(job, sources, threads)))


def parallel_workers(config: Config, device: torch.device, n_sources: int) -> int:
    """How many sources train at once: one process each on a multi-core Linux CPU, else 1.

    Small networks use cores poorly within one process (a step is a few small matrix
    products), so two one-thread processes beat one two-thread process. A GPU, one core,
    ``training.parallel_sources: false`` or a platform where forking torch is unsafe: 1.
    """
    if not (config.training.parallel_sources and device.type == "cpu" and workers.can_fork()):
        return 1
    return max(1, min(n_sources, workers.cpu_count()))


def fit_nmf(
    config: Config,
    data_dir: str | Path,
    exp_dir: Path,
    device: torch.device,
    sources: tuple[str, ...],
) -> dict[str, dict]:
    """One NMF dictionary per source from all of that source's training spectrograms.

    Nothing to resume: a dictionary takes seconds, so it is learned again.
    """
    stfts = load_stfts(data_dir, config)
    _write_setup(config, exp_dir, FeatureStats.identity(config.features.num_bins))
    m = config.model
    summaries = {}
    for source in sources:
        started = time.perf_counter()
        stft = torch.cat([refs[source] for _, _, refs in stfts])
        frames = spectrogram(stft, config.features.spectrogram).float().to(device)
        dictionary, losses = learn_dictionary(frames, m, source_seed(config, source))
        with open(exp_dir / LOG_FILE, "a", encoding="utf-8") as fh:
            for iteration, loss in losses:
                fh.write(json.dumps({"source": source, "iteration": iteration, "loss": loss}))
                fh.write("\n")
        summary = {
            "source": source,
            "model": m.type,
            "components": m.nmf_components,
            "divergence": m.nmf_divergence,
            "iterations": m.nmf_iterations,
            "loss": losses[-1][1],
            "train_frames": len(frames),
            "device": str(device),
            "seconds": round(time.perf_counter() - started, 3),
        }
        state = {"dictionary": dictionary}
        summaries[source] = save_source(exp_dir, source, config, state, summary)
    return summaries


def fit_oracle(
    config: Config, data_dir: str | Path, exp_dir: Path, sources: tuple[str, ...]
) -> dict[str, dict]:
    """Nothing to learn: check the data dir, write the config and an empty model per source."""
    load_datadir(data_dir)
    _write_setup(config, exp_dir, FeatureStats.identity(config.features.num_bins))
    model = {"model": config.model.type, "mask": config.model.mask, "seconds": 0.0}
    return {s: save_source(exp_dir, s, config, {}, {"source": s, **model}) for s in sources}


def _write_setup(config: Config, exp_dir: Path, stats: FeatureStats) -> None:
    save_config(config, exp_dir / CONFIG_FILE)
    stats.save(exp_dir / STATS_FILE)
