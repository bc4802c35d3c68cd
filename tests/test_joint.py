"""Training the sources' models as one: jointly through their masks (``training.joint``) and
from mixtures and class labels alone (``training.supervision: class``), and the weak data."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic import make_datadir, sdr_gains

from vaesep.data.datadir import DEFAULT_SOURCES as SOURCES
from vaesep.data.datadir import load_datadir
from vaesep.data.weak import prepare_weak
from vaesep.errors import VaesepError
from vaesep.features import Featurizer, Stft
from vaesep.models.masks import soft_masks
from vaesep.models.objectives import Waveforms
from vaesep.models.vae import VAE, VAEConfig
from vaesep.registry import load_config
from vaesep.separation.separator import Separator
from vaesep.training.experiment import train
from vaesep.training.joint import JointBatch, JointModel
from vaesep.training.segments import build_segment_sets, read_stfts

RATE = 8000
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY = [
    f"features.sample_rate={RATE}",
    "training.epochs=2",
    "training.progress=false",
    "training.num_threads=1",
    "training.early_stopping_patience=0",
    "model.encoder_layers=[16]",
    "model.decoder_layers=[16]",
    "model.latent_dim=4",
]
# Weak class supervision on the synthetic combs (high "female", low "male" harmonics), from
# mixtures and one-class recordings only: mean SDR gain over the mixture on new pairs, dB.
WEAK_MIN_MEAN_GAIN_DB = 3.0


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_datadir(tmp_path_factory.mktemp("joint") / "d", n_utts=8, rate=RATE)


def _joint(training: list[str] = (), **vae) -> JointModel:
    cfg = load_config(CONFIGS / "vae.yaml", list(training))
    torch.manual_seed(0)
    models = {s: VAE(6, 5, VAEConfig(latent_dim=3, encoder_layers=[7], **vae)) for s in SOURCES}
    return JointModel(models, cfg.training)


def _batch(weak: bool = False, present: list[list[float]] | None = None) -> JointBatch:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, 1, 6, generator=gen)
    mixture = torch.rand(4, 1, 5, generator=gen) + 0.1
    female = mixture * torch.rand(4, 1, 5, generator=gen)
    targets = {} if weak else {"female": female, "male": mixture - female}
    present = torch.tensor(present or [[1.0, 1.0]] * 4)
    return JointBatch(x, targets, mixture, present)


def _estimates(model: JointModel, batch: JointBatch, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    with torch.no_grad():
        return {
            s: m.estimate_for_training(batch.inputs, batch.mixture)[0]
            for s, m in model.models.items()
        }


def test_the_joint_loss_is_the_masked_mixtures_error_plus_each_models_penalties():
    model, batch = _joint(["training.joint=true"], mask_power=2.0), _batch()
    estimates = _estimates(model, batch, seed=3)
    masks = soft_masks(estimates, 2.0)
    expected = sum(
        (masks[s] * batch.mixture - batch.targets[s]).square().sum(-1).mean() for s in SOURCES
    )
    torch.manual_seed(3)
    loss, parts = model.batch_loss(batch)
    assert parts["rec"] == pytest.approx(float(expected), rel=1e-6)
    kl = parts["kl_female"] + parts["kl_male"]
    assert float(loss) == pytest.approx(float(expected) + kl, rel=1e-6)  # beta = 1


def test_the_discriminative_term_subtracts_each_masked_estimates_error_against_the_other():
    model, batch = _joint(["training.joint=true", "training.discriminative=0.25"]), _batch()
    estimates = _estimates(model, batch, seed=3)
    masks = soft_masks(estimates)
    other = {"female": "male", "male": "female"}
    disc = sum(
        (masks[s] * batch.mixture - batch.targets[other[s]]).square().sum(-1).mean()
        for s in SOURCES
    )
    torch.manual_seed(3)
    loss, parts = model.batch_loss(batch)
    assert parts["disc"] == pytest.approx(float(disc), rel=1e-6)
    kl = parts["kl_female"] + parts["kl_male"]
    assert float(loss) == pytest.approx(parts["rec"] - 0.25 * parts["disc"] + kl, rel=1e-6)


def test_the_direct_term_adds_each_models_own_error_against_its_source():
    model, batch = _joint(["training.joint=true", "training.joint_direct=0.5"]), _batch()
    estimates = _estimates(model, batch, seed=3)
    direct = sum((estimates[s] - batch.targets[s]).square().sum(-1).mean() for s in SOURCES)
    torch.manual_seed(3)
    loss, parts = model.batch_loss(batch)
    assert parts["direct"] == pytest.approx(float(direct), rel=1e-6)
    kl = parts["kl_female"] + parts["kl_male"]
    assert float(loss) == pytest.approx(parts["rec"] + 0.5 * parts["direct"] + kl, rel=1e-6)


def test_with_waveforms_each_error_is_the_negative_si_sdr_of_the_resynthesized_estimate():
    stft = Stft(load_config(None, [f"features.sample_rate={RATE}"]).features)
    gen = torch.Generator().manual_seed(2)
    waves = {s: torch.randn(4, 2048, generator=gen) for s in SOURCES}
    specs = {s: stft.stft(w) for s, w in waves.items()}  # (4, T, F)
    mixture = specs["female"] + specs["male"]
    frames, bins = mixture.shape[1:]
    training = load_config(
        CONFIGS / "vae.yaml", ["training.joint=true", "training.discriminative=0.25"]
    )
    vae = VAEConfig(latent_dim=3, encoder_layers=[7])
    model = JointModel({s: VAE(6, bins, vae) for s in SOURCES}, training.training)
    waveforms = {s: Waveforms(mixture, specs[s], stft) for s in SOURCES}
    x = torch.randn(4, frames, 6, generator=gen)
    batch = JointBatch(x, {}, mixture.abs(), torch.ones(4, 2), waveforms)
    estimates = _estimates(model, batch, seed=3)
    masks = soft_masks(estimates)
    masked = {s: masks[s] * batch.mixture for s in SOURCES}
    other = {"female": "male", "male": "female"}
    rec = sum(waveforms[s].loss(masked[s]) for s in SOURCES)
    disc = sum(waveforms[other[s]].loss(masked[s]) for s in SOURCES)
    torch.manual_seed(3)
    loss, parts = model.batch_loss(batch)
    assert parts["rec"] == pytest.approx(float(rec), rel=1e-5)
    assert parts["disc"] == pytest.approx(float(disc), rel=1e-5)
    kl = parts["kl_female"] + parts["kl_male"]
    assert float(loss) == pytest.approx(float(rec) - 0.25 * float(disc) + kl, rel=1e-5)
    half = batch.select(slice(0, 2))
    assert half.waveforms["male"].source.shape[0] == 2


def test_weak_supervision_sums_only_the_classes_each_mixture_holds():
    model = _joint(["training.supervision=class"])
    batch = _batch(weak=True, present=[[1, 1], [1, 0], [0, 1], [1, 0]])
    estimates = _estimates(model, batch, seed=5)
    p = batch.present[:, :, None, None]
    total = p[:, 0] * estimates["female"] + p[:, 1] * estimates["male"]
    expected = (total - batch.mixture).square().sum(-1).mean()
    torch.manual_seed(5)
    _, parts = model.batch_loss(batch)
    assert parts["rec"] == pytest.approx(float(expected), rel=1e-6)


def test_split_gives_each_source_a_state_dict_its_own_model_loads():
    model = _joint(["training.joint=true"])
    parts = model.split(model.state_dict())
    assert set(parts) == set(SOURCES)
    for source, state in parts.items():
        fresh = VAE(6, 5, VAEConfig(latent_dim=3, encoder_layers=[7]))
        fresh.load_state_dict(state)
        for key, value in fresh.state_dict().items():
            assert torch.equal(value, model.models[source].state_dict()[key])


def test_joint_training_writes_every_sources_model_and_separates(data, tmp_path):
    cfg = load_config(CONFIGS / "vae.yaml", [*TINY, "training.joint=true"])
    train(cfg, data, tmp_path / "e")
    exp = tmp_path / "e"
    assert (exp / "checkpoints" / "joint.last.pt").is_file()
    for source in SOURCES:
        summary = json.loads((exp / f"{source}.json").read_text())
        assert summary["trained"] == "joint" and summary["source"] == source
    records = [json.loads(line) for line in (exp / "train.log").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2] and {"rec", "kl_female"} <= set(records[0])
    out = Separator.from_dir(exp).separate(np.zeros(RATE, dtype=np.float32) + 0.01, RATE)
    assert set(out) == set(SOURCES)


def test_joint_training_starts_from_the_weights_independent_training_would(data, tmp_path):
    """Each source's model is built with its own seed: one epoch at learning rate ~0 leaves
    both runs' weights where they started."""
    tiny = [*TINY, "training.epochs=1", "training.learning_rate=1e-30"]
    train(load_config(CONFIGS / "vae.yaml", [*tiny, "training.joint=true"]), data, tmp_path / "j")
    train(load_config(CONFIGS / "vae.yaml", tiny), data, tmp_path / "i")
    for source in SOURCES:
        a, b = (torch.load(tmp_path / d / f"{source}.pt")["state_dict"] for d in ("j", "i"))
        assert all(torch.allclose(a[k], b[k]) for k in a)


