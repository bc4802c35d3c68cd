import json

import pytest
import torch
from synthetic import make_datadir

from vaesep.errors import VaesepError
from vaesep.features import Featurizer, spectrogram
from vaesep.registry import load_config
from vaesep.training.experiment import train
from vaesep.training.gradient import parallel_workers
from vaesep.training.segments import build_segment_sets, load_stfts, segment_index


def test_dynamic_mixing_pairs_sources_anew(tmp_path):
    make_datadir(tmp_path / "d", n_utts=4, seconds=0.5, rate=8000)
    cfg = load_config(
        None, ["features.sample_rate=8000", "training.dynamic_mixing=true", "training.seed=1"]
    )
    stfts = load_stfts(tmp_path / "d", cfg)
    feat = Featurizer(cfg.features)
    train_set, val_set = build_segment_sets(stfts, feat, cfg.training, 1)
    assert val_set is not None and train_set.redraw is not None
    offset = int(torch.randint(1, len(train_set), (1,), generator=torch.Generator().manual_seed(3)))
    view = train_set.redraw(torch.Generator().manual_seed(3))
    assert torch.equal(view.targets["female"], train_set.targets["female"])
    assert torch.equal(view.targets["male"], torch.roll(train_set.targets["male"], offset, 0))
    assert not torch.allclose(view.inputs, train_set.inputs)
    # The remixed input is the spectrogram of the complex sum of the two sources.
    stft_sum = sum(s for _, _, refs in stfts[:1] for s in refs.values())
    assert torch.allclose(
        spectrogram(stft_sum, "magnitude"), spectrogram(stfts[0][1], "magnitude"), atol=1e-4
    )


def _redrawn(data, *overrides):
    """A frame-wise training set with dynamic mixing and ``overrides``, and its view drawn
    with seed 3."""
    cfg = load_config(
        None, ["features.sample_rate=8000", "training.dynamic_mixing=true", *overrides]
    )
    stfts = load_stfts(data, cfg)
    train_set, _ = build_segment_sets(stfts, Featurizer(cfg.features), cfg.training, 1)
    return train_set, train_set.redraw(torch.Generator().manual_seed(3))


def test_dynamic_mixing_gains_scale_each_new_male_segment_within_the_range(tmp_path):
    data = make_datadir(tmp_path / "d", n_utts=4, seconds=0.5, rate=8000)
    _, view = _redrawn(data, "training.mixing_gain_db=6")
    _, unscaled = _redrawn(data)
    assert torch.equal(view.targets["female"], unscaled.targets["female"])
    loud = unscaled.targets["male"].sum((1, 2)) > 1e-3
    ratio = view.targets["male"].sum((1, 2))[loud] / unscaled.targets["male"].sum((1, 2))[loud]
    db = 20 * torch.log10(ratio)
    assert bool((db.abs() <= 6 + 1e-3).all()) and float(db.std()) > 1  # spread over the range


def test_dynamic_mixing_colours_each_source_segment_by_a_smooth_response(tmp_path):
    data = make_datadir(tmp_path / "d", n_utts=4, seconds=0.5, rate=8000)
    train_set, view = _redrawn(data, "training.mixing_colouring_db=6")
    loud = train_set.targets["female"][:, 0] > 1e-3 * train_set.targets["female"].max()
    ratio_db = 20 * torch.log10(
        view.targets["female"][:, 0][loud] / train_set.targets["female"][:, 0][loud]
    )
    assert float(ratio_db.abs().max()) <= 12 + 1e-3 and float(ratio_db.std()) > 1
    responses = view.targets["female"][:, 0] / train_set.targets["female"][:, 0].clamp_min(1e-12)
    first, second = responses[0], responses[1]
    assert not torch.allclose(first, second)  # every segment its own response


def test_phase_sensitive_targets_are_the_projection_on_the_mixture_truncated(tmp_path):
    make_datadir(tmp_path / "d", n_utts=3, seconds=0.5, rate=8000)
    cfg = load_config(None, ["features.sample_rate=8000", "training.target=phase_sensitive"])
    cfg.training.validation_fraction = 0.0
    stfts = load_stfts(tmp_path / "d", cfg)
    feat = Featurizer(cfg.features)
    train_set, _ = build_segment_sets(stfts, feat, cfg.training, 1)
    mixture = torch.cat([mix for _, mix, _ in stfts])
    female = torch.cat([refs["female"] for _, _, refs in stfts])
    cos = torch.cos(female.angle() - mixture.angle())
    expected = (female.abs() * cos).clamp(min=0).minimum(mixture.abs())
    got = feat.to_spectrogram(train_set.targets["female"][:, 0])
    assert torch.allclose(got, expected, atol=1e-4)
    assert bool((got <= mixture.abs() + 1e-4).all()) and float((cos < 0).float().mean()) > 0.01
    power = load_config(None, ["features.spectrogram=power", "training.target=phase_sensitive"])
    with pytest.raises(VaesepError, match="training.target: phase_sensitive needs"):
        build_segment_sets(stfts, Featurizer(power.features), power.training, 1)


