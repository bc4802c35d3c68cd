"""The convolutional models: ``class_vae`` (a β-VAE per class over segments, separated by
sliding windows) and ``cdae`` (a fully convolutional denoising autoencoder): shapes, exact
receptive fields (what chunked separation relies on), short recordings, config validation, the
KL penalty, and short trainings through :func:`vaesep.training.experiment.train` on generated
combs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic import make_datadir, make_pair, sdr_gains

from vaesep.config import config_from_dict, read_yaml
from vaesep.errors import VaesepError
from vaesep.features import FeatureStats, spectrogram
from vaesep.models import class_vae
from vaesep.models.cdae import CDAE, CDAEConfig
from vaesep.models.class_vae import ClassVAE, ClassVAEConfig
from vaesep.models.vae import gaussian_kl
from vaesep.registry import SECTIONS, load_config
from vaesep.separation.separator import Separator
from vaesep.training.experiment import train

RATE = 8000
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
D = F = 20
SMALL_VAE = dict(encoder_layers=[16, 12, 8], decoder_layers=[8, 12, 16], latent_dim=6)
TINY = [
    f"features.sample_rate={RATE}",
    "training.progress=false",
    "training.num_threads=1",
    "training.parallel_sources=false",
    "training.early_stopping_patience=0",
]
# SDR gain over the mixture of the models trained below on new comb pairs, dB (measured:
# class_vae mean 5.4, lowest 3.8; cdae mean 6.4, lowest 3.6); the thresholds leave a margin.
MIN_MEAN_GAIN_DB = 3.0
MIN_GAIN_DB = 1.0


def vae(**kw) -> ClassVAE:
    return ClassVAE(D, F, ClassVAEConfig(**{**SMALL_VAE, "segment_frames": 8, **kw}))


def cdae(**kw) -> CDAE:
    return CDAE(D, F, CDAEConfig(**{"encoder_layers": [4], "latent_dim": 6, **kw}))


def data(batch: int = 2, frames: int = 8, seed: int = 0, dim: int = D, bins: int = F):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, frames, dim, generator=gen)
    mixture = torch.rand(batch, frames, bins, generator=gen) + 0.1
    target = mixture * torch.rand(batch, frames, bins, generator=gen)
    return x, target, mixture


def trained_stats(model: torch.nn.Module, bins: int = F) -> torch.nn.Module:
    """The model in eval mode after a few training forwards (non-trivial batch-norm stats)."""
    model.train()
    frames = model.config.segment_frames
    with torch.no_grad():
        for seed in range(3):
            x, _, mixture = data(batch=4, frames=frames, seed=seed, dim=bins, bins=bins)
            model.estimate_for_training(x, mixture)
    return model.eval()


BUILDS = {"class_vae": vae, "cdae": cdae}
CLASSES = {"class_vae": ClassVAE, "cdae": CDAE}
VARIANTS = [dict(), dict(estimate="mask"), dict(dropout=0.2, activation="elu")]


@pytest.mark.parametrize("name", BUILDS)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("frames", [8, 3, 50])
def test_estimates_are_non_negative_and_as_long_as_the_input(name, variant, frames):
    torch.manual_seed(0)
    model = trained_stats(BUILDS[name](**variant))
    x, _, mixture = data(frames=frames)
    with torch.no_grad():
        estimate = model(x, mixture)
        again = model(x, mixture)
    assert estimate.shape == mixture.shape
    assert torch.isfinite(estimate).all() and (estimate >= 0).all() and estimate.sum() > 0
    assert torch.equal(estimate, again)  # eval: z = mu, no dropout
    if variant.get("estimate") == "mask":
        assert (estimate <= mixture).all()


@pytest.mark.parametrize("name", BUILDS)
def test_training_estimate_has_gradients_everywhere(name):
    torch.manual_seed(0)
    model = BUILDS[name]().train()
    loss, components = model.loss(*data(batch=3))
    assert torch.isfinite(loss) and set(components) == (
        {"rec", "kl"} if name == "class_vae" else {"rec"}
    )
    loss.backward()
    for key, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, key


def _field_and_shift(model: torch.nn.Module, field: int, frames: int = 90) -> None:
    """Output frame t depends on exactly the frames t ± field, the same way wherever it is at
    least ``field`` frames from the ends: a crop with ``field`` frames of context reproduces
    the long input's estimate (what chunked separation relies on)."""
    x, _, mixture = data(batch=1, frames=frames, seed=3)
    with torch.no_grad():
        whole = model(x, mixture)
        for lo, hi in [(20, 40), (31, 32), (45, 70)]:
            crop = slice(lo - field, hi + field)
            part = model(x[:, crop], mixture[:, crop])[:, field:-field]
            assert torch.allclose(part, whole[:, lo:hi], rtol=1e-5, atol=1e-6), (lo, hi)
        t = 45
        for distance, changes in [(field, True), (field + 1, False)]:
            for side in (-1, 1):
                moved = x.clone()
                moved[:, t + side * distance] += 5.0
                after = model(moved, mixture)[:, t]
                assert (not torch.equal(after, whole[:, t])) == changes, distance


