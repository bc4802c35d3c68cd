"""Multichannel demixing: the IP update, AuxIVA/ILRMA as registry models, the Demixer, and
evaluation of reverberant data dirs at the reference mic."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synthetic import make_datadir, make_pair, sdr
from typer.testing import CliRunner

from vaesep.cli import app
from vaesep.data.datadir import load_datadir, write_datadir
from vaesep.data.rooms import prepare_rooms
from vaesep.errors import VaesepError
from vaesep.expdir import load
from vaesep.io.audio import load_channels, save_audio, save_channels
from vaesep.registry import MODELS, SECTIONS, load_config
from vaesep.scoring.evaluation import Reading, evaluate, evaluate_separated
from vaesep.scoring.metrics import best_permutation
from vaesep.scoring.reports import report
from vaesep.separation.bss import demix, ip_update, project_back
from vaesep.separation.demixer import Demixer
from vaesep.separation.loading import load_separator
from vaesep.separation.separator import Separator, build_models
from vaesep.training.experiment import train

RATE = 8000


def _overrides(model: str) -> list[str]:
    return [f"model.type={model}", "features.sample_rate=8000", "model.iterations=30"]


def _gated(signal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Talker-like on/off activity: blocks of 0.1-0.4 s, each on with probability 0.6."""
    gate, start = np.zeros_like(signal), 0
    while start < len(signal):
        length = int(rng.uniform(0.1, 0.4) * RATE)
        gate[start : start + length] = float(rng.random() < 0.6)
        start += length
    return signal * gate


def _speechlike_dir(root: Path, n_utts: int = 3, seconds: float = 3.0) -> Path:
    """A mono data dir whose two sources switch on and off independently, as talkers do."""
    rng = np.random.default_rng(3)
    mixtures, sources = {}, {"female": {}, "male": {}}
    for i in range(n_utts):
        utt = f"utt{i:03d}"
        female, male = (_gated(x, rng) for x in make_pair(rng, seconds, RATE))
        for name, sig in (("mix", female + male), ("female", female), ("male", male)):
            save_audio(root / "wav" / f"{utt}_{name}.wav", sig, RATE)
        mixtures[utt] = str(root / "wav" / f"{utt}_mix.wav")
        for name in sources:
            sources[name][utt] = str(root / "wav" / f"{utt}_{name}.wav")
    write_datadir(root, mixtures, sources)
    return root


