"""Training data streamed from disk (``data.loading: stream``) and mixed anew from speaker
pools (``pools``): the same examples as in memory, statistics from sums, determinism across
worker counts and exact resume, the pools' draws, and bad input."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import assert_user_error, run
from synthetic import make_datadir, make_pool_dir

from vaesep.data.datadir import DEFAULT_SOURCES as SOURCES
from vaesep.data.datadir import load_datadir
from vaesep.errors import VaesepError
from vaesep.features import Featurizer, Stft
from vaesep.io.signals import Stopped, stopping
from vaesep.registry import load_config
from vaesep.training import streaming
from vaesep.training.experiment import train
from vaesep.training.pools import Pair, draw_pairs, mix_pair, read_pools
from vaesep.training.segments import build_segment_sets, load_stfts, split_utterances
from vaesep.training.streaming import Streamed, streamed_sets

RATE = 8000
BASE = [
    f"features.sample_rate={RATE}",
    "training.progress=false",
    "training.early_stopping_patience=0",
    "training.num_threads=1",
    "data.group=4",
]
POOLS = ["data.loading=pools", "data.pairs=24", "data.crop_seconds=0.6", "data.stats_examples=16"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stream") / "d"
    make_datadir(root, n_utts=10, seconds=0.8, rate=RATE)
    return root


def _checkpoint_sum(exp: Path, source: str = "female") -> float:
    ckpt = torch.load(exp / "checkpoints" / f"{source}.last.pt", weights_only=False)
    return sum(float(v.double().sum()) for v in ckpt["model"].values())


def test_streamed_groups_hold_the_in_memory_segments(data):
    """One group of every training utterance in the in-memory order: the same segments, the
    statistics from sums equal to those of the whole set."""
    cfg = load_config(None, [*BASE, "data.loading=stream", "data.group=100", "data.workers=0"])
    memory, streamed = Featurizer(cfg.features), Featurizer(cfg.features)
    train_set, _ = build_segment_sets(load_stfts(data, cfg), memory, cfg.training, 1)
    train_data, val_data = streamed_sets(data, cfg, streamed, 1)
    for key in ("mean", "std"):
        np.testing.assert_allclose(getattr(streamed.stats, key), getattr(memory.stats, key), 1e-5)
    assert streamed.stats.target_scale == pytest.approx(memory.stats.target_scale, rel=1e-9)
    streamed.stats = memory.stats  # the same features from here on
    train_ids, _ = split_utterances(load_datadir(data).utt_ids, 0.1, 0)
    train_data.plan = lambda epoch: [(0, 0, train_ids)]
    (part,) = list(train_data.parts(0, torch.Generator()))
    torch.testing.assert_close(part.inputs, train_set.inputs)
    for source in SOURCES:
        torch.testing.assert_close(part.targets[source], train_set.targets[source])
    assert train_data.frames == train_set.frames and val_data is not None


def test_sums_give_the_statistics_of_fit():
    cfg = load_config(None, [f"features.sample_rate={RATE}"])
    specs = [torch.rand(50, cfg.features.num_bins) * 3, torch.rand(30, cfg.features.num_bins)]
    whole, summed = Featurizer(cfg.features), Featurizer(cfg.features)
    whole.fit(specs)
    summed.fit_sums(summed.sums(specs[0]) + summed.sums(specs[1]))
    np.testing.assert_allclose(summed.stats.mean, whole.stats.mean, rtol=1e-6)
    np.testing.assert_allclose(summed.stats.std, whole.stats.std, rtol=1e-5)
    assert summed.stats.target_scale == pytest.approx(whole.stats.target_scale, rel=1e-9)


@pytest.mark.parametrize("loading", [["data.loading=stream"], POOLS])
def test_same_weights_whatever_the_workers_and_an_exact_resume(data, tmp_path, loading):
    def fit(exp: str, epochs: int, workers: int, resume: bool = False) -> float:
        sets = [*BASE, *loading, f"training.epochs={epochs}", f"data.workers={workers}"]
        train(load_config("configs/vae.yaml", sets), data, tmp_path / exp, resume=resume)
        return _checkpoint_sum(tmp_path / exp)

    whole = fit("a", 2, 0)
    assert fit("b", 2, 2) == whole
    fit("c", 1, 1)
    assert fit("c", 2, 1, resume=True) == whole
    assert (tmp_path / "a" / "female.pt").exists() and (tmp_path / "a" / "stats.npz").exists()


@pytest.mark.parametrize("cache_mb", [1, 64])  # some utterances kept, all of them
def test_a_cache_keeps_the_weights_and_reads_each_kept_utterance_once(
    data, tmp_path, monkeypatch, cache_mb
):
    reads: list[str] = []
    real = streaming.read_utterance

    def counted(utt, *args):
        reads.append(utt)
        return real(utt, *args)

    def fit(exp: str, cache: int) -> float:
        sets = [*BASE, "data.loading=stream", "training.epochs=3", f"data.cache_mb={cache}"]
        sets += ["training.parallel_sources=false"]
        train(load_config("configs/vae.yaml", sets), data, tmp_path / exp)
        return _checkpoint_sum(tmp_path / exp)

    monkeypatch.setattr(streaming, "read_utterance", counted)
    whole = fit("a", 0)
    uncached = len(reads)
    reads.clear()
    assert fit("b", cache_mb) == whole
    fewer = len(reads)
    utts = load_datadir(data).utt_ids
    once = len(split_utterances(utts, 0.1, 0)[0]) + 2 * len(utts)  # stats, then each source
    if cache_mb == 64:
        assert fewer == once and uncached > fewer
    else:
        assert once < fewer < uncached


def test_pools_hold_out_speakers_and_draw_every_pairing(tmp_path):
    speakers = {f"f{i}": "female" for i in range(5)} | {f"m{i}": "male" for i in range(5)}
    root = make_pool_dir(tmp_path / "pool", speakers)
    train_pools, val_pools = read_pools(root, 0.2, seed=0)
    held = {Path(p).name.split("-")[0] for s in SOURCES for p in val_pools[s].paths}
    kept = {Path(p).name.split("-")[0] for s in SOURCES for p in train_pools[s].paths}
    assert held and not held & kept and held | kept == set(speakers)
    cfg = load_config(None, [*BASE, *POOLS, "training.mixing_gain_db=6", "data.speeds=[0.9,1.1]"])
    pairs = draw_pairs(train_pools, 400, cfg, [0, 4, 0])
    assert pairs == draw_pairs(train_pools, 400, cfg, [0, 4, 0])  # seeded
    assert pairs != draw_pairs(train_pools, 400, cfg, [0, 4, 1])  # a new epoch, new pairs
    combos = {p.paths for p in pairs}
    assert len(combos) == len(train_pools["female"]) * len(train_pools["male"])
    assert all(-6 <= p.gain_db <= 6 for p in pairs) and {p.speeds[0] for p in pairs} == {0.9, 1.1}


def test_a_pair_is_mixed_at_its_level_ratio_and_speed(tmp_path):
    root = make_pool_dir(tmp_path / "pool", {"f0": "female", "m0": "male"}, per_speaker=2)
    cfg = load_config(None, [*BASE, *POOLS, "training.mixing_gain_db=10"])
    stft = Stft(cfg.features)
    paths = (str(root / "wav" / "f0-1.wav"), str(root / "wav" / "m0-1.wav"))  # 1 s each
    mixture, sources = mix_pair(Pair(paths, (0.5, 0.5), (1.0, 1.0), 6.0, 0), cfg, stft)
    female, male = (stft.istft(sources[s], int(0.6 * RATE)).numpy() for s in SOURCES)
    ratio = 20 * np.log10(np.sqrt(np.mean(female**2)) / np.sqrt(np.mean(male**2)))
    assert ratio == pytest.approx(-6.0, abs=0.2)  # the male 6 dB above the female
    torch.testing.assert_close(mixture, sources["female"] + sources["male"])
    slow, _ = mix_pair(Pair(paths, (0.0, 0.0), (0.9, 0.9), 0.0, 0), cfg, stft)
    assert slow.shape == mixture.shape  # the crop keeps its length after the speed change


def test_pools_from_a_mixture_dir_train(data, tmp_path):
    cfg = load_config("configs/vae.yaml", [*BASE, *POOLS, "training.epochs=1", "data.workers=0"])
    summary = train(cfg, data, tmp_path / "exp")
    assert set(summary["sources"]) == set(SOURCES)


def test_an_unreadable_file_mid_epoch_is_skipped_with_a_warning(tmp_path, caplog):
    speakers = {f"f{i}": "female" for i in range(3)} | {f"m{i}": "male" for i in range(3)}
    root = make_pool_dir(tmp_path / "pool", speakers)
    (root / "wav" / "f1-0.wav").write_bytes(b"not audio")
    cfg = load_config("configs/vae.yaml", [*BASE, *POOLS, "training.epochs=1", "data.workers=0"])
    train(cfg, root, tmp_path / "exp")
    assert any("f1-0.wav" in r.getMessage() for r in caplog.records)
    assert (tmp_path / "exp" / "male.pt").exists()


def test_stream_skips_an_unreadable_utterance(data, tmp_path, caplog):
    copy = tmp_path / "d"
    make_datadir(copy, n_utts=6, seconds=0.5, rate=RATE)
    broken = load_datadir(copy).mixtures[load_datadir(copy).utt_ids[2]]
    Path(broken).write_bytes(b"RIFF nonsense")
    sets = [*BASE, "data.loading=stream", "training.epochs=1", "data.workers=0"]
    train(load_config("configs/vae.yaml", sets), copy, tmp_path / "exp")
    assert any(Path(broken).name in r.getMessage() for r in caplog.records)


def test_a_pool_without_one_gender_is_a_one_line_error(tmp_path):
    root = make_pool_dir(tmp_path / "pool", {"f0": "female", "f1": "female"})
    (root / "male.scp").write_text("")
    sets = ["--config", "configs/vae.yaml", "--set", "data.loading=pools"]
    sets += ["--set", f"features.sample_rate={RATE}"]
    result = run("train", "--data", root, "--exp-dir", tmp_path / "exp", *sets)
    assert_user_error(result, "male.scp")
    (root / "male.scp").unlink()
    assert_user_error(run("train", "--data", root, "--exp-dir", tmp_path / "x", *sets), "male.scp")


@pytest.mark.parametrize(
    ("sets", "key"),
    [
        (["data.loading=stream", "training.dynamic_mixing=true"], "training.dynamic_mixing"),
        (["data.loading=stream", "training.mixing_gain_db=3"], "training.mixing_gain_db"),
        (["data.loading=pools", "training.supervision=class"], "data.loading"),
        (["data.group=0"], "data.group"),
        (["data.speeds=[]"], "data.speeds"),
    ],
)
def test_settings_that_cannot_stream_are_refused(sets, key):
    with pytest.raises(VaesepError, match=key):
        load_config(None, sets)


def test_models_fitted_otherwise_say_they_read_in_memory(data, tmp_path, caplog):
    cfg = load_config("configs/oracle_irm.yaml", ["data.loading=stream"])
    train(cfg, data, tmp_path / "exp")
    assert any("fitted from the data in memory" in r.getMessage() for r in caplog.records)


def test_prepare_pool_from_a_manifest_then_train_on_it(tmp_path):
    speakers = {f"f{i}": "female" for i in range(3)} | {f"m{i}": "male" for i in range(3)}
    made = make_pool_dir(tmp_path / "made", speakers)
    rows = [
        f"{made / 'wav' / f'{spk}-{k}.wav'},{spk},{gender[0].upper()}"
        for spk, gender in speakers.items()
        for k in range(2)
    ]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,speaker,gender\n" + "\n".join(rows) + "\n")
    pool = tmp_path / "pool"
    result = run("prepare", "pool", "manifest", manifest, pool, "--split", "all")
    assert result.exit_code == 0, result.output
    assert "6 female utterances of 3 speakers" in result.output
    assert len((pool / "male.scp").read_text().splitlines()) == 6
    assert_user_error(run("prepare", "pool", "manifest", manifest, pool), "--force")
    sets = [*BASE, *POOLS, "training.epochs=1", "data.workers=0"]
    train(load_config("configs/vae.yaml", sets), pool, tmp_path / "exp")
    assert (tmp_path / "exp" / "female.pt").exists()
    only_female = tmp_path / "f.csv"
    only_female.write_text("path,speaker,gender\n" + "\n".join(rows[:6]) + "\n")
    result = run("prepare", "pool", "manifest", only_female, tmp_path / "p2", "--split", "all")
    assert_user_error(result, "no male utterances")


def test_a_stop_signal_mid_epoch_checkpoints_the_part_and_resume_is_exact(
    data, tmp_path, monkeypatch
):
    """SIGTERM while streamed data train: the part being trained on is finished and
    checkpointed with the epoch's position, and --resume goes on to the same weights."""
    sets = [*BASE, "data.loading=stream", "data.group=1", "training.epochs=2"]
    cfg = load_config("configs/vae.yaml", [*sets, "training.parallel_sources=false"])
    train(cfg, data, tmp_path / "whole")
    original, calls = Streamed.parts, []

    def parts(self, epoch, generator, start=0):
        calls.append(epoch)
        for k, part in enumerate(original(self, epoch, generator, start)):
            yield part
            if len(calls) == 1 and k == 2:  # the trainer asks for the 4th part
                os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(Streamed, "parts", parts)
    with pytest.raises(Stopped), stopping():
        train(cfg, data, tmp_path / "cut")
    ckpt = torch.load(tmp_path / "cut" / "checkpoints" / "female.last.pt", weights_only=False)
    assert ckpt["state"]["epoch"] == 0 and ckpt["state"]["partial"]["part"] == 4
    assert not list((tmp_path / "cut").rglob("*.part"))
    assert not (tmp_path / "cut" / "male.pt").exists()
    monkeypatch.setattr(Streamed, "parts", original)
    train(cfg, data, tmp_path / "cut", resume=True)
    for source in SOURCES:
        whole = torch.load(tmp_path / "whole" / f"{source}.pt")["state_dict"]
        cut_ = torch.load(tmp_path / "cut" / f"{source}.pt")["state_dict"]
        assert all(torch.equal(whole[k], cut_[k]) for k in whole), source
    log = (tmp_path / "cut" / "train.log").read_text().splitlines()
    assert len(log) == 2 * len(SOURCES)  # every epoch once