def test_an_interrupted_joint_training_resumes_to_the_same_weights(data, tmp_path):
    joint = [*TINY, "training.joint=true", "training.discriminative=0.1"]
    train(load_config(CONFIGS / "vae.yaml", [*joint, "training.epochs=3"]), data, tmp_path / "s")
    train(load_config(CONFIGS / "vae.yaml", [*joint, "training.epochs=1"]), data, tmp_path / "r")
    cfg = load_config(CONFIGS / "vae.yaml", [*joint, "training.epochs=3"])
    train(cfg, data, tmp_path / "r", resume=True)
    for source in SOURCES:
        a, b = (torch.load(tmp_path / d / f"{source}.pt")["state_dict"] for d in ("s", "r"))
        assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["model.type=nmf", "training.joint=true"], "training.joint: model.type nmf cannot"),
        (["model.type=mlae", "training.supervision=class"], "training.supervision: model.type"),
    ],
)
def test_a_model_without_a_training_estimate_cannot_train_jointly(data, tmp_path, overrides, key):
    cfg = load_config(None, [f"features.sample_rate={RATE}", *overrides])
    with pytest.raises(VaesepError, match=key) as caught:
        train(cfg, data, tmp_path / "e")
    assert "vae" in str(caught.value)  # it lists the models that can
    assert not (tmp_path / "e").exists()  # nothing written