@pytest.fixture(scope="module")
def rooms(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mc")
    prepare_rooms(_speechlike_dir(root / "mono"), root / "rooms", rt60=0.15)
    return root / "rooms"


@pytest.fixture(scope="module", params=["auxiva", "ilrma"])
def blind_exp(request, rooms: Path) -> Path:
    exp = rooms.parent / f"exp_{request.param}"
    config = load_config(Path("configs") / f"{request.param}.yaml", _overrides(request.param))
    train(config, rooms, exp)
    return exp


def _instantaneous(rng: np.random.Generator, frames: int = 400, bins: int = 5) -> tuple:
    """Two complex Gaussian sources of time-varying variance mixed by one matrix per bin."""
    variance = rng.gamma(0.5, 1.0, size=(2, frames, bins)) + 1e-3
    S = np.sqrt(variance / 2) * (
        rng.normal(size=variance.shape) + 1j * rng.normal(size=variance.shape)
    )
    A = rng.normal(size=(bins, 2, 2)) + 1j * rng.normal(size=(bins, 2, 2))
    X = np.einsum("fmn,ntf->tfm", A, S)
    return X, S, A, variance


def test_ip_update_solves_its_stationarity_conditions():
    rng = np.random.default_rng(0)
    X, _, _, variance = _instantaneous(rng)
    W = np.tile(np.eye(2, dtype=complex), (X.shape[1], 1, 1))
    W = ip_update(W, X, 1.0 / variance)  # sweeps source 0, then 1
    # For the last updated source n: W_f V_n w_n^* = e_n (w_n^H V_n w_n = 1, orthogonality).
    n = 1
    V = np.einsum("tf,tfm,tfk->fmk", 1.0 / variance[n], X, X.conj()) / X.shape[0]
    for f in range(X.shape[1]):
        np.testing.assert_allclose(W[f] @ V[f] @ W[f, n].conj(), np.eye(2)[n], atol=1e-6)


def test_ip_with_true_variances_demixes_and_projection_back_gives_the_images():
    rng = np.random.default_rng(1)
    X, S, A, variance = _instantaneous(rng, frames=4000)
    W = np.tile(np.eye(2, dtype=complex), (X.shape[1], 1, 1))
    for _ in range(20):
        W = ip_update(W, X, 1.0 / variance)
    Y = project_back(demix(W, X), X, reference_mic=0)
    images = np.einsum("fn,ntf->tfn", A[:, 0, :], S)  # each source at mic 0
    error = np.sum(np.abs(Y - images) ** 2, axis=0) / np.sum(np.abs(images) ** 2, axis=0)
    assert error.max() < 1e-2  # the ML estimate from 4000 frames: within -20 dB of the images


def test_best_permutation_matches_swapped_estimates():
    rng = np.random.default_rng(2)
    female, male = make_pair(rng, 1.0, RATE)
    noisy = [male + 0.01 * rng.normal(size=male.size), female]
    assert best_permutation([female, male], noisy) == (1, 0)
    assert best_permutation([female, male], noisy[::-1]) == (0, 1)


def test_blind_models_separate_a_reverberant_recording(blind_exp: Path, rooms: Path):
    separator = load_separator(blind_exp)
    assert isinstance(separator, Demixer) and separator.permute and separator.channels == 2
    data = load_datadir(rooms)
    utt = data.utt_ids[0]
    channels, rate = load_channels(data.mixtures[utt])
    out = separator.separate(channels, rate)
    refs = [sf.read(data.sources[s][utt])[0] for s in ("female", "male")]
    estimates = [out["female"], out["male"]]
    assert all(e.shape == (channels.shape[1],) and np.isfinite(e).all() for e in estimates)
    order = best_permutation(refs, estimates)
    ours = sdr(refs, [estimates[k] for k in order])
    gain = (ours - sdr(refs, [channels[0], channels[0]])).mean()
    assert gain > 3.0


def test_demixer_keeps_the_input_rate_and_length(blind_exp: Path, rooms: Path):
    separator = load_separator(blind_exp)
    channels, rate = load_channels(load_datadir(rooms).mixtures["utt000"], 16000)
    out = separator.separate(channels.T[:-7], rate)  # (samples, channels) is read as well
    assert {k: v.shape for k, v in out.items()} == {
        "female": (channels.shape[1] - 7,),
        "male": (channels.shape[1] - 7,),
    }
    silent = separator.separate(np.zeros((2, 4000), np.float32), rate)
    assert all(not np.any(v) for v in silent.values())


def test_demixer_refuses_inputs_it_cannot_take(blind_exp: Path):
    separator = load_separator(blind_exp)
    with pytest.raises(VaesepError, match="1 channel\\(s\\).*exactly 2 microphones"):
        separator.separate(np.zeros(8000, np.float32), RATE)
    with pytest.raises(VaesepError, match="3 channel\\(s\\)"):
        separator.separate(np.zeros((3, 8000), np.float32), RATE)
    bad = np.zeros((2, 8000), np.float32)
    bad[0, 5] = np.nan
    with pytest.raises(VaesepError, match="NaN"):
        separator.separate(bad, RATE)
    with pytest.raises(TypeError, match=r"needs its rate; pass sample_rate="):
        separator.separate(np.zeros((2, 8000), np.float32))  # no rate is assumed


def test_evaluate_scores_at_the_reference_mic_and_matches_blind_outputs(
    blind_exp: Path, rooms: Path, tmp_path: Path
):
    separator = load_separator(blind_exp)
    summary = evaluate(separator, rooms, tmp_path / "eval", jobs=1)
    assert summary["num_utterances"] == 3 and not summary["failed"]
    report([tmp_path / "eval"], tmp_path / "report")
    note = f"{separator.name} {100 * summary['in_order']:.0f} %"
    assert note in " ".join((tmp_path / "report" / "RESULTS.md").read_text().split())
    assert summary["sdr"] - summary["mixture"]["sdr"] > 3.0
    # The separate CLI writes files in the model's (arbitrary) order; --best-permutation
    # scores them exactly as evaluate --model does, even with every pair swapped.
    out = tmp_path / "sep"
    result = CliRunner().invoke(
        app, ["separate", str(rooms / "wav.scp"), "--model", str(blind_exp), "--out-dir", str(out)]
    )
    assert result.exit_code == 0, result.output
    for female in out.glob("*_female.wav"):
        male = female.with_name(female.name.replace("_female", "_male"))
        female.rename(out / "tmp.wav")
        male.rename(female)
        (out / "tmp.wav").rename(male)
    again = evaluate_separated(
        out, rooms, tmp_path / "eval2", jobs=1, reading=Reading(permute=True)
    )
    assert again["sdr"] == pytest.approx(summary["sdr"], abs=1e-3)
    assert again["mixture"] == summary["mixture"]
    assert again["in_order"] == pytest.approx(1 - summary["in_order"])  # every pair swapped
    assert sorted(again["permuted"] + summary["permuted"]) == sorted(load_datadir(rooms).utt_ids)


def test_mono_model_on_a_multichannel_dir_is_scored_against_the_reference_mic(
    rooms: Path, tmp_path: Path
):
    """The baseline is mic 0 (the sum of the references), not the downmix."""
    data = load_datadir(rooms)

    class Mixture:
        sample_rate, sources, name = RATE, ("female", "male"), "mix"

        def separate(self, signal, rate):
            assert signal.ndim == 1  # the downmix
            return {"female": signal, "male": signal}

    summary = evaluate(Mixture(), rooms, tmp_path / "e", jobs=1)
    mic0 = load_channels(data.mixtures["utt000"])[0][0]
    refs = [sf.read(data.sources[s]["utt000"])[0] for s in ("female", "male")]
    np.testing.assert_allclose(mic0, refs[0] + refs[1], atol=1e-5)
    assert summary["mixture"]["sdr"] != summary["sdr"]


def test_separate_cli_multichannel_errors_are_one_line(blind_exp: Path, tmp_path: Path):
    mono = tmp_path / "mono.wav"
    sf.write(mono, np.zeros(8000, np.float32), RATE)
    result = CliRunner().invoke(
        app, ["separate", str(mono), "--model", str(blind_exp), "--out-dir", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "exactly 2 microphones" in result.output and "Traceback" not in result.output
    stereo = tmp_path / "st.wav"
    rng = np.random.default_rng(0)
    save_channels(stereo, 0.1 * rng.normal(size=(2, 8000)), RATE)
    result = CliRunner().invoke(
        app, ["separate", str(stereo), "--model", str(blind_exp), "--out-dir", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["st_female.wav", "st_male.wav"]


def test_evaluate_best_permutation_with_a_model(tmp_path: Path):
    """--best-permutation scores any model's outputs by the best permutation and says how often
    its own naming was right."""
    data = make_datadir(tmp_path / "d", n_utts=2, seconds=0.5, rate=RATE)
    config = load_config(None, ["features.sample_rate=8000", "training.epochs=1"])
    train(config, data, tmp_path / "exp")
    out = tmp_path / "scores"
    args = ["evaluate", "--model", str(tmp_path / "exp"), "--data", str(data), "--out-dir",
            str(out), "--examples", "0", "--best-permutation"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert 0 <= summary["in_order"] <= 1 and summary["num_utterances"] == 2


def test_mono_separator_still_downmixes(tmp_path: Path):
    """Loading a mono experiment still gives the streaming Separator."""
    data = make_datadir(tmp_path / "d", n_utts=2, seconds=0.5, rate=RATE)
    config = load_config(None, ["features.sample_rate=8000", "training.epochs=1"])
    train(config, data, tmp_path / "exp")
    assert isinstance(load_separator(tmp_path / "exp"), Separator)


@pytest.fixture(scope="module")
def cvae_exp(rooms: Path) -> Path:
    """A small CVAE trained on the clean sources of the mono dir the rooms were made from."""
    exp = rooms.parent / "exp_mvae"
    overrides = [
        "features.sample_rate=8000",
        "model.hidden=32",
        "model.segment_frames=16",
        "training.epochs=25",
        "training.progress=false",
        "training.num_threads=1",
        "training.validation_fraction=0",
    ]
    train(load_config(Path("configs") / "mvae.yaml", overrides), rooms.parent / "mono", exp)
    return exp


@pytest.mark.parametrize("kind", ["mvae", "fast_mvae"])
def test_mvae_demixes_names_the_classes_and_leaves_the_model_as_it_was(
    kind: str, cvae_exp: Path, rooms: Path, tmp_path: Path
):
    experiment = load(cvae_exp, SECTIONS)  # the same CVAE under either algorithm
    model = replace(experiment.config.model, type=kind)
    config = replace(experiment.config, model=model)
    separator = Demixer(config, build_models(experiment), name=kind)
    assert separator.permute
    summary = evaluate(separator, rooms, tmp_path / "eval", jobs=1)
    assert summary["sdr"] - summary["mixture"]["sdr"] > 2.0
    if kind == "mvae":  # its classifier tells the high comb from the low one in its outputs
        assert summary["in_order"] == 1.0
    model = separator.models["female"]
    assert all(p.requires_grad for p in model.parameters())


def test_class_order_maximizes_the_summed_class_probabilities():
    from vaesep.separation.mvae import _class_order

    assert _class_order(np.array([[0.9, 0.1], [0.2, 0.8]])) == [0, 1]
    assert _class_order(np.array([[0.3, 0.7], [0.6, 0.4]])) == [1, 0]
    assert _class_order(np.array([[0.6, 0.4], [0.9, 0.1]])) == [1, 0]  # 0.9 + 0.4 > 0.6 + 0.1


def test_set_changes_separation_settings_but_not_the_network(cvae_exp: Path, tmp_path: Path):
    fast = load_separator(cvae_exp, overrides=["model.type=fast_mvae", "model.iterations=5"])
    assert isinstance(fast, Demixer) and fast.spec is MODELS["fast_mvae"]
    assert fast.config.model.iterations == 5
    with pytest.raises(VaesepError, match="with --set: model.hidden: .* not of vae"):
        load_separator(cvae_exp, overrides=["model.type=vae"])
    with pytest.raises(VaesepError, match="trained with its features"):
        load_separator(cvae_exp, overrides=["features.window_ms=128"])
    with pytest.raises(VaesepError, match="female.pt: the experiment was trained"):
        load_separator(cvae_exp, overrides=["model.hidden=8"])
    args = ["evaluate", "--separated", str(tmp_path), "--data", str(tmp_path), "--out-dir"]
    result = CliRunner().invoke(app, [*args, str(tmp_path / "o"), "--set", "model.iterations=3"])
    assert result.exit_code == 2 and "--set: only with --model" in result.output


def test_set_refuses_a_type_of_another_network():
    from vaesep.expdir import Experiment, with_settings
    from vaesep.features import FeatureStats

    config = load_config(Path("configs") / "gan.yaml")
    experiment = Experiment(Path("exp"), config, FeatureStats.identity(257), {})
    with pytest.raises(VaesepError, match="model.type=wgan: exp holds a gan network"):
        with_settings(experiment, ["model.type=wgan"])
