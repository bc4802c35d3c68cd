"""Data-parallel training: one process per device, started by ``torchrun``.

``torchrun --nproc_per_node N -m vaesep train ...`` starts N processes (ranks) that each hold
every source's model. All ranks read the same examples in the same seeded order; each takes
its slice of every global batch (``training.batch_size``), and before every optimizer step
the gradients are summed over the ranks, each weighted by its share of the batch, so that
every rank takes the step one process would take on the whole batch (up to the order of
floating-point sums; models that draw noise per example, such as the VAE's code, draw other
noise). The weights stay the same on every rank. Only rank 0 writes the experiment dir;
every rank reads its checkpoints on ``--resume``. The backend is NCCL on GPUs, gloo on CPUs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from vaesep.config import Config
from vaesep.errors import VaesepError
from vaesep.expdir import ExpDir
from vaesep.features import FeatureStats

TIMEOUT = timedelta(minutes=10)  # a rank that stops answering ends the others' wait


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local: int = 0  # the rank on this node: which GPU it takes

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def writes(self) -> bool:
        """Whether this rank writes the experiment dir (rank 0)."""
        return self.rank == 0


def ranks_from_env() -> Ranks:
    """The ranks ``torchrun`` (or SLURM's launcher through it) set in the environment."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise VaesepError(
            "WORLD_SIZE/RANK/LOCAL_RANK: not integers; start data-parallel training with "
            "torchrun --nproc_per_node N -m vaesep train ..."
        ) from None
    return Ranks(rank, world, local)


@contextmanager
def joined(ranks: Ranks, device: torch.device) -> Iterator[torch.device]:
    """The process group of the ranks for the block (nothing for one process); yields the
    device of this rank (a GPU rank takes GPU ``local``)."""
    if not ranks.active:
        yield device
        return
    if device.type == "cuda":
        device = torch.device("cuda", ranks.local)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    try:
        dist.init_process_group(backend, timeout=TIMEOUT)
    except (RuntimeError, ValueError) as exc:
        raise VaesepError(
            f"rank {ranks.rank}: cannot join the other training processes ({_first_line(exc)}); "
            "start them together with torchrun"
        ) from None
    try:
        yield device
    except (RuntimeError, dist.DistBackendError) as exc:
        if not _lost_peer(exc):
            raise
        raise VaesepError(
            f"rank {ranks.rank}: another training process stopped ({_first_line(exc)}); see "
            "its error, then rerun the same command with --resume"
        ) from None
    finally:
        dist.destroy_process_group()


def barrier(ranks: Ranks) -> None:
    if ranks.active:
        dist.barrier()


def _first_line(exc: BaseException) -> str:
    """The message's first sentence, without a ``[file.cc:123]`` prefix."""
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return re.sub(r"^\[[^\]]*\]\s*", "", line).split(". ")[0][:160]


def _lost_peer(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(w in text for w in ("connection", "timed out", "timeout", "closed", "peer", "nccl"))


class GradientSync:
    """Before each step of the optimizers, their gradients summed over the ranks, each
    weighted by ``share``: this rank's fraction of the global batch (set per batch)."""

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer], ranks: Ranks):
        self.share = 1.0
        self.rank, self.world = ranks.rank, ranks.world
        for optimizer in optimizers.values():
            optimizer.register_step_pre_hook(self._reduce)

    def _reduce(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads]) * self.share
        dist.all_reduce(flat)
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()


def sum_over_ranks(values: dict[str, float], ranks: Ranks) -> dict[str, float]:
    """``values`` summed over the ranks (float64), the same on every rank."""
    if not ranks.active or not values:
        return values
    keys = sorted(values)
    total = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(total)
    return dict(zip(keys, total.tolist()))


class ReaderDir(ExpDir):
    """The experiment dir as a rank other than 0 sees it: its checkpoints are read (resume);
    nothing is written."""

    def write_setup(self, config: Config, stats: FeatureStats) -> None:
        pass

    def append_log(self, records: list[dict]) -> None:
        pass

    def complete_log(self, name: str, history: list[dict]) -> None:
        pass

    def save_source(self, source: str, config: Config, state_dict: dict, summary: dict) -> dict:
        return summary

    def write_command(self, argv: list[str]) -> None:
        pass
