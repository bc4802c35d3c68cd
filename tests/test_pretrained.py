"""Bundled models: export, card, checksums, the catalogue, `separate` without --model, and the
models actually shipped in vaesep/zoo/bundled/."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from cli_helpers import assert_user_error, run
from synthetic import make_datadir

from vaesep.errors import VaesepError
from vaesep.io.audio import load_audio
from vaesep.separation.separator import Separator
from vaesep.zoo import pretrained

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FAST = [
    "--set", "features.sample_rate=8000",
    "--set", "training.epochs=2",
    "--set", "training.progress=false",
    "--set", "model.encoder_layers=[32]",
    "--set", "model.decoder_layers=[32]",
    "--set", "model.latent_dim=4",
]  # fmt: skip
ABOUT = {
    "summary": "A tiny test VAE.",
    "training_data": "generated harmonic combs",
    "licence": "CC0",
    "attribution": "none needed",
    "command": "pytest tests/test_pretrained.py",
}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A trained tiny VAE exported, evaluated and carded under the default model's name."""
    root = tmp_path_factory.mktemp("bundle")
    make_datadir(root / "train", n_utts=3, seconds=0.5, rate=8000, seed=0)
    make_datadir(root / "test", n_utts=2, seconds=0.5, rate=8000, seed=1)
    exp = root / "exp"
    result = run(
        "train", "--config", CONFIGS / "vae.yaml", "--data", root / "train", "--exp-dir", exp, *FAST
    )
    assert result.exit_code == 0, result.output
    out = root / "bundled" / pretrained.DEFAULT
    assert run("bundle", "export", exp, out).exit_code == 0
    result = run("evaluate", "--model", out, "--data", root / "test", "--out-dir", root / "ev")
    assert result.exit_code == 0, result.output
    (root / "about.yaml").write_text(json.dumps(ABOUT))
    result = run("bundle", "card", out, "--about", root / "about.yaml", "--eval", "t=ev")
    assert_user_error(result, "ev/summary.json")  # a relative dir that is not there
    result = run(
        "bundle", "card", out, "--about", root / "about.yaml", "--eval", f"t, 0 dB={root / 'ev'}"
    )
    assert result.exit_code == 0, result.output
    return {"root": root, "exp": exp, "dir": out}


@pytest.fixture
def installed(bundle, monkeypatch):
    """The test bundle as the only bundled model."""
    monkeypatch.setattr(pretrained, "BUNDLED", bundle["dir"].parent)
    return bundle


def test_export_halves_the_weights_and_keeps_what_separation_reads(bundle):
    out, exp = bundle["dir"], bundle["exp"]
    assert {p.name for p in out.iterdir()} >= {"config.yaml", "stats.npz", "female.pt", "male.pt"}
    assert not (out / "checkpoints").exists() and not (out / "train.log").exists()
    for source in ("female", "male"):
        full = torch.load(exp / f"{source}.pt", weights_only=True)["state_dict"]
        half = torch.load(out / f"{source}.pt", weights_only=True)["state_dict"]
        assert full.keys() == half.keys()
        for key, value in half.items():
            if value.is_floating_point():
                assert value.dtype == torch.float16
                assert torch.allclose(value.float(), full[key], rtol=1e-3, atol=1e-4)
    assert (out / "female.pt").stat().st_size < (exp / "female.pt").stat().st_size


def test_card_holds_metrics_checksums_and_provenance(bundle):
    card = json.loads((bundle["dir"] / "card.json").read_text())
    summary = json.loads((bundle["root"] / "ev" / "summary.json").read_text())
    assert card["metrics"]["t, 0 dB"]["sdr"] == summary["sdr"]
    assert card["metrics"]["t, 0 dB"]["utterances"] == 2
    assert card["model_type"] == "vae" and card["parameters"] > 0
    assert card["licence"] == "CC0" and card["versions"]["torch"] == str(torch.__version__)
    assert set(card["files"]) >= {"config.yaml", "stats.npz", "female.pt", "male.pt"}
    for name, entry in card["files"].items():
        assert entry["sha256"] == pretrained.sha256(bundle["dir"] / name)
    text = (bundle["dir"] / "card.md").read_text()
    assert "| t, 0 dB | 2 |" in text and card["files"]["male.pt"]["sha256"] in text
    for source in ("female", "male"):  # how long each network trained, on what
        record = json.loads((bundle["exp"] / f"{source}.json").read_text())
        assert card["training"][source]["seconds"] == record["seconds"] > 0
        assert card["training"][source]["device"] == "cpu"
        assert f"{source} {record['epochs_run']} epochs" in text


