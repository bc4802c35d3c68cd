import numpy as np
import pytest
import torch

from vaesep.config import FeatureConfig
from vaesep.features import FeatureStats, Featurizer, Stft, spectrogram, stack_context


@pytest.mark.parametrize(("window_ms", "overlap_ms"), [(64, 16), (32, 8), (16, 8), (16, 4), (8, 2)])
def test_stft_round_trip_is_perfect(window_ms, overlap_ms):
    cfg = FeatureConfig(sample_rate=16000, window_ms=window_ms, overlap_ms=overlap_ms)
    stft = Stft(cfg)
    signal = torch.from_numpy(np.random.default_rng(0).standard_normal(16000 + 37).astype("f4"))
    spec = stft.stft(signal)
    assert spec.shape[1] == cfg.num_bins
    back = stft.istft(spec, len(signal))
    assert torch.allclose(back, signal, atol=1e-5)


def test_hop_is_window_minus_overlap():
    cfg = FeatureConfig(sample_rate=16000, window_ms=16, overlap_ms=4)
    assert cfg.win_length == 256 and cfg.hop_length == 192 and cfg.num_bins == 129


def test_power_is_squared_magnitude():
    spec = torch.complex(torch.randn(5, 3), torch.randn(5, 3))
    assert torch.allclose(spectrogram(spec, "power"), spectrogram(spec, "magnitude") ** 2)


def test_context_stacking_replicates_edges():
    frames = torch.arange(4.0).reshape(4, 1)
    stacked = stack_context(frames, 1)
    assert stacked.tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 3]]


def test_normalization_standardizes_and_round_trips_targets(tmp_path):
    cfg = FeatureConfig()
    feat = Featurizer(cfg)
    specs = [torch.rand(50, cfg.num_bins) * 3 + 1 for _ in range(3)]
    stats = feat.fit(specs)
    x = feat.network_input(torch.cat(specs))
    assert torch.allclose(x.mean(0), torch.zeros(cfg.num_bins), atol=1e-4)
    assert torch.allclose(x.std(0), torch.ones(cfg.num_bins), atol=1e-2)
    assert torch.allclose(feat.to_spectrogram(feat.target(specs[0])), specs[0], atol=1e-5)
    stats.save(tmp_path / "stats.npz")
    loaded = FeatureStats.load(tmp_path / "stats.npz")
    assert np.allclose(loaded.mean, stats.mean) and loaded.target_scale == stats.target_scale
