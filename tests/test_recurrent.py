"""The recurrent mask models: ``vrnn`` (variational) and ``rnn_mask`` (its ablation)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vaesep.config import config_from_dict, read_yaml
from vaesep.errors import VaesepError
from vaesep.models.rnn_mask import RNNMask, RNNMaskConfig
from vaesep.models.vrnn import VRNN, VRNNConfig, diagonal_gaussian_kl

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
D = F = 12
SMALL = dict(hidden_size=8, input_layers=[10])


def vrnn(**kw) -> VRNN:
    return VRNN(D, F, VRNNConfig(**{**SMALL, "latent_dim": 4, "latent_layers": [9], **kw}))


def rnn_mask(**kw) -> RNNMask:
    return RNNMask(D, F, RNNMaskConfig(**{**SMALL, **kw}))


def data(batch: int = 3, frames: int = 7, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, frames, D, generator=gen)
    mixture = torch.rand(batch, frames, F, generator=gen) + 0.1
    target = mixture * torch.rand(batch, frames, F, generator=gen)
    return x, target, mixture


VARIANTS = [
    dict(),
    dict(cell="gru"),
    dict(bidirectional=False),
    dict(num_layers=2, dropout=0.2, input_layers=[]),
]
MODELS = [vrnn, rnn_mask]


@pytest.mark.parametrize("build", MODELS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_estimate_is_a_mask_of_the_mixture(build, variant):
    torch.manual_seed(0)
    model = build(**variant).eval()
    x, _, mixture = data()
    with torch.no_grad():
        estimate = model(x, mixture)
    assert estimate.shape == mixture.shape
    assert (estimate >= 0).all()
    assert (estimate <= mixture).all()
    assert estimate.sum() > 0


@pytest.mark.parametrize("build", MODELS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_loss_finite_and_gradients_reach_every_parameter(build, variant):
    torch.manual_seed(0)
    model = build(**variant).train()
    loss, components = model.loss(*data())
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert components["rec"] >= 0
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("build", MODELS)
def test_eval_is_deterministic_and_handles_a_long_recording(build):
    torch.manual_seed(0)
    model = build(dropout=0.3).eval()
    x, target, mixture = data(batch=1, frames=600)
    with torch.no_grad():
        first, second = model(x, mixture), model(x, mixture)
        loss_a, _ = model.loss(x, target, mixture)
        loss_b, _ = model.loss(x, target, mixture)
    assert first.shape == (1, 600, F)
    assert torch.equal(first, second)
    assert loss_a.item() == loss_b.item()


def test_vrnn_samples_in_training_and_uses_the_posterior_mean_in_eval():
    torch.manual_seed(0)
    model = vrnn()
    x, target, mixture = data()
    model.train()
    assert model.loss(x, target, mixture)[0] != model.loss(x, target, mixture)[0]
    model.eval()
    with torch.no_grad():
        lat = model.latents(x)
        expected = model.decode(lat.q_mu, lat.context, mixture)
        assert torch.equal(model(x, mixture), expected)


@pytest.mark.parametrize("variant", [dict(num_layers=2), dict(cell="gru", num_layers=2)])
def test_vrnn_prior_does_not_see_its_own_frame(variant):
    torch.manual_seed(0)
    model = vrnn(**variant).eval()
    x, _, _ = data(batch=2, frames=9)
    t = 4
    changed = x.clone()
    changed[:, t] += 3.0
    with torch.no_grad():
        before, after = model.latents(x), model.latents(changed)
    assert torch.equal(before.p_mu[:, t], after.p_mu[:, t])
    assert torch.equal(before.p_logvar[:, t], after.p_logvar[:, t])
    assert torch.equal(before.context[:, t], after.context[:, t])
    # The posterior sees the frame; the neighbours' priors see it through the context.
    assert not torch.allclose(before.q_mu[:, t], after.q_mu[:, t])
    for s in (t - 1, t + 1):
        assert not torch.allclose(before.p_mu[:, s], after.p_mu[:, s])


def test_forward_only_vrnn_prior_is_causal():
    torch.manual_seed(0)
    model = vrnn(bidirectional=False, num_layers=2).eval()
    x, _, _ = data(frames=9)
    changed = x.clone()
    changed[:, 4:] = torch.randn_like(changed[:, 4:])
    with torch.no_grad():
        before, after = model.latents(x), model.latents(changed)
    assert torch.equal(before.p_mu[:, :5], after.p_mu[:, :5])
    assert not torch.allclose(before.p_mu[:, 5:], after.p_mu[:, 5:])


def test_diagonal_gaussian_kl_matches_torch_distributions():
    torch.manual_seed(0)
    mu_q, logvar_q, mu_p, logvar_p = torch.randn(4, 6, 5).unbind(0)
    q = torch.distributions.Normal(mu_q, (0.5 * logvar_q).exp())
    p = torch.distributions.Normal(mu_p, (0.5 * logvar_p).exp())
    expected = torch.distributions.kl_divergence(q, p).sum(-1)
    assert torch.allclose(diagonal_gaussian_kl(mu_q, logvar_q, mu_p, logvar_p), expected, atol=1e-5)
    assert torch.allclose(
        diagonal_gaussian_kl(mu_q, logvar_q, mu_q, logvar_q), torch.zeros(6), atol=1e-6
    )


def test_vrnn_reports_kl_and_training_it_drives_it_to_zero():
    torch.manual_seed(0)
    model = vrnn().train()
    x, target, mixture = data()
    loss, components = model.loss(x, target, mixture)
    start = components["kl"]
    assert start >= 0
    assert loss.item() == pytest.approx(components["rec"] + start, rel=1e-5)
    loss, components = vrnn(beta=0.0).loss(x, target, mixture)
    assert components["kl"] > 0 and loss.item() == pytest.approx(components["rec"], rel=1e-6)

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        kl = diagonal_gaussian_kl(*model.latents(x)[:4]).mean()
        optimizer.zero_grad()
        kl.backward()
        optimizer.step()
    assert 0 <= kl.item() < 0.05 * start


def test_rnn_mask_loss_is_the_reconstruction():
    torch.manual_seed(0)
    model = rnn_mask().eval()
    x, target, mixture = data()
    with torch.no_grad():
        loss, components = model.loss(x, target, mixture)
        expected = (model(x, mixture) - target).square().sum(-1).mean()
    assert set(components) == {"rec"}
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("section", [VRNNConfig, RNNMaskConfig])
def test_segment_frames_is_a_field(section):
    assert section().segment_frames == 64
    assert section(segment_frames=32).segment_frames == 32


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        (VRNNConfig, "hidden_size", 0),
        (VRNNConfig, "num_layers", 0),
        (VRNNConfig, "input_layers", [64, 0]),
        (VRNNConfig, "dropout", 1.0),
        (VRNNConfig, "segment_frames", 1),
        (VRNNConfig, "latent_dim", 0),
        (VRNNConfig, "latent_layers", [-1]),
        (VRNNConfig, "beta", -0.5),
        (RNNMaskConfig, "hidden_size", -3),
        (RNNMaskConfig, "dropout", -0.1),
        (RNNMaskConfig, "segment_frames", 0),
    ],
)
def test_validate_names_the_key(section, key, value):
    section().validate()
    with pytest.raises(VaesepError, match=f"model.{key}:"):
        section(**{key: value}).validate()


@pytest.mark.parametrize(("name", "section"), [("vrnn", VRNNConfig), ("rnn_mask", RNNMaskConfig)])
def test_shipped_config_loads(name, section):
    sections = {"vrnn": VRNNConfig, "rnn_mask": RNNMaskConfig}
    config = config_from_dict(read_yaml(CONFIGS / f"{name}.yaml"), sections)
    assert type(config.model) is section
    assert config.features.num_bins == 257 and config.features.hop_length == 256
    assert config.training.dynamic_mixing
