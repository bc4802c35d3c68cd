"""Permutation-invariant training (``training.permutation_invariant``) and pairs of any two
speakers (``data.genders: any``): the loss ignores the references' order, the draws give every
gender combination and never one speaker twice, a trained model (one shared network,
``model.shared``) is scored by the best permutation."""

from __future__ import annotations

import json
import logging
from collections import Counter

import numpy as np
import pytest
import torch
from synthetic import make_pool_dir

from vaesep.errors import VaesepError
from vaesep.features import Stft
from vaesep.io.audio import save_audio
from vaesep.models.objectives import Waveforms
from vaesep.models.rnn_mask import RNNMask
from vaesep.registry import load_config
from vaesep.separation.loading import load_separator
from vaesep.training.experiment import train
from vaesep.training.joint import JointBatch, JointModel
from vaesep.training.pools import Pair, Pool, draw_pairs, median_pitch, mix_pair

RATE = 8000
TINY = [f"features.sample_rate={RATE}", "training.progress=false", "training.num_threads=1"]
PIT = ["training.joint=true", "training.permutation_invariant=true"]


def _batch(swap: bool, waveforms: bool) -> tuple[JointModel, JointBatch]:
    """A joint rnn_mask model and a batch of 3 segments whose references are in order or
    swapped."""
    config = load_config("configs/rnn_mask.yaml", [*TINY, *PIT])
    torch.manual_seed(0)
    bins = config.features.num_bins
    models = {s: RNNMask(bins, bins, config.model) for s in ("female", "male")}
    joint = JointModel(models, config.training)
    gen = torch.Generator().manual_seed(1)
    signals = torch.randn(2, 3, 2048, generator=gen)
    stft = Stft(config.features)
    specs = [stft.stft(x) for x in signals]
    mixture = specs[0] + specs[1]
    names = ("male", "female") if swap else ("female", "male")
    waves = {n: Waveforms(mixture, s, stft) for n, s in zip(names, specs)} if waveforms else None
    targets = {n: s.abs() for n, s in zip(names, specs)}
    inputs = mixture.abs()
    return joint, JointBatch(inputs, targets, mixture.abs(), torch.ones(3, 2), waves)


@pytest.mark.parametrize("waveforms", [False, True])
def test_the_pit_loss_ignores_the_order_of_the_references(waveforms):
    joint, in_order = _batch(False, waveforms)
    _, swapped = _batch(True, waveforms)
    loss, parts = joint.batch_loss(in_order)
    loss_swapped, parts_swapped = joint.batch_loss(swapped)
    assert loss.item() == pytest.approx(loss_swapped.item(), rel=1e-5)
    assert parts["in_order"] + parts_swapped["in_order"] == pytest.approx(1.0)
    joint.permutation_invariant = False  # the fixed assignment: no longer the same, and higher
    fixed = max(joint.batch_loss(in_order)[0].item(), joint.batch_loss(swapped)[0].item())
    assert fixed > loss.item() + 1e-4


def test_any_gender_pairs_mix_every_combination_of_two_distinct_speakers():
    female = Pool([{"f1": ["f1a", "f1b"], "f2": ["f2a"]}])
    male = Pool([{"m1": ["m1a", "m1b", "m1c"]}])  # one speaker: M+M pairs cannot be made
    config = load_config(None, [*TINY, "data.loading=pools", "data.genders=any"])
    pairs = draw_pairs({"female": female, "male": male}, 2000, config, [0, 4, 0])
    speaker = {p: p[:2] for pool in (female, male) for p in pool.paths}
    kinds = Counter("".join(sorted(speaker[p][0] for p in pair.paths)) for pair in pairs)
    assert all(speaker[a] != speaker[b] for a, b in (pair.paths for pair in pairs))
    assert set(kinds) == {"ff", "fm"} and kinds["ff"] > 100 and kinds["fm"] > 1000
    config = load_config(None, [*TINY, "data.loading=pools", "data.draw=speaker"])
    opposite = draw_pairs({"female": female, "male": male}, 50, config, [0, 4, 0])
    assert all(speaker[a] < "g" < speaker[b] for a, b in (p.paths for p in opposite))


def test_median_pitch_finds_a_tone_and_calls_silence_zero():
    t = np.arange(RATE) / RATE
    for f0 in (110.0, 230.0):
        tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 5)).astype(np.float32)
        assert median_pitch(tone, RATE) == pytest.approx(f0, rel=0.01)
    assert median_pitch(np.zeros(RATE, np.float32), RATE) == 0.0