@pytest.mark.parametrize("segment_frames", [8, 16])
def test_class_vae_slides_with_a_receptive_field_of_one_segment(segment_frames):
    torch.manual_seed(0)
    model = trained_stats(vae(segment_frames=segment_frames, estimate="mask"))
    _field_and_shift(model, segment_frames - 1)
    assert model.receptive_field == segment_frames - 1


@pytest.mark.parametrize("variant", [dict(), dict(kernel=[5, 3], frequency_stride=1)])
def test_cdae_receptive_field_is_the_stacks_exact_half_width(variant):
    torch.manual_seed(0)
    model = cdae(**variant).eval()
    field = model.config.time_field
    assert field == model.config.layers * (model.config.kernel[0] // 2)
    assert model.receptive_field == field
    _field_and_shift(model, field)


def test_class_vae_is_the_mean_over_the_windows_inside_the_recording():
    torch.manual_seed(0)
    model = trained_stats(vae(segment_frames=8))
    x, _, mixture = data(batch=1, frames=11)
    with torch.no_grad():
        whole = model(x, mixture)
        windows = [model(x[:, s : s + 8], mixture[:, s : s + 8]) for s in range(4)]
        direct = model.decode(model.encode(model.frame_layer(x[:, :8].transpose(1, 2)))[0])
    assert torch.allclose(windows[0], direct.transpose(1, 2), atol=1e-6)  # one window
    for t in (0, 5, 10):
        inside = [w[0, t - s] for s, w in enumerate(windows) if s <= t < s + 8]
        assert torch.allclose(whole[0, t], torch.stack(inside).mean(0), atol=1e-6)


def test_class_vae_pads_a_short_recording_with_its_last_frame(monkeypatch):
    torch.manual_seed(0)
    model = trained_stats(vae(segment_frames=8))
    x, _, mixture = data(batch=1, frames=5)
    padded = torch.cat([x, x[:, -1:].expand(-1, 3, -1)], dim=1)
    with torch.no_grad():
        short = model(x, mixture)
        full = model(padded, torch.cat([mixture, mixture[:, :3]], dim=1))
    assert torch.allclose(short, full[:, :5], atol=1e-6)
    monkeypatch.setattr(class_vae, "WINDOW_BATCH", 3)  # windows in several batches: the same
    x, _, mixture = data(batch=2, frames=30)
    with torch.no_grad():
        batched = model(x, mixture)
        monkeypatch.setattr(class_vae, "WINDOW_BATCH", 512)
        assert torch.allclose(batched, model(x, mixture), atol=1e-6)


def test_class_vae_trains_on_whole_segments_only():
    with pytest.raises(ValueError, match="segments of 8 frames"):
        vae().estimate_for_training(*data(frames=9)[::2])


def test_kl_penalty_is_per_frame_of_the_segment_and_weighted_by_beta():
    torch.manual_seed(0)
    model = vae(beta=10.0, epsilon_std=0.0).train()
    x, target, mixture = data(batch=3)
    torch.manual_seed(1)
    estimate, penalties = model.estimate_for_training(x, mixture)
    kl, weight = penalties["kl"]
    mu, logvar = model.encode(model.frame_layer(x.transpose(1, 2)))
    assert weight == 10.0
    assert torch.allclose(kl, gaussian_kl(mu, logvar).mean() / 8)
    loss, components = model.loss(x, target, mixture)
    assert loss.item() == pytest.approx(components["rec"] + 10.0 * components["kl"], rel=1e-5)
    rec = (estimate - target * torch.log(estimate)).sum(-1).mean()  # poisson by default
    assert components["rec"] == pytest.approx(rec.item(), rel=1e-4)


def test_cdae_reads_context_frames_as_channels():
    torch.manual_seed(0)
    model = CDAE(3 * F, F, CDAEConfig(encoder_layers=[4], latent_dim=6)).eval()
    x, _, mixture = data(frames=10, dim=3 * F)
    assert model.in_channels == 3 and model(x, mixture).shape == mixture.shape
    with pytest.raises(ValueError, match="multiple of 20 bins"):
        CDAE(3 * F + 1, F, CDAEConfig())


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        (ClassVAEConfig, "encoder_layers", []),
        (ClassVAEConfig, "decoder_layers", [64, 128]),
        (ClassVAEConfig, "kernel_size", 1),
        (ClassVAEConfig, "segment_frames", 1),
        (ClassVAEConfig, "segment_frames", 30),  # not a multiple of 2^2
        (ClassVAEConfig, "segment_frames", 4),  # 1 frame left after two strides
        (ClassVAEConfig, "epsilon_std", -1.0),
        (ClassVAEConfig, "beta", -0.1),
        (ClassVAEConfig, "mask_power", 0.0),
        (CDAEConfig, "kernel", [4, 3]),
        (CDAEConfig, "kernel", [3]),
        (CDAEConfig, "decoder_layers", [8]),
        (CDAEConfig, "frequency_stride", 3),
        (CDAEConfig, "segment_frames", 0),
        (CDAEConfig, "latent_dim", 0),
    ],
)
def test_validate_names_the_key(section, key, value):
    section().validate()
    with pytest.raises(VaesepError, match=f"model.{key}:"):
        section(**{key: value}).validate()


