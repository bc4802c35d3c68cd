import torch
from synthetic import make_datadir

from vaesep.config import load_config
from vaesep.features import Featurizer, spectrogram
from vaesep.training import build_frame_sets, load_stfts, train


def test_dynamic_mixing_pairs_sources_anew(tmp_path):
    make_datadir(tmp_path / "d", n_utts=4, seconds=0.5, rate=8000)
    cfg = load_config(
        None, ["features.sample_rate=8000", "training.dynamic_mixing=true", "training.seed=1"]
    )
    stfts = load_stfts(tmp_path / "d", cfg)
    feat = Featurizer(cfg.features)
    train_set, val_set = build_frame_sets(stfts, feat, cfg.training)
    assert val_set is not None and train_set.remix is not None
    same = train_set.remix(0)
    assert torch.allclose(same.inputs, train_set.inputs, atol=1e-3)  # offset 0: the mixtures
    view = train_set.remix(7)
    assert torch.equal(view.targets["female"], train_set.targets["female"])
    assert torch.equal(view.targets["male"], torch.roll(train_set.targets["male"], 7, 0))
    assert not torch.allclose(view.inputs, train_set.inputs)
    # The remixed input is the spectrogram of the complex sum of the two sources.
    stft_sum = sum(s for _, _, refs in stfts[:1] for s in refs.values())
    assert torch.allclose(
        spectrogram(stft_sum, "magnitude"), spectrogram(stfts[0][1], "magnitude"), atol=1e-4
    )


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
