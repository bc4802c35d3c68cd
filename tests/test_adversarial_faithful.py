"""The keys that reproduce the authors' adversarial priors (Subakan & Smaragdis, ICASSP 2018)
where ours differ: a fixed noise bank, the critic's input gain and Gaussian initial inputs.
Their defaults must leave the published behaviour as it was."""

from __future__ import annotations

import pytest
import torch

from vaesep.errors import VaesepError
from vaesep.models.adversarial import AdversarialConfig
from vaesep.models.base import Batch
from vaesep.registry import MODELS

F = 12
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def prior(model_type: str = "wgan", seed: int = 0, **kw):
    spec = MODELS[model_type]
    small = dict(hidden=8, latent_dim=4, critic_hidden=6, inference_steps=5)
    torch.manual_seed(seed)
    return spec.module(F, F, spec.section(type=model_type, **{**small, **kw}))


def test_defaults_are_the_published_behaviour():
    c = AdversarialConfig()
    assert (c.noise_bank, c.critic_input_gain, c.initial_code) == (0, 1.0, "projection")
    assert "noise" not in prior().state_dict()


def test_noise_bank_is_drawn_once_saved_and_the_only_noise_trained_on():
    model = prior(noise_bank=3)
    bank = model.state_dict()["noise"]
    assert bank.shape == (3, 4)
    fake = model._fake(torch.rand(50, F))
    allowed = model.generator(bank)
    assert all(torch.isclose(f, allowed).all(-1).any() for f in fake)
    reloaded = prior(seed=1, noise_bank=3)
    reloaded.load_state_dict(model.state_dict())
    assert torch.equal(reloaded.noise, bank)


def test_frame_readers_keep_no_noise_bank():
    assert "noise" not in prior("ae_wgan", noise_bank=3).state_dict()


@pytest.mark.parametrize("model_type", ["gan", "wgan"])
def test_critic_input_gain_scales_every_frame_the_critic_reads(model_type):
    plain, gained = prior(model_type), prior(model_type, critic_input_gain=7.0)
    frames = torch.rand(5, F)
    assert torch.allclose(gained.realness(frames), plain.realness(7.0 * frames))
    assert torch.allclose(
        gained._critic_loss(frames, frames / 2), plain._critic_loss(7 * frames, 3.5 * frames)
    )


def test_gaussian_initial_code_is_seeded_standard_normal_of_the_code_size():
    model = prior(initial_code="gaussian")
    share = torch.rand(2, 400, F)
    a = model.initial_code(share, torch.Generator().manual_seed(0))
    b = model.initial_code(share, torch.Generator().manual_seed(0))
    assert a.shape == (2, 400, 4) and torch.equal(a, b)
    assert abs(float(a.mean())) < 0.1 and abs(float(a.std()) - 1) < 0.1
    # a frame reader still starts from the share itself
    reader = prior("ae_wgan", initial_code="gaussian")
    assert torch.equal(reader.initial_code(share, torch.Generator()), share)


@pytest.mark.parametrize("model_type", ["gan", "wgan"])
def test_a_training_step_runs_with_all_three_keys(model_type):
    model = prior(model_type, noise_bank=16, critic_input_gain=7.0, initial_code="gaussian")
    optimizers = {
        "generator": torch.optim.RMSprop(model.generator.parameters(), lr=1e-3),
        "critic": torch.optim.RMSprop(model.critic.parameters(), lr=1e-3),
    }
    target = torch.rand(8, 1, F)
    before = [p.clone() for p in model.generator.parameters()]
    out = model.training_step(Batch(target, target, target), optimizers, 0)
    assert set(out) == {"loss", "critic"}
    assert any(not torch.equal(a, b) for a, b in zip(before, model.generator.parameters()))


@pytest.mark.parametrize(
    ("key", "value"),
    [("noise_bank", -1), ("critic_input_gain", 0.0), ("initial_code", "uniform")],
)
def test_bad_values_name_the_key(key, value):
    with pytest.raises(VaesepError, match=f"model.{key}"):
        AdversarialConfig(**{key: value}).validate()
