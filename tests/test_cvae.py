"""The conditional VAE of MVAE / FastMVAE (vaesep.models.cvae) and its training."""

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from synthetic import make_datadir

from vaesep.config import load_config
from vaesep.errors import VaesepError
from vaesep.expdir import ExpDir
from vaesep.models.cvae import CVAE, LOG_FLOOR, CVAEConfig, LabelledBatch
from vaesep.training.conditional import fit_conditional, labelled_batch
from vaesep.training.fitting import FitRun
from vaesep.training.segments import SegmentSet

SECTIONS = {"mvae": CVAEConfig, "fast_mvae": CVAEConfig}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _config(*overrides: str, kind: str = "mvae"):
    return load_config(None, [f"model.type={kind}", *overrides], SECTIONS)


def _small(**keys) -> CVAEConfig:
    return CVAEConfig(**{"hidden": 16, "latent_dim": 4, "kernel": 3, **keys})


@pytest.mark.parametrize("frames", [1, 3, 64])
def test_shapes_for_any_length_and_the_label_conditions_every_output(frames):
    torch.manual_seed(0)
    model = CVAE(33, 33, _small(kernel=5)).eval()
    power = torch.rand(2, frames, 33)
    female, male = torch.tensor([[1.0, 0.0]] * 2), torch.tensor([[0.0, 1.0]] * 2)
    mu, logvar = model.encode(power, female)
    assert mu.shape == logvar.shape == (2, frames, 4)
    assert not torch.allclose(mu, model.encode(power, male)[0])
    log_var = model.decode(mu, female)
    assert log_var.shape == (2, frames, 33)
    # The label is tiled over every frame: each frame's output changes with it.
    changed = (log_var - model.decode(mu, male)).abs().amax(dim=-1)
    assert bool((changed > 0).all())
    assert model.classify(power).shape == (2, 2)
    assert model.normalize(power).shape == power.shape


def test_normalize_is_scale_free_and_floored():
    power = torch.rand(3, 5, 9)
    assert torch.allclose(CVAE.normalize(power), CVAE.normalize(1e6 * power), atol=1e-5)
    silent = CVAE.normalize(torch.zeros(1, 4, 9))
    assert torch.isfinite(silent).all()


def test_loss_equals_the_hand_computation():
    torch.manual_seed(1)
    model = CVAE(9, 9, _small(beta=0.5, classifier_weight=2.0)).eval()
    batch = LabelledBatch(torch.rand(3, 7, 9) * 4, torch.tensor([0, 1, 1]))
    loss, parts = model.batch_loss(batch)
    p = batch.power / batch.power.mean(dim=(1, 2), keepdim=True)
    onehot = F.one_hot(batch.labels, 2).float()
    mu, logvar = model.encode(batch.power, onehot)
    s2 = model.decode(mu, onehot)  # eval mode: z = mu
    nll = (s2 + (p + LOG_FLOOR) / s2.exp()).mean()
    kl = (0.5 * (mu**2 + logvar.exp() - 1 - logvar)).sum(-1).mean() / 9
    logits = model.classify(batch.power)
    ce = -torch.log_softmax(logits, -1)[torch.arange(3), batch.labels].mean()
    assert parts["nll"] == pytest.approx(nll.item(), rel=1e-5)
    assert parts["kl"] == pytest.approx(kl.item(), rel=1e-5)
    assert parts["ce"] == pytest.approx(ce.item(), rel=1e-5)
    assert loss.item() == pytest.approx((nll + 0.5 * kl + 2.0 * ce).item(), rel=1e-5)
    assert parts["loss"] == pytest.approx(loss.item())
    # All weights zero: sigma^2 = 1, q = N(0, I), uniform logits (eval-mode batch norm).
    with torch.no_grad():
        for w in model.parameters():
            w.zero_()
    loss, parts = model.batch_loss(batch)
    assert parts["nll"] == pytest.approx(1.0 + LOG_FLOOR, rel=1e-6) and parts["kl"] == 0.0
    assert loss.item() == pytest.approx(1.0 + LOG_FLOOR + 2.0 * math.log(2), rel=1e-6)
    # Training mode samples z: the loss differs from eval mode's.
    torch.manual_seed(1)
    model = CVAE(9, 9, _small()).train()
    assert model.batch_loss(batch)[0].item() != model.eval().batch_loss(batch)[0].item()


