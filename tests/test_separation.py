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


# --- an array's rate is never assumed; batches -----------------------------------------------


@pytest.fixture(scope="module")
def bundled():
    return Separator.pretrained("vae", device="cpu")


def test_an_array_without_its_rate_is_refused(bundled, tmp_path):
    """A 22.05 kHz array taken for the model's 16 kHz would be another signal: no default."""
    mix = np.random.default_rng(0).standard_normal(22050).astype(np.float32) * 0.1
    for signal in (mix, torch.from_numpy(mix), np.stack([mix, mix])):
        with pytest.raises(TypeError, match=r"needs its rate; pass sample_rate=\.\.\."):
            bundled.separate(signal)
    for rate in (0, -16000, 22050.5, True, "22050"):
        with pytest.raises(ValueError, match="pass the rate in Hz"):
            bundled.separate(mix, rate)
    save_audio(tmp_path / "m.wav", mix, 22050)
    from_file = bundled.separate(tmp_path / "m.wav")
    assert from_file["male"].shape == (22050,)
    assert np.allclose(bundled.separate(mix, 22050.0)["male"], from_file["male"], atol=1e-6)
    assert np.allclose(bundled.separate(tmp_path / "m.wav", 22050)["male"], from_file["male"])
    with pytest.raises(ValueError, match="m.wav is at 22050 Hz, not sample_rate=16000"):
        bundled.separate(tmp_path / "m.wav", 16000)


def test_separate_batch_equals_separate_per_item(bundled):
    rng = np.random.default_rng(3)
    lengths = [22050, 5000, 70000, 1]  # 70000 > one chunk of 1 s: the chunked path too
    items = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in lengths]
    bundled.chunk_seconds = 1.0
    try:
        results = bundled.separate_batch(items, 22050)
        assert [r.shape for r in results] == [(2, n) for n in lengths]
        for item, result in zip(items, results):
            alone = bundled.separate(item, 22050)
            for row, source in zip(result, bundled.sources):
                np.testing.assert_allclose(row, alone[source], rtol=0, atol=1e-6)
    finally:
        bundled.chunk_seconds = 30.0
    stacked = np.stack([items[0], items[0][::-1].copy()])  # (batch, samples), and a tensor
    for batch in (stacked, torch.from_numpy(stacked), list(torch.from_numpy(stacked))):
        results = bundled.separate_batch(batch, 22050)
        assert len(results) == 2 and all(r.dtype == np.float32 for r in results)
        for row, source in zip(results[1], bundled.sources):
            expected = bundled.separate(stacked[1], 22050)[source]
            np.testing.assert_allclose(row, expected, rtol=0, atol=1e-6)
    assert bundled.separate_batch([], 16000) == []


def test_separate_batch_refuses_what_it_cannot_take(bundled, tmp_path):
    x = np.zeros(800, np.float32)
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'sample_rate'"):
        bundled.separate_batch([x])
    with pytest.raises(TypeError, match="separate_batch\\(\\): an array or tensor needs its rate"):
        bundled.separate_batch([x], None)
    with pytest.raises(ValueError, match="not one signal; use separate"):
        bundled.separate_batch(x, 16000)
    for batch in ([tmp_path / "a.wav"], str(tmp_path / "a.wav"), 3):
        with pytest.raises(TypeError, match="separate\\(path\\) or separate_file"):
            bundled.separate_batch(batch, 16000)
