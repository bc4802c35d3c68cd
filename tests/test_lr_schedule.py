"""The learning rate's decay on validation plateaus (``training.lr_decay``, ``lr_patience``)."""

import json

import pytest
import torch
from synthetic import make_datadir

from vaesep.errors import VaesepError
from vaesep.registry import load_config
from vaesep.training.experiment import train
from vaesep.training.schedule import plateaus, restore_plateaus


def _config(*extra: str):
    base = [
        "features.sample_rate=8000",
        "training.progress=false",
        "training.num_threads=1",
        "training.parallel_sources=false",
        "training.early_stopping_patience=0",
        "training.lr_decay=0.5",
        "training.lr_patience=0",
    ]
    return load_config(None, [*base, *extra])


def _log(exp) -> list[dict]:
    lines = (exp / "train.log").read_text().split("\n")
    return [r for r in map(json.loads, filter(None, lines)) if r["source"] == "female"]


@pytest.mark.parametrize("key, value", [("lr_decay", 0), ("lr_decay", 1.5), ("lr_patience", -1)])
def test_impossible_decay_settings_are_one_line_errors(key, value):
    with pytest.raises(VaesepError, match=f"training.{key}"):
        load_config(None, [f"training.{key}={value}"])


def test_the_rate_halves_after_every_epoch_without_a_lower_validation_loss(tmp_path):
    make_datadir(tmp_path / "d", n_utts=4, seconds=0.5, rate=8000)
    train(
        _config("training.epochs=8", "training.learning_rate=0.01"), tmp_path / "d", tmp_path / "e"
    )
    log = _log(tmp_path / "e")
    assert log[0]["learning_rate"] == pytest.approx(0.01)
    best = float("inf")
    for before, after in zip(log, log[1:]):
        improved = before["val_loss"] < best
        best = min(best, before["val_loss"])
        expected = before["learning_rate"] * (1 if improved else 0.5)
        assert after["learning_rate"] == pytest.approx(expected)
    assert log[-1]["learning_rate"] < 0.01  # a rate this high plateaus within 8 epochs


def test_a_constant_rate_logs_no_rate(tmp_path):
    make_datadir(tmp_path / "d", n_utts=4, seconds=0.5, rate=8000)
    train(_config("training.epochs=1", "training.lr_decay=1"), tmp_path / "d", tmp_path / "e")
    assert "learning_rate" not in _log(tmp_path / "e")[0]


def test_resume_continues_the_decayed_rate_exactly(tmp_path):
    make_datadir(tmp_path / "d", n_utts=4, seconds=0.5, rate=8000)
    fast = "training.learning_rate=0.01"
    train(_config("training.epochs=6", fast), tmp_path / "d", tmp_path / "whole")
    train(_config("training.epochs=3", fast), tmp_path / "d", tmp_path / "cut")
    train(_config("training.epochs=6", fast), tmp_path / "d", tmp_path / "cut", resume=True)
    whole, cut = _log(tmp_path / "whole"), _log(tmp_path / "cut")
    keys = ("epoch", "learning_rate", "train_loss", "val_loss")
    assert [[r[k] for k in keys] for r in cut] == [[r[k] for k in keys] for r in whole]
    assert len({r["learning_rate"] for r in whole}) > 1  # the resumed part ran at a decayed rate


def test_a_constant_rate_checkpoint_resumed_with_a_decay_counts_its_plateau(tmp_path):
    make_datadir(tmp_path / "d", n_utts=4, seconds=0.5, rate=8000)
    train(_config("training.epochs=3", "training.lr_decay=1"), tmp_path / "d", tmp_path / "e")
    ckpt = torch.load(tmp_path / "e" / "checkpoints" / "female.last.pt", weights_only=False)
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=0.01)
    optimizers = {"model": optimizer}
    schedulers = plateaus(optimizers, _config().training)
    restore_plateaus(schedulers, optimizers, ckpt["state"])
    assert schedulers["model"].best == ckpt["state"]["best_loss"]
    assert schedulers["model"].num_bad_epochs == ckpt["state"]["stale"]
    assert optimizer.param_groups[0]["lr"] == 0.01  # the config's rate until a plateau


def test_a_resumed_decay_keeps_its_rate_but_takes_the_new_factor_and_patience():
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=0.01)
    before = plateaus({"model": optimizer}, _config().training)["model"]
    for loss in (1.0, 2.0):  # the second epoch is a plateau at patience 0: the rate halves
        before.step(loss)
    state = {"plateaus": {"model": before.state_dict()}, "best_loss": 1.0, "stale": 1}
    fresh = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=0.01)
    changed = _config("training.lr_decay=0.1", "training.lr_patience=3").training
    after = plateaus({"model": fresh}, changed)
    restore_plateaus(after, {"model": fresh}, state)
    assert fresh.param_groups[0]["lr"] == pytest.approx(0.005)
    assert (after["model"].factor, after["model"].patience) == (0.1, 3)


def test_max_minutes_stops_after_the_epoch_that_passes_it_and_resume_goes_on(tmp_path):
    make_datadir(tmp_path / "d", n_utts=4, seconds=0.5, rate=8000)
    budget = "training.max_minutes=1e-9"  # any epoch passes it
    train(_config("training.epochs=5", budget), tmp_path / "d", tmp_path / "e")
    assert [r["epoch"] for r in _log(tmp_path / "e")] == [1]
    record = json.loads((tmp_path / "e" / "female.json").read_text())
    assert (record["epochs_run"], record["stopped_by"]) == (1, "training.max_minutes")
    train(_config("training.epochs=3"), tmp_path / "d", tmp_path / "e", resume=True)
    assert [r["epoch"] for r in _log(tmp_path / "e")] == [1, 2, 3]
    record = json.loads((tmp_path / "e" / "female.json").read_text())
    assert (record["epochs_run"], record["stopped_by"]) == (3, "training.epochs")
    with pytest.raises(VaesepError, match="training.max_minutes"):
        load_config(None, ["training.max_minutes=-1"])
