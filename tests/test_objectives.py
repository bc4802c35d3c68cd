"""The time-domain objective (``training.loss: si_sdr``): its value against the scorer's
SI-SDR, its invariances, training with it in memory and streamed, and what it refuses."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from synthetic import make_datadir

from vaesep.errors import VaesepError
from vaesep.features import Stft
from vaesep.models.objectives import Waveforms
from vaesep.registry import load_config
from vaesep.scoring.metrics import si_sdr
from vaesep.training.experiment import train

RATE = 8000
TINY = [f"features.sample_rate={RATE}", "training.progress=false", "training.num_threads=1"]


def _signals(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two segments of a harmonic source and of white noise at the same level."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(4096) / RATE
    source = torch.stack([torch.sin(2 * torch.pi * f * t) * (1 + t) for f in (220.0, 330.0)])
    noise = torch.randn(source.shape, generator=gen) * source.std()
    return source, noise


def _waveforms(source: torch.Tensor, mixture: torch.Tensor) -> tuple[Waveforms, Stft]:
    stft = Stft(load_config(None, TINY).features)
    return Waveforms(stft.stft(mixture), stft.stft(source), stft), stft


def test_the_loss_is_the_scorers_si_sdr_of_the_resynthesized_estimate():
    source, noise = _signals()
    waveforms, stft = _waveforms(source, source + noise)
    estimate = waveforms.mixture.abs()  # the mixture itself: about 0 dB
    loss = waveforms.loss(estimate)
    frames = estimate.shape[1]
    length = stft.hop_length * (frames - 1)
    synth = stft.istft(torch.cat([waveforms.mixture, waveforms.source]), length).double().numpy()
    want = np.mean([si_sdr(synth[2 + i], synth[i]) for i in range(2)])
    assert float(-loss) == pytest.approx(want, abs=1e-3)
    assert -3 < want < 3


def test_the_loss_ignores_scale_and_rewards_the_source():
    source, noise = _signals()
    clean, _ = _waveforms(source, source)
    perfect = clean.loss(clean.source.abs())
    assert float(perfect) < -40  # the source's own magnitude and phase
    noisy, _ = _waveforms(source, source + noise)
    estimate = noisy.source.abs().clone().requires_grad_(True)
    loss = noisy.loss(estimate)
    assert noisy.loss(3 * estimate).item() == pytest.approx(loss.item(), abs=1e-3)
    assert loss.item() < noisy.loss(noisy.mixture.abs()).item() - 3  # beats the mixture
    loss.backward()
    assert torch.isfinite(estimate.grad).all() and estimate.grad.abs().sum() > 0


POOLS = ["data.loading=pools", "training.dynamic_mixing=false", "data.pairs=12"]
POOLS += ["data.crop_seconds=0.6", "data.stats_examples=8"]


@pytest.mark.parametrize(
    ("loading", "joint"), [([], False), (POOLS, False), ([], True), (POOLS, True)]
)
def test_a_mask_model_trains_on_the_time_domain_loss(tmp_path, loading, joint):
    make_datadir(tmp_path / "d", n_utts=6, seconds=0.8, rate=RATE)
    sets = [*TINY, "training.loss=si_sdr", "training.epochs=2", *loading]
    sets += ["model.segment_frames=16", "training.batch_size=4", f"training.joint={joint}"]
    train(load_config("configs/rnn_mask.yaml", sets), tmp_path / "d", tmp_path / "exp")
    lines = [json.loads(x) for x in (tmp_path / "exp" / "train.log").read_text().splitlines()]
    # apart: one line per source and epoch; jointly: one per epoch, the sum over the sources
    part = "rec" if joint else "neg_si_sdr"
    assert len(lines) == (2 if joint else 4) and all(x["train_loss"] == x[part] for x in lines)
    assert all(x["train_loss"] < (-5 if joint else -2) for x in lines[-1:])
    assert all(np.isfinite(x["val_loss"]) for x in lines)
    assert (tmp_path / "exp" / "female.pt").is_file()


@pytest.mark.parametrize(
    ("sets", "says"),
    [
        (["training.supervision=class"], "training.loss: si_sdr needs .* references"),
        (["features.spectrogram=power"], "training.loss: si_sdr needs features.spectrogram"),
    ],
)
def test_a_time_domain_loss_it_cannot_apply_is_refused(sets, says):
    with pytest.raises(VaesepError, match=says):
        load_config("configs/rnn_mask.yaml", [*TINY, "training.loss=si_sdr", *sets])


def test_a_model_with_its_own_objective_refuses_the_time_domain_loss(tmp_path):
    make_datadir(tmp_path / "d", n_utts=4, seconds=0.5, rate=RATE)
    cfg = load_config("configs/mlae.yaml", [*TINY, "training.loss=si_sdr", "training.epochs=1"])
    with pytest.raises(VaesepError, match="model.type mlae trains on its own objective"):
        train(cfg, tmp_path / "d", tmp_path / "exp")