def _combs(n: int, spacing: int, bins: int, frames: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` harmonic-comb power spectrograms: peaks every ``spacing`` bins (jittered offset)."""
    f = torch.arange(bins, dtype=torch.float32)
    out = []
    for _ in range(n):
        offset = float(torch.randint(0, spacing, (1,), generator=gen))
        comb = torch.exp(-(((f - offset) % spacing).clamp_max(spacing / 2) ** 2))
        envelope = 0.2 + torch.rand(frames, 1, generator=gen)
        noise = 0.05 * torch.rand(frames, bins, generator=gen)
        out.append(envelope * (comb + noise))
    return torch.stack(out)


def test_training_learns_the_classes_and_the_spectra():
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    power = torch.cat([_combs(16, 8, 33, 12, gen), _combs(16, 3, 33, 12, gen)])
    batch = LabelledBatch(power, torch.tensor([0] * 16 + [1] * 16))
    model = CVAE(33, 33, _small())
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = model.eval().batch_loss(batch)[1]
    model.train()
    for _ in range(150):
        loss, _ = model.batch_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    last = model.eval().batch_loss(batch)[1]
    assert last["accuracy"] == 1.0 and last["ce"] < 0.05
    assert last["nll"] < first["nll"] - 0.5  # 1.02 -> 0.23 here


@pytest.mark.parametrize(
    "override",
    [
        "model.kernel=4",
        "model.hidden=0",
        "model.layers=0",
        "model.latent_dim=0",
        "model.beta=-1",
        "model.classifier_weight=-0.5",
        "model.segment_frames=0",
        "model.ilrma_iterations=-1",
        "model.iterations=0",
        "model.latent_steps=0",
        "model.latent_lr=0",
        "model.reference_mic=-1",
    ],
)
def test_validate_names_the_bad_key_in_one_line(override):
    with pytest.raises(VaesepError) as info:
        _config(override)
    message = str(info.value)
    assert override.split("=")[0] in message and "\n" not in message


def test_the_shipped_config_loads():
    config = load_config(Path(__file__).parents[1] / "configs" / "mvae.yaml", [], SECTIONS)
    f = config.features
    assert (f.n_fft, f.hop_length, f.num_bins, f.spectrogram) == (1024, 256, 513, "power")
    assert config.model == CVAEConfig()


def test_fast_mvae_needs_its_classifier():
    assert _config("model.classifier_weight=0").model.classifier_weight == 0
    with pytest.raises(VaesepError, match="model.classifier_weight"):
        _config("model.classifier_weight=0", kind="fast_mvae")
    assert _config(kind="fast_mvae").model.type == "fast_mvae"


def test_forward_refuses():
    model = CVAE(9, 9, _small())
    with pytest.raises(VaesepError, match="multichannel"):
        model(torch.rand(1, 4, 9), torch.rand(1, 4, 9))


def test_labelled_batch_squares_magnitudes_and_drops_silence():
    mag = {"female": torch.rand(3, 4, 5) + 0.1, "male": torch.rand(3, 4, 5) + 0.1}
    mag["male"][1] = 0.0
    segments = SegmentSet(torch.zeros(3, 4, 5), mag, torch.zeros(3, 4, 5))
    batch = labelled_batch(segments, _config("features.spectrogram=magnitude").features)
    assert batch.labels.tolist() == [0, 0, 0, 1, 1]
    assert torch.equal(batch.power[:3], mag["female"].square())
    assert torch.equal(batch.power[4], mag["male"][2].square())
    power = labelled_batch(segments, _config("features.spectrogram=power").features)
    assert torch.equal(power.power[:3], mag["female"])


def _fit(data, exp_dir, *overrides, resume=False):
    config = _config(
        "features.sample_rate=8000",
        "features.window_ms=32",
        "features.overlap_ms=16",
        "features.spectrogram=power",
        "features.normalization=none",
        "model.hidden=16",
        "model.latent_dim=4",
        "model.segment_frames=16",
        "training.batch_size=4",
        "training.early_stopping_patience=0",
        "training.progress=false",
        *overrides,
    )
    exp_dir.mkdir(exist_ok=True)
    run = FitRun(
        config,
        data,
        ExpDir(exp_dir),
        torch.device("cpu"),
        resume,
        ("female", "male"),
        lambda i, o: CVAE(i, o, config.model),
    )
    return fit_conditional(run)


def test_fit_conditional_writes_one_shared_model_and_resumes_exactly(tmp_path):
    data = make_datadir(tmp_path / "d", n_utts=4, seconds=0.5, rate=8000)
    summaries = _fit(data, tmp_path / "straight", "training.epochs=3")
    assert summaries["female"]["epochs_run"] == 3 and summaries["male"]["label"] == 1
    straight = tmp_path / "straight"
    female = torch.load(straight / "female.pt")["state_dict"]
    male = torch.load(straight / "male.pt")["state_dict"]
    assert female.keys() == male.keys() and all(torch.equal(female[k], male[k]) for k in female)
    assert json.loads((straight / "male.json").read_text())["label"] == 1
    records = [json.loads(line) for line in (straight / "train.log").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3] and records[0]["source"] == "cvae"
    assert {"nll", "kl", "ce", "accuracy"} <= set(records[0])
    assert (straight / "checkpoints" / "cvae.last.pt").is_file()

    _fit(data, tmp_path / "resumed", "training.epochs=2")
    _fit(data, tmp_path / "resumed", "training.epochs=3", resume=True)
    final = {
        name: torch.load(tmp_path / name / "checkpoints" / "cvae.last.pt")["model"]
        for name in ("straight", "resumed")
    }
    assert all(torch.equal(final["straight"][k], final["resumed"][k]) for k in final["straight"])
    resumed = torch.load(tmp_path / "resumed" / "female.pt")["state_dict"]
    assert all(torch.equal(female[k], resumed[k]) for k in female)


def test_fit_conditional_refuses_joint_training(tmp_path):
    with pytest.raises(VaesepError, match="training.joint"):
        _fit(tmp_path, tmp_path / "exp", "training.joint=true")
