"""Data-parallel training for real: two gloo processes started by torchrun train the same
weights as one process with the same global batch, only rank 0 writes, and ``--resume`` under
two processes is exact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from synthetic import make_datadir

from vaesep.data.datadir import DEFAULT_SOURCES as SOURCES
from vaesep.training.distributed import GradientSync, Ranks, ranks_from_env

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-4  # largest weight difference (weights of about 0.1): float sums' order
SETS = [
    "features.sample_rate=8000",
    "training.progress=false",
    "training.early_stopping_patience=0",
    "training.batch_size=8",
    "training.num_threads=1",
]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ddp") / "d"
    make_datadir(root, n_utts=8, seconds=0.6, rate=8000)
    return root


def _train(data: Path, exp: Path, processes: int, *extra: str) -> subprocess.CompletedProcess:
    args = ["train", "--config", str(ROOT / "configs" / "rnn_mask.yaml"), "--data", str(data)]
    args += ["--exp-dir", str(exp)]
    for s in [*SETS, *extra]:
        args += ["--set", s]
    launcher = [sys.executable, "-m", "vaesep"]
    if processes > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        launcher += ["--nproc_per_node", str(processes), "-m", "vaesep"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [*launcher, *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )


def _weights(exp: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {s: torch.load(exp / f"{s}.pt")["state_dict"] for s in SOURCES}


def _largest_difference(a: Path, b: Path) -> float:
    wa, wb = _weights(a), _weights(b)
    return max(float((wa[s][k] - wb[s][k]).abs().max()) for s in SOURCES for k in wa[s])


def test_two_processes_train_the_weights_of_one(data, tmp_path):
    one = _train(data, tmp_path / "one", 1, "training.epochs=2")
    two = _train(data, tmp_path / "two", 2, "training.epochs=2")
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    assert _largest_difference(tmp_path / "one", tmp_path / "two") < TOLERANCE
    assert two.stdout.count("wrote ") == 1  # rank 0 speaks for both
    written = sorted(p.name for p in (tmp_path / "two").iterdir())
    assert written == sorted(p.name for p in (tmp_path / "one").iterdir())
    log = (tmp_path / "two" / "train.log").read_text().splitlines()
    assert len(log) == 2 * len(SOURCES)  # one line per source and epoch, written once


def test_resume_under_two_processes_is_exact(data, tmp_path):
    whole = _train(data, tmp_path / "whole", 2, "training.epochs=2")
    first = _train(data, tmp_path / "cut", 2, "training.epochs=1")
    assert whole.returncode == 0 and first.returncode == 0, whole.stderr + first.stderr
    again = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        + ["-m", "vaesep", "train", "--exp-dir", str(tmp_path / "cut"), "--data", str(data)]
        + ["--resume", "--set", "training.epochs=2"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert _largest_difference(tmp_path / "whole", tmp_path / "cut") == 0.0


def test_ranks_come_from_torchruns_environment(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert ranks_from_env() == Ranks(3, 4, 1)
    assert not ranks_from_env().writes and ranks_from_env().active
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name)
    assert ranks_from_env() == Ranks() and Ranks().writes and not Ranks().active


def test_gradients_are_weighted_by_the_ranks_share(monkeypatch):
    """One process stands for the group: the all-reduce is the identity, so the step sees
    the gradient times this rank's share."""
    monkeypatch.setattr(torch.distributed, "all_reduce", lambda tensor: None)
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    sync = GradientSync({"model": optimizer}, Ranks(0, 2))
    sync.share = 0.25
    (weight * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    optimizer.step()
    torch.testing.assert_close(weight.detach(), torch.tensor([0.75, 0.5, 0.25]))
