import numpy as np
import pytest
import torch
from synthetic import make_datadir, make_pair, sdr_gains

from vaesep.errors import VaesepError
from vaesep.io.audio import load_audio, save_audio
from vaesep.registry import load_config
from vaesep.separation.separator import Separator, soft_masks
from vaesep.training.experiment import train

RATE = 8000


def test_masks_sum_to_one_and_handle_silence():
    est = {"female": torch.rand(10, 5), "male": torch.rand(10, 5)}
    est["female"][0] = 0
    est["male"][0] = 0
    masks = soft_masks(est)
    total = masks["female"] + masks["male"]
    assert torch.allclose(total, torch.ones_like(total))
    assert torch.allclose(masks["female"][0], torch.full((5,), 0.5))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("sep")
    make_datadir(root / "train", n_utts=16, seconds=1.5, rate=RATE, seed=0)
    cfg = load_config(
        None,
        [
            "model.type=vae",
            f"features.sample_rate={RATE}",
            "training.epochs=12",
            "training.batch_size=64",
            "training.progress=false",
        ],
    )
    train(cfg, root / "train", root / "exp")
    return root


def test_separator_beats_the_mixture_and_sums_to_it(trained):
    gains = sdr_gains(Separator.from_dir(trained / "exp"), seed=123, seconds=2.0, rate=RATE)
    assert np.mean(gains) > 4.0, gains


def test_chunked_equals_whole(trained):
    whole = Separator.from_dir(trained / "exp", chunk_seconds=1000)
    chunked = Separator.from_dir(trained / "exp", chunk_seconds=0.3)
    female, male = make_pair(np.random.default_rng(5), 3.0, RATE)
    a = whole.separate(female + male, RATE)
    b = chunked.separate(female + male, RATE)
    for source in a:
        assert np.allclose(a[source], b[source], atol=1e-5)


def test_inputs_path_tensor_other_rate_and_stereo(trained, tmp_path):
    sep = Separator.from_dir(trained / "exp")
    female, male = make_pair(np.random.default_rng(9), 1.0, RATE)
    mix = female + male
    from_array = sep.separate(mix, RATE)
    from_tensor = sep.separate(torch.from_numpy(mix), RATE)
    assert np.allclose(from_array["male"], from_tensor["male"])
    save_audio(tmp_path / "m.wav", mix, RATE)
    from_path = sep.separate(tmp_path / "m.wav")
    assert np.allclose(from_array["male"], from_path["male"], atol=1e-6)
    # 16 kHz stereo input: resampled in and back, downmixed, same length as the input.
    hi, _ = load_audio(tmp_path / "m.wav", 16000)
    out = sep.separate(np.stack([hi, hi], axis=1), 16000)
    assert out["female"].shape == hi.shape
    # Away from the resampler's edge effects the estimates still sum to the input.
    assert np.allclose((out["female"] + out["male"])[200:-200], hi[200:-200], atol=2e-3)


def test_from_dir_rejects_other_folders(tmp_path):
    with pytest.raises(VaesepError, match="not an experiment dir"):
        Separator.from_dir(tmp_path)
