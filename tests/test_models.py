import pytest
import torch

from vaesep.models.divergences import cauchy_schwarz, euclidean
from vaesep.models.itl_ae import ITLAEConfig, sample_prior
from vaesep.models.vae import VAEConfig, gaussian_kl
from vaesep.registry import MODELS, build_model

SECTION = {"vae": VAEConfig, "beta_vae": VAEConfig, "itl_ae": ITLAEConfig}


def test_kl_matches_torch_distributions():
    torch.manual_seed(0)
    mu, logvar = torch.randn(7, 5), torch.randn(7, 5)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(5), torch.ones(5))
    expected = torch.distributions.kl_divergence(q, p).sum(1)
    assert torch.allclose(gaussian_kl(mu, logvar), expected, atol=1e-5)


@pytest.mark.parametrize("divergence", [cauchy_schwarz, euclidean])
@pytest.mark.parametrize("dim", [2, 64])
def test_divergence_zero_for_identical_and_grows_with_shift(divergence, dim):
    torch.manual_seed(0)
    sigma = 1.0 if dim == 2 else 4.0
    a = torch.randn(200, dim)
    same = divergence(a, a.clone(), sigma)
    assert same.item() == pytest.approx(0.0, abs=1e-5)
    b = torch.randn(200, dim)
    near = divergence(a, b, sigma)
    far = divergence(a, b + 1.5, sigma)
    farther = divergence(a, b + 3.0, sigma)
    assert near.item() >= 0
    assert near < far < farther


def test_cs_divergence_finite_in_high_dimension():
    torch.manual_seed(0)
    a, b = torch.randn(64, 256), torch.randn(64, 256) + 5
    value = cauchy_schwarz(a, b, 1.0)
    assert torch.isfinite(value) and value > 0


def test_priors_have_unit_variance():
    torch.manual_seed(0)
    like = torch.zeros(1)
    for kind in ("gaussian", "laplace"):
        s = sample_prior(kind, 20000, 4, like)
        assert torch.allclose(s.var(0), torch.ones(4), atol=0.08), kind
        assert torch.isfinite(s).all()
    lap = sample_prior("laplace", 20000, 1, like)
    assert (lap.abs().mean() - 1 / 2**0.5).abs() < 0.03  # E|x| = b for Laplace(0, b)


@pytest.mark.parametrize(
    "overrides",
    [
        {"type": "vae"},
        {"type": "beta_vae", "beta": 4.0},
        {"type": "itl_ae", "divergence": "cs", "kernel_sigma": 2.0},
        {"type": "itl_ae", "divergence": "euclidean", "prior": "laplace", "kernel_sigma": 2.0},
    ],
)
def test_model_loss_decreases_and_output_is_non_negative(overrides):
    torch.manual_seed(0)
    section = SECTION[overrides["type"]]
    cfg = section(encoder_layers=[64, 32], decoder_layers=[32, 64], latent_dim=8, **overrides)
    model = build_model(cfg, 20, 12)
    x = torch.randn(256, 1, 20)  # segments of one frame, as the trainer hands them
    target = torch.relu(x[..., :12] * 0.8 + 0.2)
    mixture = torch.ones_like(target)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    first = model.loss(x, target, mixture)[0].item()
    for _ in range(300):
        loss, parts = model.loss(x, target, mixture)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.7 * first
    assert set(parts) in ({"rec", "kl"}, {"rec", "div"})
    out = model(x, mixture)
    assert out.shape == (256, 1, 12) and (out >= 0).all()


def test_registry_lists_the_study_models():
    assert {"vae", "beta_vae", "itl_ae"} <= set(MODELS)


@pytest.mark.parametrize("model_type", ["vae", "itl_ae"])
def test_mask_estimate_is_a_mask_of_the_mixture_and_learns_it(model_type):
    torch.manual_seed(0)
    cfg = SECTION[model_type](
        type=model_type, encoder_layers=[64], decoder_layers=[64], latent_dim=8, estimate="mask"
    )
    model = build_model(cfg, 12, 12)
    mixture = torch.rand(256, 12) * 3
    true_mask = (torch.arange(12) < 6).float().expand(256, 12)  # the low bins are the source's
    x, target = torch.log1p(mixture), true_mask * mixture
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    first = model.loss(x, target, mixture)[0].item()
    for _ in range(300):
        loss, _ = model.loss(x, target, mixture)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first
    out = model(x, mixture)
    assert (out >= 0).all() and (out <= mixture).all()
    assert torch.allclose(out, target, atol=0.3)