def test_joint_training_needs_every_source(data, tmp_path):
    cfg = load_config(CONFIGS / "vae.yaml", [*TINY, "training.joint=true"])
    with pytest.raises(VaesepError, match="drop --sources"):
        train(cfg, data, tmp_path / "e", sources=("female",))


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["training.discriminative=0.1"], "training.discriminative"),
        (["training.joint_direct=1"], "training.joint_direct"),
        (["training.joint=true", "training.joint_direct=-1"], "training.joint_direct"),
        (["training.joint=true", "training.discriminative=1.0"], "training.discriminative"),
        (["training.supervision=class", "training.joint=true"], "training.joint"),
        (["training.supervision=labels"], "training.supervision"),
    ],
)
def test_inconsistent_joint_settings_are_one_line_errors(overrides, key):
    with pytest.raises(VaesepError, match=key):
        load_config(CONFIGS / "vae.yaml", overrides)


def _weak_dir(data: Path, out: Path, fraction: float = 0.5) -> Path:
    prepare_weak(data, out, single_fraction=fraction, seed=0)
    return out


def test_prepare_weak_uses_every_utterance_once_and_writes_no_references(data, tmp_path):
    weak = _weak_dir(data, tmp_path / "w")
    loaded = load_datadir(weak, require_references=False)
    assert not loaded.sources and not (weak / "spk1.scp").exists()
    singles = [u for u, c in loaded.classes.items() if len(c) == 1]
    both = [u for u, c in loaded.classes.items() if len(c) == 2]
    assert len(both) == 4 and len(singles) == 8  # 8 mixtures: 4 kept, 4 split into 2 each
    source = load_datadir(data)
    used = [loaded.mixtures[u] for u in loaded.mixtures]
    assert len(set(used)) == len(used)
    for utt in singles:
        base, cls = utt.rsplit("-", 1)
        assert loaded.classes[utt] == (cls,) and loaded.mixtures[utt] == source.sources[cls][base]
        assert base not in both
    summary = json.loads((weak / "weak.json").read_text())
    assert summary["mixtures"] == 4 and summary["single_class"] == {"female": 4, "male": 4}


