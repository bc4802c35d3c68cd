"""``features.shifts``: separation averaged over STFT frame grids delayed by fractions of the hop
(a separation setting, like ``features.input_level_db``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import assert_user_error, run
from synthetic import make_datadir, make_pair, tiny_training

from vaesep.errors import VaesepError
from vaesep.expdir import load, with_settings
from vaesep.io.audio import load_audio, save_audio
from vaesep.registry import SECTIONS, load_config
from vaesep.separation.loading import load_separator
from vaesep.separation.separator import Separator
from vaesep.training.experiment import train

RATE = 8000
TINY = tiny_training(RATE)
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def exp(tmp_path_factory) -> Path:
    """A frame-wise VAE (finite receptive field) trained for one epoch on tiny data."""
    root = tmp_path_factory.mktemp("shifts")
    data = make_datadir(root / "d", n_utts=4, seconds=1.0)
    train(load_config(CONFIGS / "vae.yaml", TINY), data, root / "exp")
    return root / "exp"


@pytest.fixture(scope="module")
def mixture() -> np.ndarray:
    female, male = make_pair(np.random.default_rng(3), 2.5, RATE)
    return female + male


def _separator(exp: Path, shifts: int, **kwargs) -> Separator:
    experiment = with_settings(load(exp, SECTIONS), [f"features.shifts={shifts}"])
    return Separator.from_experiment(experiment, device="cpu", **kwargs)


def test_shifts_average_the_delayed_frame_grids(exp, mixture):
    one, four = _separator(exp, 1), _separator(exp, 4)
    hop = one.stft.hop_length
    out = four.separate(mixture, RATE)
    assert all(x.shape == mixture.shape and np.isfinite(x).all() for x in out.values())
    assert np.allclose(out["female"] + out["male"], mixture, atol=1e-4)  # masks sum to one
    delayed = []
    for k in range(4):
        d = k * hop // 4
        parts = one.separate(np.concatenate([np.zeros(d, np.float32), mixture]), RATE)
        delayed.append(np.stack([parts["female"][d:], parts["male"][d:]]))
    expected = np.mean(delayed, axis=0)
    assert np.allclose(np.stack([out["female"], out["male"]]), expected, atol=1e-5)
    plain = one.separate(mixture, RATE)["female"]
    assert not np.allclose(out["female"], plain, atol=1e-4)  # another estimate than one grid's


def test_shifted_chunks_equal_the_whole_signal_for_a_finite_receptive_field(exp, mixture):
    whole = _separator(exp, 4, chunk_seconds=1000).separate(mixture, RATE)
    chunked = _separator(exp, 4, chunk_seconds=0.6)
    assert chunked.receptive_field is not None
    parts = chunked.separate(mixture, RATE)
    for source, signal in whole.items():
        assert np.allclose(parts[source], signal, atol=1e-5), source


def test_one_shift_is_the_plain_separation(exp, mixture):
    plain = Separator.from_dir(exp, device="cpu")
    assert plain.config.features.shifts == 1
    signal = torch.from_numpy(mixture)
    assert torch.equal(plain.separate_tensor(signal), _separator(exp, 1).separate_tensor(signal))


@pytest.mark.parametrize("shifts", [0, 65])
def test_shifts_outside_one_to_the_hop_are_refused(exp, shifts):
    with pytest.raises(VaesepError, match=r"features.shifts: must be within 1 and the hop"):
        _separator(exp, shifts)  # hop: 8 ms at 8 kHz, 64 samples


def test_cli_separates_with_shifts_and_refuses_a_bad_value(exp, mixture, tmp_path):
    save_audio(tmp_path / "mix.wav", mixture, RATE)
    out = tmp_path / "out"
    shifted = ["--set", "features.shifts=2"]
    result = run("separate", tmp_path / "mix.wav", "-m", exp, "-o", out, *shifted)
    assert result.exit_code == 0, result.output
    expected = _separator(exp, 2).separate(mixture, RATE)
    written, _ = load_audio(out / "mix_female.wav")
    assert np.allclose(written, expected["female"], atol=1e-5)
    bad = run("separate", tmp_path / "mix.wav", "-m", exp, "-o", tmp_path / "o2", "--set",
              "features.shifts=0")  # fmt: skip
    assert_user_error(bad, "features.shifts: must be within 1 and the hop")


def test_a_model_without_a_network_refuses_shifts(tmp_path):
    data = make_datadir(tmp_path / "d", n_utts=2, seconds=1.0)
    train(load_config(CONFIGS / "oracle_irm.yaml", TINY), data, tmp_path / "oracle")
    with pytest.raises(VaesepError, match="features.shifts: model.type oracle has no network"):
        load_separator(tmp_path / "oracle", overrides=["features.shifts=2"])
