"""``Bag``: several separators' estimates averaged (members of different STFT windows, one hop)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic import make_datadir, make_pair, tiny_training

from vaesep import Bag
from vaesep.errors import VaesepError
from vaesep.io.audio import load_audio, save_audio
from vaesep.registry import load_config
from vaesep.separation.loading import load_separator
from vaesep.separation.separator import Separator
from vaesep.training.experiment import train

RATE = 8000
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# Two frame-wise VAEs (finite receptive fields) on one 8 ms hop: a 16 ms and a 32 ms window.
WINDOWS = {"w16": ["features.window_ms=16", "features.overlap_ms=8"],
           "w32": ["features.window_ms=32", "features.overlap_ms=24"]}  # fmt: skip


@pytest.fixture(scope="module")
def exps(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bag")
    data = make_datadir(root / "d", n_utts=4, seconds=1.0)
    out = {}
    others = {"hop16": ["features.window_ms=32", "features.overlap_ms=16"]}  # a 16 ms hop
    for name, sets in {**WINDOWS, **others}.items():
        train(load_config(CONFIGS / "vae.yaml", tiny_training(RATE) + sets), data, root / name)
        out[name] = root / name
    wide = make_datadir(root / "d16", n_utts=2, seconds=1.0, rate=16000)
    train(load_config(CONFIGS / "vae.yaml", tiny_training(16000)), wide, root / "r16")
    return {**out, "r16": root / "r16"}


@pytest.fixture(scope="module")
def mixture() -> np.ndarray:
    female, male = make_pair(np.random.default_rng(5), 2.5, RATE)
    return female + male


def _member(exp: Path, *settings: str, **kwargs) -> Separator:
    return load_separator(exp, device="cpu", overrides=list(settings), **kwargs)


def test_a_bag_of_one_is_its_member(exps, mixture):
    member = _member(exps["w16"])
    signal = torch.from_numpy(mixture)
    assert torch.equal(Bag([member]).separate_tensor(signal), member.separate_tensor(signal))


def test_a_bag_averages_its_members_by_weight(exps, mixture):
    a, b = _member(exps["w16"]), _member(exps["w32"], "features.shifts=2")
    bag = Bag([a, b], weights=[3, 1])
    out = bag.separate(mixture, RATE)
    assert bag.sources == ("female", "male") and not bag.permute
    ea, eb = a.separate(mixture, RATE), b.separate(mixture, RATE)
    for source in bag.sources:
        assert out[source].shape == mixture.shape
        assert np.allclose(out[source], 0.75 * ea[source] + 0.25 * eb[source], atol=1e-6)
        assert not np.allclose(out[source], ea[source], atol=1e-4)
    assert np.allclose(out["female"] + out["male"], mixture, atol=1e-4)  # masks sum to one


def test_chunks_equal_the_whole_signal_with_the_widest_members_margin(exps, mixture):
    def bag(chunk: float) -> Bag:
        members = [_member(exps[n], chunk_seconds=chunk) for n in ("w16", "w32")]
        return Bag(members)

    chunked = bag(0.6)
    assert chunked.receptive_field == max(m.receptive_field for m in chunked.members)
    assert chunked._chunking()[1] == chunked.members[1]._chunking()[1]  # the 32 ms window's
    whole = bag(1000).separate(mixture, RATE)
    parts = chunked.separate(mixture, RATE)
    for source, signal in whole.items():
        assert np.allclose(parts[source], signal, atol=1e-5), source


def test_a_file_streams_as_the_array_separates(exps, mixture, tmp_path):
    bag = Bag([_member(exps[n], chunk_seconds=0.6) for n in ("w16", "w32")])
    save_audio(tmp_path / "mix.wav", mixture, RATE)
    outs = {s: tmp_path / f"{s}.wav" for s in bag.sources}
    bag.separate_file(tmp_path / "mix.wav", outs)
    expected = bag.separate(tmp_path / "mix.wav")
    for source, path in outs.items():
        written, rate = load_audio(path)
        assert rate == RATE and np.allclose(written, expected[source], atol=1e-6)


def test_a_bag_has_no_spectrograms_of_its_own_and_is_not_loaded_as_one_model(exps):
    bag = Bag([_member(exps["w16"])])
    with pytest.raises(VaesepError, match="no spectrogram estimates of its own"):
        bag.estimate_spectrograms(torch.zeros(3, 65))
    with pytest.raises(VaesepError, match="is one model; build a bag from separators"):
        Bag.from_dir(exps["w16"])


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty", "give at least one member"),
        ("weights", r"give one positive weight per member \(2\)"),
        ("zero", "give one positive weight per member"),
        ("hop", r"has hop \(samples\) 128, w16 64"),
        ("rate", "has sample rate 16000, w16 8000"),
    ],
)
def test_members_that_cannot_be_averaged_are_refused(exps, case, message):
    a = _member(exps["w16"])
    a.name = "w16"
    cases = {
        "empty": lambda: Bag([]),
        "weights": lambda: Bag([a, a], weights=[1]),
        "zero": lambda: Bag([a, a], weights=[1, 0]),
        "hop": lambda: Bag([a, _member(exps["hop16"])]),
        "rate": lambda: Bag([a, _member(exps["r16"])]),
    }
    with pytest.raises(VaesepError, match=message):
        cases[case]()