def test_prepare_weak_refuses_to_overwrite_and_replaces_only_its_own_dirs(data, tmp_path):
    weak = _weak_dir(data, tmp_path / "w")
    with pytest.raises(VaesepError, match="--force"):
        prepare_weak(data, weak)
    prepare_weak(data, weak, single_fraction=0.0, force=True)
    assert all(len(c) == 2 for c in load_datadir(weak, require_references=False).classes.values())
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(VaesepError, match="not a dir made by"):
        prepare_weak(data, other, force=True)
    assert (other / "notes.txt").read_text() == "keep"
    with pytest.raises(VaesepError, match="--single-fraction"):
        prepare_weak(data, tmp_path / "x", single_fraction=1.5)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("utt000 female robot", "sources among"),
        ("utt000", "sources among"),
        ("nosuch female", "is not in wav.scp"),
    ],
)
def test_a_bad_classes_file_is_a_one_line_error_naming_the_line(data, tmp_path, line, message):
    weak = _weak_dir(data, tmp_path / "w", fraction=0.0)
    (weak / "classes").write_text(line + "\n")
    with pytest.raises(VaesepError, match=message):
        load_datadir(weak, require_references=False)


def test_a_classes_file_missing_mixtures_names_one(data, tmp_path):
    weak = _weak_dir(data, tmp_path / "w", fraction=0.0)
    (weak / "classes").write_text("utt000 female male\n")
    with pytest.raises(VaesepError, match="no classes for 7 mixture"):
        load_datadir(weak, require_references=False)


def test_source_supervision_still_needs_the_references(data, tmp_path):
    weak = _weak_dir(data, tmp_path / "w")
    with pytest.raises(VaesepError, match="spk1.scp: missing"):
        train(load_config(CONFIGS / "vae.yaml", TINY), weak, tmp_path / "e")


def test_weak_dynamic_mixing_adds_new_two_class_mixtures_of_one_class_recordings(data, tmp_path):
    weak = _weak_dir(data, tmp_path / "w")
    cfg = load_config(CONFIGS / "vae.yaml", [*TINY, "training.dynamic_mixing=true"])
    cfg.training.validation_fraction = 0.0
    loaded = load_datadir(weak, require_references=False)
    stfts, classes = read_stfts(loaded, cfg, references=False), loaded.classes
    featurizer = Featurizer(cfg.features)
    train_set, _ = build_segment_sets(stfts, featurizer, cfg.training, 1, classes)
    drawn = train_set.redraw(torch.Generator().manual_seed(0))
    n = len(train_set)
    one_class = int((train_set.present.sum(1) == 1).sum()) // 2  # frames per class
    assert len(drawn) == n + one_class and not drawn.targets
    assert torch.equal(drawn.mixture[:n], train_set.mixture)  # every recording kept
    assert bool((drawn.present[n:] == 1).all())
    again = train_set.redraw(torch.Generator().manual_seed(1))
    assert not torch.equal(again.mixture[n:], drawn.mixture[n:])  # a new pairing each draw


def test_weak_data_where_every_mixture_holds_both_classes_warns(data, tmp_path, caplog):
    cfg = load_config(CONFIGS / "vae.yaml", [*TINY, "training.supervision=class"])
    with caplog.at_level(logging.WARNING, logger="vaesep"):
        train(cfg, data, tmp_path / "e")  # references present but never read
    assert "cannot tell them apart" in caplog.text


def test_weak_class_supervision_learns_to_separate_without_references(tmp_path):
    """From mixtures and one-class recordings only, the combs are told apart."""
    data = make_datadir(tmp_path / "d", n_utts=24, rate=RATE, seed=3)
    weak = _weak_dir(data, tmp_path / "w")
    overrides = [
        f"features.sample_rate={RATE}",
        "training.progress=false",
        "training.num_threads=1",
        "training.epochs=30",
        "training.supervision=class",
        "model.encoder_layers=[64]",
        "model.decoder_layers=[64]",
        "model.latent_dim=8",
    ]
    train(load_config(CONFIGS / "vae.yaml", overrides), weak, tmp_path / "e")
    gains = sdr_gains(Separator.from_dir(tmp_path / "e"), seed=11, seconds=1.0, rate=RATE)
    assert gains.mean() > WEAK_MIN_MEAN_GAIN_DB, gains