def test_training_with_dynamic_mixing_learns(tmp_path):
    make_datadir(tmp_path / "d", n_utts=6, seconds=0.5, rate=8000)
    cfg = load_config(
        None,
        [
            "features.sample_rate=8000",
            "training.dynamic_mixing=true",
            "training.epochs=4",
            "training.progress=false",
            "training.early_stopping_patience=0",
        ],
    )
    result = train(cfg, tmp_path / "d", tmp_path / "exp")
    assert result["sources"]["female"]["epochs_run"] == 4
    assert (tmp_path / "exp" / "female.pt").is_file()


def _tiny_config(*extra: str):
    base = ["features.sample_rate=8000", "training.epochs=3", "training.progress=false"]
    return load_config(None, [*base, "training.num_threads=1", *extra])


def test_parallel_sources_train_the_same_models_as_serial(tmp_path, monkeypatch):
    monkeypatch.setattr("vaesep.io.workers.cpu_count", lambda: 2)
    make_datadir(tmp_path / "d", n_utts=4, seconds=0.5, rate=8000)
    train(_tiny_config(), tmp_path / "d", tmp_path / "par")
    train(_tiny_config("training.parallel_sources=false"), tmp_path / "d", tmp_path / "ser")
    for source in ("female", "male"):
        par = torch.load(tmp_path / "par" / f"{source}.pt")["state_dict"]
        ser = torch.load(tmp_path / "ser" / f"{source}.pt")["state_dict"]
        assert par.keys() == ser.keys()
        assert all(torch.equal(par[k], ser[k]) for k in par)
    epochs = [
        json.loads(line)
        for line in (tmp_path / "par" / "train.log").read_text().split("\n")
        if line
    ]
    assert sorted((r["source"], r["epoch"]) for r in epochs) == [
        (s, e) for s in ("female", "male") for e in (1, 2, 3)
    ]


def test_parallel_workers_only_on_a_multicore_cpu(monkeypatch):
    monkeypatch.setattr("vaesep.io.workers.cpu_count", lambda: 2)
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert parallel_workers(_tiny_config(), cpu, 2) == 2
    assert parallel_workers(_tiny_config(), cpu, 1) == 1
    assert parallel_workers(_tiny_config(), gpu, 2) == 1
    assert parallel_workers(_tiny_config("training.parallel_sources=false"), cpu, 2) == 1
    monkeypatch.setattr("vaesep.io.workers.cpu_count", lambda: 1)
    assert parallel_workers(_tiny_config(), cpu, 2) == 1


def test_an_error_in_a_parallel_source_reaches_the_caller(tmp_path, monkeypatch):
    monkeypatch.setattr("vaesep.io.workers.cpu_count", lambda: 2)
    make_datadir(tmp_path / "d", n_utts=4, seconds=0.5, rate=8000)
    with pytest.raises(VaesepError, match="training.learning_rate: the female model diverged"):
        train(_tiny_config("training.learning_rate=1e30"), tmp_path / "d", tmp_path / "exp")


def test_segments_lie_inside_utterances_and_cover_them():
    index = segment_index([5, 2, 3], 3)
    pad = 10
    assert index.tolist() == [[0, 1, 2], [2, 3, 4], [5, 6, pad], [7, 8, 9]]
    assert segment_index([4, 2], 1).flatten().tolist() == list(range(6))  # T = 1: every frame


def test_a_checkpoint_with_other_optimizers_is_a_one_line_error(tmp_path, monkeypatch):
    make_datadir(tmp_path / "d", n_utts=4, seconds=0.5, rate=8000)
    cfg = _tiny_config("training.parallel_sources=false", "training.epochs=1")
    train(cfg, tmp_path / "d", tmp_path / "exp")
    ckpt_path = tmp_path / "exp" / "checkpoints" / "female.last.pt"
    ckpt = torch.load(ckpt_path, weights_only=False)
    ckpt["optimizers"]["critic"] = ckpt["optimizers"]["model"]
    torch.save(ckpt, ckpt_path)
    with pytest.raises(VaesepError, match=r"holds the optimizer\(s\) critic, model but the model"):
        train(_tiny_config("training.parallel_sources=false"), tmp_path / "d", tmp_path / "exp",
              resume=True)  # fmt: skip


def test_random_segments_cut_utterances_anew_each_epoch(tmp_path):
    make_datadir(tmp_path / "d", n_utts=4, seconds=0.5, rate=8000)
    cfg = load_config(None, ["features.sample_rate=8000", "training.random_segments=true"])
    feat = Featurizer(cfg.features)
    train_set, _ = build_segment_sets(load_stfts(tmp_path / "d", cfg), feat, cfg.training, 8)
    generator = torch.Generator().manual_seed(0)
    views = [train_set.redraw(generator) for _ in range(2)]
    assert all(v.inputs.shape[1:] == train_set.inputs.shape[1:] for v in views)
    assert not torch.equal(views[0].targets["female"], views[1].targets["female"])
    assert segment_index([10], 4, [3]).tolist() == [[3, 4, 5, 6], [6, 7, 8, 9]]
    # Segments of one frame have nothing to jitter: the fixed set, no random numbers drawn.
    assert (
        build_segment_sets(load_stfts(tmp_path / "d", cfg), feat, cfg.training, 1)[0].redraw is None
    )