def test_catalogue_lists_and_shows_cards(installed):
    result = run("models")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{pretrained.DEFAULT} (default): vae,")
    assert "A tiny test VAE." in result.output
    result = run("models", pretrained.DEFAULT)
    assert result.exit_code == 0 and result.output.startswith(f"# {pretrained.DEFAULT}")
    assert_user_error(run("models", "nope"), "nope: no such bundled model")


def test_a_bundled_models_config_fine_tunes_it_by_name(installed, tmp_path):
    """``vaesep models NAME --config`` prints the config a run takes to start from the bundled
    weights (``training.init_from=NAME``); at a learning rate of about 0 they stay."""
    result = run("models", pretrained.DEFAULT, "--config")
    assert result.exit_code == 0, result.output
    (tmp_path / "c.yaml").write_text(result.output)
    sets = ["training.epochs=1", "training.learning_rate=1e-30", "training.progress=false"]
    sets.append(f"training.init_from={pretrained.DEFAULT}")
    args = [x for kv in sets for x in ("--set", kv)]
    data, exp = installed["root"] / "train", tmp_path / "tuned"
    result = run("train", "--config", tmp_path / "c.yaml", "--data", data, "--exp-dir", exp, *args)
    assert result.exit_code == 0, result.output
    for source in ("female", "male"):
        start = torch.load(installed["dir"] / f"{source}.pt", weights_only=True)["state_dict"]
        tuned = torch.load(exp / f"{source}.pt", weights_only=True)["state_dict"]
        assert all(torch.allclose(start[k].float(), tuned[k]) for k in start)
    assert_user_error(run("models", "--config"), "--config prints a bundled model's config")


def test_separate_without_model_uses_the_default(installed, tmp_path):
    mix = installed["root"] / "test" / "wav" / "utt000_mix.wav"
    result = run("separate", mix, "--out-dir", tmp_path / "a")
    assert result.exit_code == 0, result.output
    result = run("separate", mix, "--model", installed["dir"], "--out-dir", tmp_path / "b")
    assert result.exit_code == 0, result.output
    for source in ("female", "male"):
        by_name, _ = load_audio(tmp_path / "a" / f"utt000_mix_{source}.wav")
        by_path, _ = load_audio(tmp_path / "b" / f"utt000_mix_{source}.wav")
        np.testing.assert_array_equal(by_name, by_path)
    signal, rate = sf.read(mix, dtype="float32")
    outputs = Separator.pretrained().separate(signal, rate)
    np.testing.assert_allclose(outputs["male"], by_name, atol=1e-4)  # by_name: the male file


def test_unknown_name_lists_the_bundled_ones(installed, tmp_path):
    mix = installed["root"] / "test" / "wav" / "utt000_mix.wav"
    result = run("separate", mix, "--model", "nope", "--out-dir", tmp_path)
    assert_user_error(
        result,
        f"--model nope: neither an experiment dir nor a bundled model "
        f"(bundled: {pretrained.DEFAULT};",
    )


def test_a_corrupt_bundled_file_is_a_one_line_error(installed, tmp_path, monkeypatch):
    copy = tmp_path / "bundled" / pretrained.DEFAULT
    copy.parent.mkdir()
    shutil.copytree(installed["dir"], copy)
    monkeypatch.setattr(pretrained, "BUNDLED", copy.parent)
    data = bytearray((copy / "male.pt").read_bytes())
    data[-100] ^= 0xFF
    (copy / "male.pt").write_bytes(bytes(data))
    mix = installed["root"] / "test" / "wav" / "utt000_mix.wav"
    result = run("separate", mix, "--out-dir", tmp_path / "out")
    assert_user_error(result, "male.pt: checksum mismatch")
    assert not (tmp_path / "out").exists()
    with pytest.raises(VaesepError, match="checksum mismatch"):
        Separator.pretrained()


