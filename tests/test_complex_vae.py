"""Complex spectrograms and the complex VAE + band-pass of Do et al. [116]: the [Re, Im]
layout, the halves' inputs, rejoining the sources' STFTs, the band-pass, and the errors."""

import numpy as np
import pytest
import torch
from cli_helpers import assert_user_error, run
from synthetic import make_datadir

from vaesep.config import FeatureConfig
from vaesep.features import spectrogram, spectrum_dim, stack_context
from vaesep.models.bandpass import BandpassConfig, band_gains
from vaesep.models.complex_vae import ComplexVAE, ComplexVAEConfig
from vaesep.registry import load_config
from vaesep.separation.spectra import band_of, rejoined

FAST = [
    "--set", "features.sample_rate=8000",
    "--set", "training.epochs=1",
    "--set", "training.progress=false",
]  # fmt: skip


def _stft(frames: int = 7, bins: int = 5, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.complex(
        torch.randn(frames, bins, generator=g), torch.randn(frames, bins, generator=g)
    )


def test_a_complex_spectrogram_is_real_parts_then_imaginary_parts():
    spec = _stft()
    values = spectrogram(spec, "complex")
    assert values.shape == (7, 10)
    assert torch.equal(values[:, :5], spec.real) and torch.equal(values[:, 5:], spec.imag)
    config = FeatureConfig(sample_rate=8000, window_ms=32, overlap_ms=16, spectrogram="complex")
    assert spectrum_dim(config) == 2 * config.num_bins


@pytest.mark.parametrize("context", [0, 2])
def test_each_half_reads_its_part_of_every_context_frame(context):
    spec = _stft()
    x = stack_context(spectrogram(spec, "complex"), context)[None]
    model = ComplexVAE(x.shape[-1], 10, ComplexVAEConfig(latent_dim=3))
    real, imag = model._parts(x)
    assert torch.equal(real[0], stack_context(spec.real, context))
    assert torch.equal(imag[0], stack_context(spec.imag, context))
    assert model(x, x).shape == (1, 7, 10)


def test_rejoined_sources_sum_to_the_mixture_and_the_band_filters_the_first():
    spec = _stft(seed=1)
    estimates = {"speech": spectrogram(_stft(seed=2), "complex"), "noise": torch.zeros(7, 10)}
    parts = rejoined(estimates, spec, None)
    assert torch.allclose(parts.sum(0), spec, atol=1e-6)
    residual = (spec - torch.complex(estimates["speech"][:, :5], estimates["speech"][:, 5:])) / 2
    assert torch.allclose(parts[1], residual, atol=1e-6)
    band = torch.linspace(0, 1, 5)
    filtered = rejoined(estimates, spec, band)
    assert torch.allclose(filtered[0], parts[0] * band, atol=1e-6)
    assert torch.allclose(filtered.sum(0), spec, atol=1e-6)


def test_the_band_pass_passes_its_band_and_stops_the_rest():
    features = FeatureConfig(sample_rate=16000, window_ms=64, overlap_ms=48)
    gain = band_gains(BandpassConfig(low_hz=300, high_hz=3400), features).numpy()
    hz = np.linspace(0, 8000, features.num_bins)
    inside = (hz > 500) & (hz < 3000)
    assert gain[inside].min() > 10 ** (-1.1 / 10)  # within the 1 dB ripple
    assert gain[hz > 6000].max() < 1e-3 and gain[0] < 1e-6
    config = load_config("complex_vae", ["features.sample_rate=8000"])
    assert band_of(config) is not None
    assert band_of(load_config("complex_vae", ["model.bandpass=false"])) is None
    assert band_of(load_config("vae")) is None


@pytest.mark.parametrize(
    ("config", "sets", "needle"),
    [
        ("complex_vae", ["features.spectrogram=magnitude"], "needs complex"),
        ("vae", ["features.spectrogram=complex"], "needs magnitude or power"),
        ("complex_vae", ["features.compression=log"], "features.compression"),
        ("complex_vae", ["model.high_hz=4000"], "Nyquist"),
        ("bandpass", ["model.high_hz=4500"], "Nyquist"),
    ],
)
def test_impossible_settings_are_one_line_errors(tmp_path, config, sets, needle):
    data = make_datadir(tmp_path / "d", n_utts=2, seconds=0.5, rate=8000)
    extra = [a for s in sets for a in ("--set", s)]
    result = run("train", "--config", config, "--data", data, "--exp-dir", tmp_path / "e",
                 *FAST, *extra)  # fmt: skip
    assert_user_error(result, needle)
