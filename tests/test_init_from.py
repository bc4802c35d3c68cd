"""Fine-tuning (``training.init_from``): a run starts from a trained model's weights, apart or
jointly, and every model it cannot start from is a one-line error before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from cli_helpers import assert_user_error, run
from synthetic import make_datadir

from vaesep.data.datadir import DEFAULT_SOURCES as SOURCES
from vaesep.errors import VaesepError
from vaesep.registry import load_config
from vaesep.training.experiment import train

RATE = 8000
TINY = [
    f"features.sample_rate={RATE}",
    "training.progress=false",
    "training.num_threads=1",
    "training.epochs=2",
    "model.segment_frames=16",
    "model.hidden_size=8",
    "model.input_layers=[12]",
    "training.batch_size=4",
]
RNN = "configs/rnn_mask.yaml"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A data dir and an rnn_mask experiment trained on it."""
    root = tmp_path_factory.mktemp("init")
    data = make_datadir(root / "d", n_utts=6, seconds=0.8, rate=RATE)
    train(load_config(RNN, TINY), data, root / "first")
    return data, root / "first"


def _weights(exp: Path, source: str) -> dict[str, torch.Tensor]:
    return torch.load(exp / f"{source}.pt")["state_dict"]


@pytest.mark.parametrize("joint", [False, True])
def test_a_run_starts_from_the_models_weights(trained, tmp_path, joint):
    """At a learning rate of about 0 the fine-tuned weights are the starting model's (and not
    the random draw the same seed gives without the key)."""
    data, first = trained
    still = [*TINY, "training.epochs=1", "training.learning_rate=1e-30", f"training.joint={joint}"]
    train(load_config(RNN, [*still, f"training.init_from={first}"]), data, tmp_path / "tuned")
    train(load_config(RNN, still), data, tmp_path / "fresh")
    for source in SOURCES:
        start, tuned = _weights(first, source), _weights(tmp_path / "tuned", source)
        fresh = _weights(tmp_path / "fresh", source)
        assert all(torch.allclose(start[k], tuned[k]) for k in start)
        assert not all(torch.allclose(start[k], fresh[k]) for k in start)


def test_fine_tuning_lowers_the_loss_it_starts_from(trained, tmp_path):
    data, first = trained
    sets = [*TINY, "training.epochs=3", f"training.init_from={first}"]
    sets.append("features.input_level_db=-23")  # a separation setting: no other features
    train(load_config(RNN, sets), data, tmp_path / "tuned")
    for source in SOURCES:  # the same validation split: the same data and seed
        start, tuned = (
            json.loads((d / f"{source}.json").read_text()) for d in (first, tmp_path / "tuned")
        )
        assert tuned["best_loss"] < start["best_loss"]


@pytest.mark.parametrize(
    ("sets", "says"),
    [
        (["training.init_from=nowhere"], "training.init_from nowhere: neither an experiment dir"),
        (
            ["model.type=vrnn"],
            "training.init_from: .*holds a rnn_mask model and this config trains",
        ),
        (["features.window_ms=64"], "training.init_from: .*other features.* than this config's"),
        (["model.hidden_size=16"], "training.init_from: the female network there has other sizes"),
    ],
)
def test_a_model_it_cannot_start_from_is_a_one_line_error(trained, tmp_path, sets, says):
    data, first = trained
    cfg = load_config(RNN, [*TINY, f"training.init_from={first}", *sets])
    with pytest.raises(VaesepError, match=says):
        train(cfg, data, tmp_path / "e")
    if "sizes" not in says:  # checked before any work
        assert not (tmp_path / "e").exists()


def test_a_model_without_gradient_training_refuses_the_key(trained, tmp_path):
    data, first = trained
    sets = [f"features.sample_rate={RATE}", "model.type=nmf", f"training.init_from={first}"]
    cfg = load_config(None, sets)
    with pytest.raises(VaesepError, match="training.init_from: nmf is not trained by gradient"):
        train(cfg, data, tmp_path / "e")


def test_the_cli_names_the_key_in_one_line(trained, tmp_path):
    data, _ = trained
    sets = [x for s in [*TINY, "training.init_from=nowhere"] for x in ("--set", s)]
    result = run("train", "--config", RNN, "--data", data, "--exp-dir", tmp_path / "e", *sets)
    assert_user_error(result, "training.init_from nowhere: neither an experiment dir")
    assert not (tmp_path / "e").exists()
