"""Gradient training of one model per source, input the mixture, target that source.

The loop is the model's: the trainer asks a :class:`~vaesep.models.base.GradientModel` for its
``optimizers``, shuffles the training segments (seeded), and calls ``training_step`` per batch
and ``validation_step`` per validation batch; the best epoch (validation ``loss``) is kept in
``<source>.pt``. After every epoch ``checkpoints/<source>.last.pt`` holds the weights, every
optimizer's state and the random-generator state (written atomically), from which a resumed
run continues exactly. On a multi-core CPU the sources train side by side
(``training.parallel_sources``). With ``training.joint`` or weak class supervision the sources'
models train as one :class:`~vaesep.training.joint.JointModel` (``checkpoints/joint.last.pt``), and
each source's best weights still go to ``<source>.pt``.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from pathlib import Path

import torch
from tqdm import tqdm

from vaesep.config import Config
from vaesep.data.datadir import load_datadir
from vaesep.errors import VaesepError, log
from vaesep.features import Featurizer, Stft, spectrum_dim
from vaesep.io import signals, workers
from vaesep.models.base import Batch, GradientModel, NonFiniteLoss
from vaesep.training.batches import Batches, Cached, joint_on_device, on_device
from vaesep.training.checkpoints import restore, save_checkpoint
from vaesep.training.distributed import GradientSync, Ranks, sum_over_ranks
from vaesep.training.fitting import FitRun, source_seed
from vaesep.training.initial import initialize
from vaesep.training.joint import NAME as JOINT
from vaesep.training.joint import JointBatch, JointModel
from vaesep.training.pools import pool_sets
from vaesep.training.schedule import plateaus, rate, restore_plateaus
from vaesep.training.segments import SegmentSet, build_segment_sets, read_stfts
from vaesep.training.streaming import InMemory, TrainingData, streamed_sets

VALIDATION_BATCH = 1024


def fit_gradient(run: FitRun) -> dict[str, dict]:
    """Train every source's network on the run's data dir (the study's models and others)."""
    config = run.config
    t = config.training
    featurizer = Featurizer(config.features)
    frames = config.model.segment_frames
    if config.data.streams:
        make = pool_sets if config.data.loading == "pools" else streamed_sets
        train_data, val_data = make(run.data_dir, config, featurizer, frames)
        log.info(
            "%s: %s training data, %d worker(s), segments of %d frames, device %s",
            run.data_dir,
            config.data.loading,
            config.data.workers,
            frames,
            run.device,
        )
        return _train_all(train_data, val_data, featurizer, run)
    weak = t.supervision == "class"
    data = load_datadir(run.data_dir, require_references=not weak)
    stfts = read_stfts(data, config, references=not weak)
    classes = data.classes if weak else None
    if weak and all(len(c) == len(data.names) for c in classes.values()):
        log.warning(
            "%s: every mixture holds every source, so weak class supervision cannot tell them "
            "apart; add single-class recordings (vaesep prepare weak)",
            run.data_dir,
        )
    train_set, val_set = build_segment_sets(stfts, featurizer, t, frames, classes, data.names)
    log.info(
        "%d utterances: %d training frames, %d validation frames (segments of %d), device %s",
        len(stfts),
        train_set.frames,
        val_set.frames if val_set is not None else 0,
        frames,
        run.device,
    )
    val_data = InMemory(val_set) if val_set is not None else None
    return _train_all(InMemory(train_set), val_data, featurizer, run)


def _train_all(
    train_data: TrainingData, val_data: TrainingData | None, featurizer: Featurizer, run: FitRun
) -> dict[str, dict]:
    """Write the setup, then train every source's model (together or apart, in parallel
    where the CPU allows) on the data; ``{source: summary}``."""
    config = run.config
    t = config.training
    run.exp.write_setup(config, featurizer.stats)
    dim = featurizer.input_dim
    if t.trains_together:
        return train_joint(train_data, val_data, dim, run)
    n_workers = 1 if run.ranks.active else parallel_workers(config, run.device, len(run.sources))
    if n_workers == 1:
        return {s: train_source(s, train_data, val_data, dim, run) for s in run.sources}
    threads = t.num_threads or max(1, workers.cpu_count() // n_workers)
    log.info("training %d sources in parallel, %d thread(s) each", len(run.sources), threads)

    def job(source: str, position: int) -> dict:
        return train_source(source, train_data, val_data, dim, run, position)

    return dict(zip(run.sources, workers.map_forked(job, run.sources, threads)))


def parallel_workers(config: Config, device: torch.device, n_sources: int) -> int:
    """How many sources train at once: one process each on a multi-core Linux CPU, else 1.

    Small networks use cores poorly within one process (a step is a few small matrix
    products), so two one-thread processes beat one two-thread process. A GPU, one core,
    ``training.parallel_sources: false`` or a platform where forking torch is unsafe: 1.
    """
    if not (config.training.parallel_sources and device.type == "cpu" and workers.can_fork()):
        return 1
    return max(1, min(n_sources, workers.cpu_count()))


def _validation_loss(model: GradientModel, parts: Iterable[Batches], batch_size: int) -> float:
    model.eval()
    total, count = 0.0, 0
    for val in parts:
        for start in range(0, len(val), batch_size):
            batch = val.select(slice(start, start + batch_size))
            total += model.validation_step(batch)["loss"] * len(batch)
        count += len(val)
    model.train()
    return total / count


def train_source(
    source: str,
    train_data: TrainingData,
    val_data: TrainingData | None,
    input_dim: int,
    run: FitRun,
    position: int = 0,
) -> dict:
    """Train the model of one source; keeps the best epoch (validation loss) in ``<source>.pt``.

    ``position`` is the line of its progress bar when several sources train at once.
    """
    torch.manual_seed(source_seed(run.config, source))
    model = run.build(input_dim, spectrum_dim(run.config.features))
    if source in run.initial:
        initialize(model, run.initial[source], source)
    device = run.device
    stft = None
    if run.config.training.loss == "si_sdr":
        if not model.scores_waveforms():
            raise VaesepError(
                f"training.loss: si_sdr replaces a reconstruction error, and model.type "
                f"{run.config.model.type} trains on its own objective; use training.loss: "
                "spectrum"
            )
        stft = Stft(run.config.features)

    def batches(segments: SegmentSet) -> Batch:
        return on_device(segments, source, device, stft)

    train_data = train_data.for_sources((source,))
    val_data = val_data.for_sources((source,)) if val_data is not None else None
    best, summary = train_model(source, model, batches, train_data, val_data, run, position)
    return run.exp.save_source(source, run.config, best, {"source": source, **summary})


def train_joint(
    train_data: TrainingData, val_data: TrainingData | None, input_dim: int, run: FitRun
) -> dict:
    """Train all sources' models as one (:mod:`vaesep.training.joint`); ``{source: summary}``."""
    models = {}
    for source in run.config.data.names:
        torch.manual_seed(source_seed(run.config, source))  # as if trained apart
        models[source] = run.build(input_dim, spectrum_dim(run.config.features))
        if source in run.initial:
            initialize(models[source], run.initial[source], source)
    model = JointModel(models, run.config.training)
    device = run.device
    # Joint training uses each model's estimate and penalties only, never its own loss.
    stft = Stft(run.config.features) if run.config.training.loss == "si_sdr" else None

    def batches(segments: SegmentSet) -> JointBatch:
        return joint_on_device(segments, device, stft)

    best, summary = train_model(JOINT, model, batches, train_data, val_data, run)
    extra = {"trained": JOINT, "supervision": run.config.training.supervision}
    return {
        s: run.exp.save_source(s, run.config, weights, {"source": s, **summary, **extra})
        for s, weights in model.split(best).items()
    }


def train_model(
    name: str,
    model: GradientModel,
    batches: Callable[[SegmentSet], Batches],
    train_data: TrainingData,
    val_data: TrainingData | None,
    run: FitRun,
    position: int = 0,
) -> tuple[dict, dict]:
    """The epochs of one model (a source's, the joint one or the shared CVAE of
    :mod:`vaesep.training.conditional`) named ``name`` in its checkpoint,
    log and progress bar; (best weights, summary). On streamed data a stop signal waits for
    the end of the part being trained on, which is checkpointed: ``--resume`` goes on from
    there (in memory it stops at once and goes on from the last epoch)."""
    with signals.deferred() if run.config.data.streams else nullcontext():
        config, device = run.config, run.device
        t = config.training
        seed = source_seed(config, name)
        model.to(device)
        optimizers = model.optimizers(t)
        schedulers = plateaus(optimizers, t)
        ranks = run.ranks
        sync = GradientSync(optimizers, ranks) if ranks.active else None
        generator = torch.Generator().manual_seed(seed)
        state = {"epoch": 0, "step": 0, "best_loss": math.inf, "best_epoch": 0, "stale": 0}
        state["history"] = []
        best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        ckpt_path = run.exp.checkpoint_path(name)
        if run.resume and ckpt_path.exists():
            best_weights, state = restore(ckpt_path, model, optimizers, generator)
            restore_plateaus(schedulers, optimizers, state)
            run.exp.complete_log(name, state["history"])
            log.info("%s: resuming after epoch %d", name, state["epoch"])
        ckpt_path.parent.mkdir(exist_ok=True)

        as_batches, val_batches = Cached(batches), Cached(batches)
        done = state["epoch"] >= t.epochs or (
            t.early_stopping_patience and state["stale"] >= t.early_stopping_patience
        )
        bar = tqdm(
            range(state["epoch"], t.epochs if not done else state["epoch"]),
            desc=f"train {name}",
            disable=None if t.progress else True,
            leave=False,
            position=position,
        )
        partial = state.pop("partial", None)  # an epoch stopped part of the way (streamed data)
        begun, stopped_by = time.perf_counter(), "training.epochs"
        if done and state["epoch"] < t.epochs:  # resumed after an early stop
            stopped_by = "training.early_stopping_patience"
        for epoch in bar:
            started = time.perf_counter()
            sums: dict[str, float] = dict(partial["sums"]) if partial else {}
            n, first = (partial["examples"], partial["part"]) if partial else (0, 0)
            spent, partial = partial["seconds"] if partial else 0.0, None
            for part in train_data.parts(epoch, generator, first):
                data = as_batches(part)
                perm = torch.randperm(len(data), generator=generator).to(device)
                try:
                    n += _steps(model, data, perm, optimizers, state, t.batch_size, sync, sums)
                except NonFiniteLoss as exc:
                    raise _diverged(name, epoch + 1, exc.value, ckpt_path) from None
                if config.data.streams and (signum := _stop_requested(ranks)):
                    where = {"part": train_data.position, "sums": sums, "examples": n}
                    where["seconds"] = spent + time.perf_counter() - started
                    if ranks.writes:
                        at = {**state, "partial": where}
                        save_checkpoint(
                            ckpt_path, model, optimizers, generator, best_weights, at, run
                        )
                    log.info(
                        "%s: stopped in epoch %d after part %d", name, epoch + 1, where["part"]
                    )
                    signals.stop(signum)
            if sync is not None:
                sums = sum_over_ranks({**sums, "_examples": n}, ranks)
                n = sums.pop("_examples")
            if not n:
                raise VaesepError(f"{run.data_dir}: no training example could be read; check it")
            train_loss = sums.pop("loss") / n
            val_loss = train_loss
            if val_data is not None:
                val_parts = (val_batches(p) for p in val_data.parts(epoch, generator))
                val_loss = _validation_loss(model, val_parts, max(t.batch_size, VALIDATION_BATCH))
            if not (math.isfinite(val_loss) and _finite_weights(model)):
                raise _diverged(name, epoch + 1, val_loss, ckpt_path)
            record = {
                "source": name,
                "epoch": epoch + 1,
                "train_loss": train_loss,
                "val_loss": val_loss if val_data is not None else None,
                **{k: v / n for k, v in sums.items()},
                "seconds": round(spent + time.perf_counter() - started, 3),
            }
            if schedulers:
                record["learning_rate"] = rate(optimizers)
                for scheduler in schedulers.values():
                    scheduler.step(val_loss)
                state["plateaus"] = {k: v.state_dict() for k, v in schedulers.items()}
            state["history"].append(record)
            state["epoch"] = epoch + 1
            if val_loss < state["best_loss"] or not model.selects_best:
                state.update(best_loss=val_loss, best_epoch=epoch + 1, stale=0)
                best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                state["stale"] += 1
            if ranks.writes:
                save_checkpoint(ckpt_path, model, optimizers, generator, best_weights, state, run)
            run.exp.append_log([record])  # after the checkpoint: no repeats on resume
            bar.set_postfix(train=f"{train_loss:.4g}", val=f"{val_loss:.4g}")
            if t.early_stopping_patience and state["stale"] >= t.early_stopping_patience:
                stopped_by = "training.early_stopping_patience"
            elif t.max_minutes and _out_of_time(begun, t.max_minutes, ranks):
                stopped_by = "training.max_minutes"
            if stopped_by != "training.epochs":
                log.info("%s: stopped after epoch %d by %s", name, epoch + 1, stopped_by)
                break
        bar.close()

        seconds = round(sum(r["seconds"] for r in state["history"]), 3)
        summary = {
            "model": config.model.type,
            "epochs_run": state["epoch"],
            "best_epoch": state["best_epoch"],
            "best_loss": state["best_loss"],
            "segment_frames": config.model.segment_frames,
            "train_frames": train_data.frames,
            "val_frames": val_data.frames if val_data is not None else 0,
            "device": str(device),
            "seconds": seconds,
            "stopped_by": stopped_by,
            "outcome": f"best epoch {state['best_epoch']}/{state['epoch']}, "
            f"loss {state['best_loss']:.4g}, {seconds:.1f} s",
        }
        return best_weights, summary


def _out_of_time(begun: float, minutes: float, ranks: Ranks) -> bool:
    """Whether this run has trained past ``minutes`` (on every rank alike: any rank's clock)."""
    over = {"over": float(time.perf_counter() - begun > 60 * minutes)}
    return sum_over_ranks(over, ranks)["over"] > 0


def _steps(
    model: GradientModel,
    data: Batches,
    perm: torch.Tensor,
    optimizers: dict[str, torch.optim.Optimizer],
    state: dict,
    batch_size: int,
    sync: GradientSync | None,
    sums: dict[str, float],
) -> int:
    """The steps on one part's batches, in the order of ``perm`` (under data parallelism this
    rank's slice of each); adds each output times its batch's size to ``sums``; the examples
    trained on."""
    examples = 0
    for start in range(0, len(data), batch_size):
        idx = perm[start : start + batch_size]
        if sync is not None:  # this rank's slice of the global batch
            if len(idx) < sync.world:
                continue  # too few to split: every rank skips it alike
            shard = torch.tensor_split(idx, sync.world)[sync.rank]
            sync.share = len(shard) / len(idx)
            idx = shard
        out = model.training_step(data.select(idx), optimizers, state["step"])
        state["step"] += 1
        for k, v in out.items():
            sums[k] = sums.get(k, 0.0) + v * len(idx)
        examples += len(idx)
    return examples


def _stop_requested(ranks: Ranks) -> int:
    """The stop signal that waits, on this rank or any other (all stop at the same part); 0:
    none."""
    signum = signals.pending() or 0
    if ranks.active and sum_over_ranks({"stop": float(signum > 0)}, ranks)["stop"] and not signum:
        signum = int(signal.SIGTERM)
    return signum


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