def test_pitch_order_puts_the_higher_voice_first_whatever_the_draw(tmp_path, caplog):
    pool = make_pool_dir(tmp_path / "p", {"f": "female", "m": "male"}, 2, RATE)
    high, low = str(pool / "wav" / "f-1.wav"), str(pool / "wav" / "m-1.wav")  # 220, 110 Hz
    base = [*TINY, "data.loading=pools", "data.genders=any", "data.crop_seconds=0.6"]
    base += ["training.dynamic_mixing=false"]
    pitch = load_config("configs/rnn_mask.yaml", [*base, "data.order=pitch"])
    drawn = load_config("configs/rnn_mask.yaml", base)
    stft = Stft(pitch.features)

    def mixed(config, paths, positions):
        return mix_pair(Pair(paths, positions, (1.0, 1.0), 0.0, 7), config, stft)

    reference = mixed(drawn, (high, low), (0.1, 0.3))
    for made in (mixed(pitch, (low, high), (0.3, 0.1)), mixed(pitch, (high, low), (0.1, 0.3))):
        assert torch.equal(made[0], reference[0])
        assert all(torch.equal(made[1][s], reference[1][s]) for s in ("female", "male"))
    swapped = mixed(drawn, (low, high), (0.3, 0.1))  # as drawn: the low voice first
    assert not torch.equal(swapped[1]["female"], reference[1]["female"])
    silent = tmp_path / "silent.wav"  # pitch 0: ordered second, and still the one named
    save_audio(silent, np.zeros(RATE, np.float32), RATE)
    with caplog.at_level(logging.WARNING, logger="vaesep"):
        assert mixed(pitch, (str(silent), high), (0.1, 0.1)) is None
    assert f"silent crop of {silent}" in caplog.text


@pytest.mark.parametrize(
    ("sets", "says"),
    [
        (["data.order=pitch"], "data.order: pitch draws pairs from speaker pools"),
        (["training.permutation_invariant=true"], "permutation_invariant: needs training.joint"),
        ([*PIT, "training.discriminative=0.1"], "permutation_invariant: needs .*discriminative"),
        (["data.genders=any"], "data.genders: any draws pairs from speaker pools"),
    ],
)
def test_impossible_pit_settings_are_one_line_errors(sets, says):
    with pytest.raises(VaesepError, match=says):
        load_config("configs/rnn_mask.yaml", [*TINY, *sets])


def test_a_pit_model_trains_on_any_pairs_and_is_scored_by_the_best_permutation(tmp_path):
    speakers = {"s1": "female", "s2": "female", "s3": "male", "s4": "male"}
    pool = make_pool_dir(tmp_path / "p", speakers, 2, RATE)
    sets = [*TINY, *PIT, "training.loss=si_sdr", "training.epochs=2", "data.loading=pools"]
    sets += ["data.genders=any", "data.pairs=12", "data.crop_seconds=0.6"]
    sets += ["data.stats_examples=8", "model.segment_frames=16", "training.batch_size=4"]
    sets += ["training.validation_fraction=0.5", "training.dynamic_mixing=false"]
    sets += ["model.shared=true"]  # one network, a mask layer per output
    train(load_config("configs/rnn_mask.yaml", sets), pool, tmp_path / "exp")
    lines = [json.loads(x) for x in (tmp_path / "exp" / "train.log").read_text().splitlines()]
    assert len(lines) == 2 and all(0 <= x["in_order"] <= 1 for x in lines)
    assert all(np.isfinite(x["val_loss"]) for x in lines)
    separator = load_separator(tmp_path / "exp")
    assert separator.permute and separator.sources == ("female", "male")
    female, male = (separator.models[s].state_dict() for s in ("female", "male"))
    shared = [k for k in female if not k.startswith("mask.")]
    assert shared and all(torch.equal(female[k], male[k]) for k in shared)
    assert not torch.equal(female["mask.0.weight"], male["mask.0.weight"])


def test_a_shared_network_needs_joint_training(tmp_path):
    pool = make_pool_dir(tmp_path / "p", {"s1": "female", "s2": "male"}, 1, RATE)
    config = load_config("configs/rnn_mask.yaml", [*TINY, "model.shared=true"])
    with pytest.raises(VaesepError, match="model.shared: .* set training.joint: true"):
        train(config, pool, tmp_path / "exp")
