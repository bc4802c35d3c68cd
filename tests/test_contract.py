"""The contract every registered model keeps (asteroid-style): trained one epoch on tiny
generated data, loaded back from its experiment dir, it separates a file into finite,
non-negative estimates whose masks sum to one; chunked separation equals the whole-signal one
where the receptive field is finite, and stays within a stated tolerance where it is not;
an interrupted training resumes to the same weights. A new model that breaks it fails CI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from synthetic import make_datadir, make_pair, tiny_training

from vaesep.errors import VaesepError
from vaesep.expdir import load
from vaesep.features import spectrogram
from vaesep.io.audio import load_audio, save_audio, save_channels
from vaesep.models.base import GradientModel
from vaesep.models.vae import VAEConfig
from vaesep.registry import MODELS, SECTIONS, ModelSpec, load_config
from vaesep.separation.demixer import DEMIXERS, Demixer
from vaesep.separation.estimators import ESTIMATORS
from vaesep.separation.loading import load_separator
from vaesep.separation.onnx_runtime import refusal
from vaesep.separation.oracle_separator import OracleSeparator
from vaesep.separation.separator import Separator, soft_masks
from vaesep.separation.spectra import rejoined
from vaesep.training.experiment import FITS, train

RATE = 8000
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY = tiny_training(RATE)
# Chunked against whole separation where the receptive field is unbounded (recurrent models,
# overlap-add with a cross-fade): the SNR of the chunked estimate against the whole one, dB.
UNBOUNDED_MIN_SNR_DB = 20.0


def _config_file(model_type: str) -> Path:
    """The first shipped YAML of a model type (every registered type must have one)."""
    for path in sorted(CONFIGS.glob("*.yaml")):
        if (yaml.safe_load(path.read_text()).get("model") or {}).get("type") == model_type:
            return path
    raise AssertionError(f"no configs/*.yaml has model.type {model_type}")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_datadir(tmp_path_factory.mktemp("contract") / "d", n_utts=6, seconds=1.0)


@pytest.fixture(scope="module")
def mixture() -> tuple[np.ndarray, np.ndarray]:
    return make_pair(np.random.default_rng(42), 2.5, RATE)


def _train(model_type: str, data: Path, exp: Path, *extra: str, resume: bool = False) -> None:
    cfg = load_config(_config_file(model_type), [*TINY, *extra])
    train(cfg, data, exp, resume=resume)


def _snr(reference: np.ndarray, estimate: np.ndarray) -> float:
    noise = np.sum((reference - estimate) ** 2) + 1e-20
    return float(10 * np.log10(np.sum(reference**2) / noise))


@pytest.mark.parametrize("model_type", list(MODELS))
def test_entry_names_a_fit_and_an_estimate_its_stages_have(model_type):
    spec = MODELS[model_type]
    assert spec.fit in FITS
    if spec.multichannel:
        assert spec.estimate in DEMIXERS
    else:
        assert spec.estimate is None or spec.estimate in ESTIMATORS


@pytest.mark.parametrize("model_type", list(MODELS))
def test_model_keeps_the_contract(model_type, data, mixture, tmp_path):
    exp = tmp_path / "exp"
    _train(model_type, data, exp)
    experiment = load(exp, SECTIONS)
    assert experiment.config.model.type == model_type
    spec = MODELS[model_type]
    if spec.module.receptive_field is None and spec.estimate == "per_source":
        assert experiment.config.model.segment_frames > 1  # a sequence model learns sequences
    saved = yaml.safe_load((exp / "config.yaml").read_text())["model"]
    assert set(saved) == set(SECTIONS[model_type].__dataclass_fields__)
    for source in experiment.checkpoints:
        meta = torch.load(exp / f"{source}.pt")
        assert meta["model_type"] == model_type and {"vaesep", "torch", "python"} <= set(
            meta["versions"]
        )
    female, male = mixture
    mix = female + male
    _keeps_the_onnx_contract(exp, spec, mix)
    separator = load_separator(exp)
    if MODELS[model_type].needs_references:
        assert isinstance(separator, OracleSeparator)
        out = separator.separate(mix, RATE, references={"female": female, "male": male})
        assert all(out[s].shape == mix.shape and np.isfinite(out[s]).all() for s in out)
        assert np.allclose(out["female"] + out["male"], mix, atol=1e-4)
        return

    if spec.multichannel:
        _keeps_the_multichannel_contract(separator, female, male, tmp_path)
        return

    # A file in, one file per source out, same length, summing to the mixture.
    save_audio(tmp_path / "mix.wav", mix, RATE)
    outs = {s: tmp_path / f"mix_{s}.wav" for s in separator.sources}
    separator.separate_file(tmp_path / "mix.wav", outs)
    signals = {s: load_audio(p)[0] for s, p in outs.items()}
    assert all(x.shape == mix.shape and np.isfinite(x).all() for x in signals.values())
    assert np.allclose(sum(signals.values()), mix, atol=1e-4)

    # Finite, non-negative estimates whose masks sum to one; complex estimates rejoined into
    # sources' STFTs that sum to the mixture's.
    stft = separator.stft.stft(torch.from_numpy(mix))
    complex_spectra = separator.config.features.spectrogram == "complex"
    spec = spectrogram(stft, "complex" if complex_spectra else "magnitude")
    estimates = separator.estimate_spectrograms(spec)
    for estimate in estimates.values():
        assert estimate.shape == spec.shape and torch.isfinite(estimate).all()
        assert complex_spectra or (estimate >= 0).all()
    if complex_spectra:
        total = rejoined(estimates, stft, separator.band).sum(0)
        assert torch.allclose(total, stft, atol=1e-5)
    else:
        total = sum(soft_masks(estimates).values())
        assert torch.allclose(total, torch.ones_like(total), atol=1e-6)

    # Chunked against whole, as the receptive field declares.
    whole = Separator.from_dir(exp, chunk_seconds=1000).separate(mix, RATE)
    chunked = Separator.from_dir(exp, chunk_seconds=0.6, crossfade_seconds=0.3)
    parts = chunked.separate(mix, RATE)
    chunked.separate_file(tmp_path / "mix.wav", outs)  # streamed in blocks: the same samples
    for source in whole:
        assert np.allclose(load_audio(outs[source])[0], parts[source], atol=1e-6)
        if chunked.receptive_field is None:
            assert _snr(whole[source], parts[source]) > UNBOUNDED_MIN_SNR_DB
        else:
            assert np.allclose(whole[source], parts[source], atol=1e-5)


def _keeps_the_onnx_contract(exp: Path, spec: ModelSpec, mix: np.ndarray) -> None:
    """A per-source network model runs on onnxruntime as on torch (within 1e-4 on the
    separated signals, on another length than the traced example's); any other model says in
    one line that it cannot."""
    if refusal(load(exp, SECTIONS).config, spec, exp.name):
        with pytest.raises(VaesepError, match="cannot be exported to ONNX"):
            load_separator(exp, backend="onnxruntime")
        return
    on_torch = Separator.from_dir(exp).separate(mix, RATE)
    on_ort = Separator.from_dir(exp, backend="onnxruntime").separate(mix, RATE)
    for source, signal in on_torch.items():
        assert np.abs(on_ort[source] - signal).max() <= 1e-4, source


def _keeps_the_multichannel_contract(separator, female, male, tmp_path: Path) -> None:
    """A demixer: a 2-channel file in, one mono file per source out at its length, finite,
    deterministic; a mono file is a one-line error."""
    assert isinstance(separator, Demixer)
    channels = np.stack([female + 0.6 * male, 0.5 * female + male])
    save_channels(tmp_path / "mix.wav", channels, RATE)
    outs = {s: tmp_path / f"mix_{s}.wav" for s in separator.sources}
    separator.separate_file(tmp_path / "mix.wav", outs)
    signals = {s: load_audio(p)[0] for s, p in outs.items()}
    assert all(x.shape == female.shape and np.isfinite(x).all() for x in signals.values())
    again = separator.separate(channels, RATE)
    assert all(np.allclose(again[s], signals[s], atol=1e-6) for s in signals)
    with pytest.raises(VaesepError, match="exactly 2 microphones"):
        separator.separate(female, RATE)


@pytest.mark.parametrize("model_type", [t for t, s in MODELS.items() if s.fit == "gradient"])
def test_interrupted_training_resumes_to_the_same_weights(model_type, data, tmp_path):
    _train(model_type, data, tmp_path / "straight", "training.epochs=2")
    _train(model_type, data, tmp_path / "resumed")
    _train(model_type, data, tmp_path / "resumed", "training.epochs=2", resume=True)
    for source in ("female", "male"):
        a = torch.load(tmp_path / "straight" / f"{source}.pt")["state_dict"]
        b = torch.load(tmp_path / "resumed" / f"{source}.pt")["state_dict"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), source
        last = [torch.load(p / "checkpoints" / f"{source}.last.pt", weights_only=False)["model"]
                for p in (tmp_path / "straight", tmp_path / "resumed")]  # fmt: skip
        assert all(torch.equal(last[0][k], last[1][k]) for k in last[0])


class _TwoOptimizers(GradientModel):
    """A toy model trained by two optimizers in turn (like a GAN's generator and critic)."""

    def __init__(self, input_dim: int, output_dim: int, config: VAEConfig):
        super().__init__()
        self.front = torch.nn.Linear(input_dim, 8)
        self.back = torch.nn.Linear(8, output_dim)

    def forward(self, x: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.back(torch.relu(self.front(x)))) * mixture

    def loss(self, x, target, mixture):
        loss = (self(x, mixture) - target).square().sum(-1).mean()
        return loss, {}

    def optimizers(self, training):
        return {
            "front": torch.optim.Adam(self.front.parameters(), lr=training.learning_rate),
            "back": torch.optim.SGD(self.back.parameters(), lr=0.01, momentum=0.9),
        }

    def training_step(self, batch, optimizers, step):
        name = ("front", "back")[step % 2]
        loss, _ = self.loss(batch.inputs, batch.target, batch.mixture)
        optimizers[name].zero_grad(set_to_none=True)
        loss.backward()
        optimizers[name].step()
        return {"loss": loss.item(), f"{name}_steps": 1.0}


def test_any_number_of_optimizers_resumes_exactly(data, tmp_path, monkeypatch):
    monkeypatch.setitem(MODELS, "vae", ModelSpec(VAEConfig, _TwoOptimizers, "gradient"))
    _train("vae", data, tmp_path / "straight", "training.epochs=3")
    _train("vae", data, tmp_path / "resumed", "training.epochs=2")
    _train("vae", data, tmp_path / "resumed", "training.epochs=3", resume=True)
    for source in ("female", "male"):
        a = torch.load(tmp_path / "straight" / f"{source}.pt")["state_dict"]
        b = torch.load(tmp_path / "resumed" / f"{source}.pt")["state_dict"]
        assert all(torch.equal(a[k], b[k]) for k in a), source
        ckpt = torch.load(tmp_path / "resumed" / "checkpoints" / f"{source}.last.pt",
                          weights_only=False)  # fmt: skip
        assert set(ckpt["optimizers"]) == {"front", "back"}