def test_export_and_card_refuse_bad_inputs(bundle, tmp_path):
    assert_user_error(run("bundle", "export", bundle["exp"], bundle["dir"]), "pass --force")
    assert_user_error(run("bundle", "export", tmp_path, tmp_path / "x"), "config.yaml: missing")
    (tmp_path / "about.yaml").write_text("summary: x\n")
    result = run("bundle", "card", bundle["dir"], "--about", tmp_path / "about.yaml")
    assert_user_error(result, "missing training_data, licence, attribution, command")
    result = run("bundle", "card", bundle["dir"], "--about", tmp_path / "a.yaml", "--eval", "x")
    assert_user_error(result, "--eval x: expected LABEL=DIR")
    result = run("bundle", "card", bundle["exp"], "--about", tmp_path / "about.yaml")
    assert_user_error(result, "not made by 'vaesep bundle export'")


def test_export_set_makes_separation_level_invariant(bundle, tmp_path):
    out = tmp_path / "levelled"
    result = run("bundle", "export", bundle["exp"], out, "--set", "features.input_level_db=-23")
    assert result.exit_code == 0, result.output
    assert "input_level_db: -23.0" in (out / "config.yaml").read_text()
    rng = np.random.default_rng(0)
    quiet = (0.001 * rng.standard_normal(4000)).astype(np.float32)  # -60 dBFS
    for directory, invariant in ((out, True), (bundle["dir"], False)):
        separator = Separator.from_dir(directory)
        loud, soft = separator.separate(100 * quiet, 8000), separator.separate(quiet, 8000)
        same = np.allclose(loud["female"], 100 * soft["female"], rtol=1e-3, atol=1e-5)
        assert same is invariant, directory
    wider = ["--set", "features.window_ms=64"]
    result = run("bundle", "export", bundle["exp"], tmp_path / "x", *wider)
    assert_user_error(
        result, "only features.input_level_db and features.shifts are separation settings"
    )
    assert not (tmp_path / "x").exists()


def test_level_gain_brings_a_signal_to_the_level_and_leaves_silence():
    from vaesep.separation.separator import level_gain

    signal = torch.full((100,), 0.5)
    assert level_gain(signal, -20.0) == pytest.approx(0.1 / 0.5)
    assert level_gain(signal, 0.0) == 1.0 and level_gain(torch.zeros(100), -23.0) == 1.0


LABELS = [
    f"{corpus}, {db} dB"
    for corpus in ("librispeech test-other", "built-in test")
    for db in ("0", "+5", "-5")
]


def test_the_shipped_models_verify_fit_the_size_limits_and_separate():
    shipped = pretrained.names()
    assert shipped and shipped[0] == pretrained.DEFAULT
    total = 0
    for name in shipped:
        directory = pretrained.verified_dir(name)
        card = pretrained.card(name)
        sizes = [p.stat().st_size for p in directory.rglob("*") if p.is_file()]
        assert max(sizes) <= 8 * 2**20, name  # issue 29's limits: 8 MiB a file, 24 in all
        total += sum(sizes)
        assert "LibriSpeech" in card["training_data"] and "CC BY 4.0" in card["licence"]
        assert "TIMIT" not in card["training_data"].replace("no TIMIT", "")
        assert card["command"].startswith("cd recipes/pretrained && ./run.sh")
        assert set(card["metrics"]) == set(LABELS), name
        for row in card["metrics"].values():
            assert {"sdr", "sir", "sar", "si_sdr", "pesq", "stoi"} <= set(row)
        separator = Separator.pretrained(name)
        for member in getattr(separator, "members", [separator]):  # a bag: each member
            features = member.config.features
            assert (features.input_level_db, features.shifts) == (-23, 4), name  # export_set
        rng = np.random.default_rng(0)
        mixture = (0.05 * rng.standard_normal(separator.sample_rate)).astype(np.float32)
        outputs = separator.separate(mixture, separator.sample_rate)
        quiet = separator.separate(mixture / 100, separator.sample_rate)  # any level alike
        for source in ("female", "male"):
            assert outputs[source].shape == mixture.shape
            assert np.isfinite(outputs[source]).all()
            assert np.allclose(quiet[source] * 100, outputs[source], rtol=1e-3, atol=1e-5)
    assert total <= 24 * 2**20