def test_the_default_class_fields_are_the_default_configs():
    assert ClassVAE.receptive_field == ClassVAEConfig().segment_frames - 1
    assert CDAE.receptive_field == CDAEConfig().time_field


@pytest.mark.parametrize("name", ["class_vae", "class_vae_weak", "cdae"])
def test_shipped_config_loads(name):
    config = config_from_dict(read_yaml(CONFIGS / f"{name}.yaml"), SECTIONS)
    assert config.model.type == name.removesuffix("_weak")
    assert config.features.num_bins == 257 and config.features.hop_length == 256
    if name.startswith("class_vae"):
        model = config.model
        assert (model.segment_frames, model.latent_dim, model.beta) == (32, 128, 10.0)
        assert model.reconstruction == "poisson" and model.mask_power == 2.0
        assert config.training.batch_size == 100 and config.training.learning_rate == 1e-3
        assert config.training.supervision == ("class" if "weak" in name else "source")


@pytest.mark.parametrize("name", BUILDS)
def test_chunked_separation_equals_the_whole(name):
    """Separator-level: a 4 s mixture separated in 1 s chunks (with the class's receptive
    field as context) gives the samples of the unchunked separation."""
    torch.manual_seed(0)
    cfg = load_config(CONFIGS / f"{name}.yaml", [f"features.sample_rate={RATE}"])
    bins = cfg.features.num_bins
    section = {"class_vae": dict(SMALL_VAE, segment_frames=8), "cdae": {}}[name]
    section = type(cfg.model)(**section)
    models = {s: trained_stats(CLASSES[name](bins, bins, section), bins) for s in ("f", "m")}
    cfg.model = section
    stats = FeatureStats(np.zeros(bins, np.float32), np.ones(bins, np.float32), 0.05)
    female, male = make_pair(np.random.default_rng(1), 4.0, RATE)
    whole = Separator(cfg, stats, models, chunk_seconds=1000).separate(female + male, RATE)
    chunked = Separator(cfg, stats, models, chunk_seconds=1.0)
    spec = spectrogram(chunked.stft.stft(torch.from_numpy(female + male)), "magnitude")
    assert chunked.estimate_spectrograms(spec)["f"].shape == spec.shape
    chunks = list(chunked.separate_blocks([torch.from_numpy(female + male)]))
    assert len(chunks) > 1  # really chunked
    parts = chunked.separate(female + male, RATE)
    for source in whole:
        assert np.allclose(whole[source], parts[source], atol=1e-5)


@pytest.fixture(scope="module")
def combs(tmp_path_factory) -> Path:
    return make_datadir(tmp_path_factory.mktemp("conv") / "d", n_utts=4, seconds=1.0)


TRAIN = {
    "class_vae": ["model.segment_frames=16", "model.encoder_layers=[64, 32, 16]"]
    + ["model.decoder_layers=[16, 32, 64]", "model.latent_dim=32", "training.epochs=40"]
    + ["training.batch_size=8", "training.learning_rate=0.003"],
    "cdae": ["model.segment_frames=16", "model.reconstruction=poisson", "training.epochs=40"]
    + ["training.batch_size=4", "training.learning_rate=0.01"],
}


@pytest.mark.parametrize("name", BUILDS)
def test_training_lowers_the_loss_and_separates_the_combs(name, combs, tmp_path):
    exp = tmp_path / name
    train(load_config(CONFIGS / f"{name}.yaml", [*TINY, *TRAIN[name]]), combs, exp)
    log = [json.loads(line) for line in (exp / "train.log").read_text().splitlines()]
    for source in ("female", "male"):
        losses = [r["val_loss"] for r in log if r["source"] == source]
        assert min(losses[-5:]) < 0.8 * losses[0], losses
    gains = sdr_gains(Separator.from_dir(exp), seed=7, seconds=1.0, rate=RATE, pairs=2)
    assert gains.mean() > MIN_MEAN_GAIN_DB and gains.min() > MIN_GAIN_DB, gains
