"""Rooms and noise for dynamic mixing from pools (``data.reverb``, ``data.noise``): what each
does to a pair, reproducibly per pair, and the config's one-line errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from synthetic import make_pool_dir

from vaesep.data.mixing import rms
from vaesep.errors import MissingExtra, VaesepError
from vaesep.features import Stft
from vaesep.registry import load_config
from vaesep.training.acoustics import augment, room_responses
from vaesep.training.pools import Pair, mix_pair

RATE = 8000
POOLS = [f"features.sample_rate={RATE}", "data.loading=pools", "data.crop_seconds=0.6"]


def _voices() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return tuple((0.05 * rng.standard_normal(RATE)).astype(np.float32) for _ in range(2))


def _data(*overrides: str):
    return load_config(None, [*POOLS, *overrides]).data


def test_nothing_drawn_leaves_the_pair_as_it_is():
    voices = _voices()
    out, noise = augment(voices, _data(), seed=3, rate=RATE)
    assert noise is None and all(a is b for a, b in zip(out, voices))


def test_noise_is_added_at_a_ratio_within_the_range_and_the_voices_stay_clean():
    voices = _voices()
    data = _data("data.noise=1", "data.noise_snr=[20,30]")
    ratios = []
    for seed in range(20):
        out, noise = augment(voices, data, seed=seed, rate=RATE)
        assert all(a is b for a, b in zip(out, voices)) and noise.shape == voices[0].shape
        ratios.append(20 * np.log10(rms(voices[0] + voices[1]) / rms(noise)))
    assert min(ratios) >= 20 - 1e-3 and max(ratios) <= 30 + 1e-3 and np.ptp(ratios) > 2
    again = augment(voices, data, seed=7, rate=RATE)[1]
    np.testing.assert_array_equal(again, augment(voices, data, seed=7, rate=RATE)[1])


def test_a_room_reverberates_each_voice_at_its_level_and_only_the_drawn_share():
    pytest.importorskip("pyroomacoustics")
    voices = _voices()
    data = _data("data.reverb=1", "data.rt60=[0.2,0.3]")
    out, noise = augment(voices, data, seed=1, rate=RATE)
    assert noise is None
    for dry, wet in zip(voices, out):
        assert wet.shape == dry.shape and wet.dtype == np.float32
        assert rms(wet) == pytest.approx(rms(dry), rel=1e-4)  # the level ratio holds
        assert abs(np.corrcoef(dry, wet)[0, 1]) < 0.9  # smeared by the room
    np.testing.assert_array_equal(out[0], augment(voices, data, seed=1, rate=RATE)[0][0])
    half = _data("data.reverb=0.5", "data.rt60=[0.2,0.3]")
    played = [augment(voices, half, seed=s, rate=RATE)[0][0] is not voices[0] for s in range(40)]
    assert 8 <= sum(played) <= 32


def test_a_noisy_pair_mixes_the_noise_into_the_mixture_only(tmp_path):
    root = make_pool_dir(tmp_path / "pool", {"f0": "female", "m0": "male"}, per_speaker=2)
    config = load_config(None, [*POOLS, "data.noise=1", "data.noise_snr=[10,10]"])
    stft = Stft(config.features)
    paths = (str(root / "wav" / "f0-1.wav"), str(root / "wav" / "m0-1.wav"))
    mixture, sources = mix_pair(Pair(paths, (0.5, 0.5), (1.0, 1.0), 0.0, 4), config, stft)
    length = int(0.6 * RATE)
    voices = stft.istft(sources["female"] + sources["male"], length).numpy()
    noise = stft.istft(mixture, length).numpy() - voices
    assert 20 * np.log10(rms(voices) / rms(noise)) == pytest.approx(10.0, abs=0.1)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.reverb=1.5"], "data.reverb: must be a share of pairs in [0, 1]"),
        (["data.rt60=[0.1,0.5]"], "data.rt60: must be [LOW, HIGH] seconds with 0.15 <= LOW"),
        (["data.rt60=[0.5]"], "data.rt60: must be [LOW, HIGH] seconds"),
        (["data.noise_snr=[30,20]"], "data.noise_snr: must be [LOW, HIGH] dB with LOW <= HIGH"),
        (
            ["data.loading=memory", "data.noise=0.5"],
            "data.noise: 0.5 draws pairs from speaker pools; data.loading: memory",
        ),
    ],
)
def test_bad_room_and_noise_settings_are_one_line_errors(overrides, message):
    with pytest.raises(VaesepError) as error:
        load_config(None, [*POOLS, *overrides])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_rooms_without_pyroomacoustics_name_the_extra_and_the_key(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyroomacoustics", None)  # import fails as if missing
    room_responses.cache_clear()
    with pytest.raises(MissingExtra) as info:
        augment(_voices(), _data("data.reverb=1"), seed=0, rate=RATE)
    assert str(info.value) == "data.reverb needs pyroomacoustics: pip install 'vaesep[rooms]'"
