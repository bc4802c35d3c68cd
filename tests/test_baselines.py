"""Baselines: oracle masks and supervised NMF as models of the same train/separate/evaluate."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic import make_datadir, make_pair, sdr, sdr_gains
from typer.testing import CliRunner

from vaesep.cli import app
from vaesep.errors import VaesepError
from vaesep.features import Stft
from vaesep.io.audio import resample
from vaesep.models.nmf import learn_dictionary
from vaesep.models.oracle import ideal_estimates
from vaesep.registry import load_config
from vaesep.separation.loading import load_separator
from vaesep.separation.oracle_separator import OracleSeparator
from vaesep.separation.separator import Separator, soft_masks
from vaesep.training.experiment import train
from vaesep.training.segments import load_stfts

RATE = 8000
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FAST = ["training.progress=false", f"features.sample_rate={RATE}"]
NMF_FAST = [*FAST, "model.type=nmf", "model.nmf_components=20", "model.nmf_iterations=40"]
NMF_FAST.append("model.nmf_test_iterations=30")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("baselines")
    make_datadir(root / "train", n_utts=8, seconds=1.0, rate=RATE, seed=0)
    make_datadir(root / "test", n_utts=3, seconds=1.0, rate=RATE, seed=1)
    return root


def _references(seconds: float = 1.0, seed: int = 3) -> dict[str, torch.Tensor]:
    female, male = make_pair(np.random.default_rng(seed), seconds, RATE)
    stft = Stft(load_config(None, FAST).features)
    return {
        "female": stft.stft(torch.from_numpy(female)),
        "male": stft.stft(torch.from_numpy(male)),
    }


@pytest.mark.parametrize("mask", ["ratio", "wiener"])
def test_soft_oracle_masks_sum_to_one(mask):
    refs = _references()
    masks = soft_masks(ideal_estimates(refs, mask))
    total = masks["female"] + masks["male"]
    assert torch.allclose(total, torch.ones_like(total))
    power = 2 if mask == "wiener" else 1
    female, male = refs["female"].abs() ** power, refs["male"].abs() ** power
    audible = female + male > 1e-9  # elsewhere both sources share the silence equally
    expected = female[audible] / (female + male)[audible]
    assert torch.allclose(masks["female"][audible], expected, atol=1e-5)


def test_binary_oracle_mask_is_zero_one_and_sums_to_one():
    refs = _references()
    masks = soft_masks(ideal_estimates(refs, "binary"))
    assert set(torch.unique(masks["female"]).tolist()) == {0.0, 1.0}
    assert torch.equal(masks["female"] + masks["male"], torch.ones_like(masks["female"]))
    louder = refs["female"].abs() > refs["male"].abs()
    assert torch.equal(masks["female"].bool(), louder)


@pytest.fixture(scope="module")
def experiments(data, tmp_path_factory) -> dict[str, Path]:
    """A briefly trained VAE and the three oracles on the same training data."""
    root = tmp_path_factory.mktemp("exps")
    vae = [*FAST, "model.encoder_layers=[64, 32]", "model.decoder_layers=[32, 64]"]
    train(
        load_config(None, [*vae, "model.latent_dim=8", "training.epochs=4"]),
        data / "train",
        root / "vae",
    )
    for mask in ("ratio", "wiener", "binary"):
        cfg = load_config(None, [*FAST, "model.type=oracle", f"model.mask={mask}"])
        assert train(cfg, data / "train", root / mask)["seconds"] < 1.0
    return {name: root / name for name in ("vae", "ratio", "wiener", "binary")}


def test_oracles_beat_a_trained_vae(experiments):
    pairs = [make_pair(np.random.default_rng(seed), 1.0, RATE) for seed in (10, 11)]
    scores = {}
    for name, exp in experiments.items():
        sep = load_separator(exp)
        sdrs = []
        for female, male in pairs:
            refs = {"female": female, "male": male}
            if isinstance(sep, OracleSeparator):
                out = sep.separate(female + male, RATE, references=refs)
            else:
                out = sep.separate(female + male, RATE)
            assert np.allclose(out["female"] + out["male"], female + male, atol=1e-4)
            sdrs.append(sdr([female, male], [out["female"], out["male"]]))
        scores[name] = np.mean(sdrs)
    for mask in ("ratio", "wiener", "binary"):
        assert scores[mask] > scores["vae"] + 1.0, scores


def test_oracle_needs_references(experiments):
    oracle = load_separator(experiments["ratio"])
    assert isinstance(oracle, OracleSeparator) and oracle.needs_references
    assert isinstance(load_separator(experiments["vae"]), Separator)
    with pytest.raises(VaesepError, match="needs the reference sources; use 'vaesep evaluate'"):
        Separator.from_dir(experiments["ratio"])
    female, male = make_pair(np.random.default_rng(4), 1.0, RATE)
    with pytest.raises(VaesepError, match="ratio: no reference for source"):
        oracle.separate(female + male, RATE)
    # At another input rate the references are resampled alongside the mixture.
    hi = {"female": resample(female, RATE, 2 * RATE), "male": resample(male, RATE, 2 * RATE)}
    out = oracle.separate(hi["female"] + hi["male"], 2 * RATE, references=hi)
    assert out["female"].shape == hi["female"].shape
    scores = sdr([hi["female"], hi["male"]], [out["female"], out["male"]])
    assert scores.min() > 8, scores


def test_separate_cli_refuses_an_oracle(data, experiments, tmp_path):
    result = CliRunner().invoke(
        app, ["separate", str(data / "test" / "wav.scp"), "--model", str(experiments["ratio"])]
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "vaesep: error: ratio: an oracle mask needs the reference sources; "
        "use 'vaesep evaluate', not 'separate'"
    ]


@pytest.mark.parametrize("divergence", ["kl", "euclidean"])
def test_nmf_loss_decreases(data, divergence):
    cfg = load_config(None, [*NMF_FAST, f"model.nmf_divergence={divergence}"])
    frames = torch.cat([refs["female"] for _, _, refs in load_stfts(data / "train", cfg)]).abs()
    dictionary, losses = learn_dictionary(frames, cfg.model, seed=0, log_every=1)
    values = [loss for _, loss in losses]
    assert [i for i, _ in losses] == list(range(1, 41))
    assert all(b <= a * (1 + 1e-4) for a, b in zip(values, values[1:])), values
    assert values[-1] < 0.5 * values[0]
    assert dictionary.shape == (cfg.features.num_bins, 20) and (dictionary > 0).all()
    assert torch.allclose(dictionary.norm(dim=0), torch.ones(20))


@pytest.fixture(scope="module")
def nmf_exp(data, tmp_path_factory) -> Path:
    exp = tmp_path_factory.mktemp("nmf") / "exp"
    train(load_config(None, NMF_FAST), data / "train", exp)
    return exp


def test_nmf_separates_and_sums_to_the_mixture(nmf_exp):
    sep = Separator.from_dir(nmf_exp)
    gains = sdr_gains(sep, seed=7, seconds=1.5, rate=RATE)
    assert np.mean(gains) > 3.0, gains


def test_separate_cli_with_nmf(data, nmf_exp, tmp_path):
    args = ["separate", data / "test" / "wav.scp", "--model", nmf_exp, "--out-dir", tmp_path]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert len(list(tmp_path.glob("utt00?_female.wav"))) == 3


def test_nmf_chunked_equals_whole(nmf_exp):
    whole = Separator.from_dir(nmf_exp, chunk_seconds=1000)
    chunked = Separator.from_dir(nmf_exp, chunk_seconds=0.4)
    female, male = make_pair(np.random.default_rng(8), 1.5, RATE)
    a, b = whole.separate(female + male, RATE), chunked.separate(female + male, RATE)
    for source in a:
        assert np.allclose(a[source], b[source], atol=1e-5)


@pytest.mark.parametrize(
    ("config", "extra", "min_sdr"),
    [
        ("nmf", ["model.nmf_components=20", "model.nmf_iterations=30"], 3.0),
        ("oracle_irm", [], 8.0),
    ],
)
def test_cli_train_then_evaluate(data, tmp_path, config, extra, min_sdr):
    exp, out = tmp_path / config, tmp_path / "eval"
    sets = [arg for key in (*FAST, *extra) for arg in ("--set", key)]
    args = ["train", "--config", CONFIGS / f"{config}.yaml", "--data", data / "train"]
    result = CliRunner().invoke(app, [str(a) for a in [*args, "--exp-dir", exp, *sets]])
    assert result.exit_code == 0, result.output
    for name in ("config.yaml", "stats.npz", "female.pt", "male.pt", "command.txt"):
        assert (exp / name).is_file(), name
    args = ["evaluate", "--model", exp, "--data", data / "test", "--out-dir", out, "--jobs", "1"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_utterances"] == 3 and summary["failed"] == {}
    assert summary["sdr"] > min_sdr and summary["sdri"] > 3.0, summary


@pytest.mark.parametrize("name", ["nmf", "oracle_irm", "oracle_wiener", "oracle_ibm"])
def test_baseline_configs_load(name):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.model.type == name.split("_")[0]
    assert cfg.features.hop_length == 128


def test_nmf_keys_are_checked():
    with pytest.raises(VaesepError, match="model.nmf_components: must be positive"):
        load_config(None, ["model.type=nmf", "model.nmf_components=0"])
    with pytest.raises(VaesepError, match="'nmf_iterations'"):
        load_config(None, ["model.type=nmf", "model.nmf_iteration=3"])
    with pytest.raises(VaesepError, match="model.latent_dim: a key of model.type .*, not of nmf"):
        load_config(None, ["model.type=nmf", "model.latent_dim=3"])
    with pytest.raises(VaesepError, match="model.mask: 'soft' is not one of ratio, wiener"):
        load_config(None, ["model.type=oracle", "model.mask=soft"])
