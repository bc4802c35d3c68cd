import json
from pathlib import Path

import pytest
import soundfile as sf
from cli_helpers import assert_user_error, run
from synthetic import make_datadir

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FAST = [
    "--set", "features.sample_rate=8000",
    "--set", "training.epochs=2",
    "--set", "training.progress=false",
    "--set", "model.encoder_layers=[64, 32]",
    "--set", "model.decoder_layers=[32, 64]",
    "--set", "model.latent_dim=8",
]  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    make_datadir(root / "train", n_utts=4, seconds=0.5, rate=8000, seed=0)
    make_datadir(root / "test", n_utts=2, seconds=0.5, rate=8000, seed=1)
    return root


@pytest.mark.parametrize("name", ["vae", "beta_vae", "itl_ae"])
def test_train_then_separate(data, tmp_path, name):
    exp = tmp_path / name
    result = run(
        "train",
        "--config",
        CONFIGS / f"{name}.yaml",
        "--data",
        data / "train",
        "--exp-dir",
        exp,
        *FAST,
    )
    assert result.exit_code == 0, result.output
    for f in ("config.yaml", "stats.npz", "female.pt", "male.pt", "train.log", "command.txt"):
        assert (exp / f).is_file(), f
    assert "training.epochs=2" in (exp / "command.txt").read_text()

    out = tmp_path / "sep"
    result = run("separate", data / "test" / "wav.scp", "--model", exp, "--out-dir", out)
    assert result.exit_code == 0, result.output
    for utt in ("utt000", "utt001"):
        for source in ("female", "male"):
            info = sf.info(str(out / f"{utt}_{source}.wav"))
            assert info.samplerate == 8000 and info.frames == 4000

    assert_user_error(
        run("separate", data / "test" / "wav.scp", "--model", exp, "--out-dir", out), "--force"
    )
    assert (
        run("separate", data / "test" / "wav", "--model", exp, "--out-dir", out / "dir").exit_code
        == 0
    )
    assert (out / "dir" / "utt001_mix_male.wav").is_file()

    result = run("evaluate", "--model", exp, "--data", data / "test", "--out-dir", tmp_path / "ev")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert {"sdr", "sir", "sar"} <= set(summary) and summary["num_utterances"] == 2
    header = (tmp_path / "ev" / "metrics.csv").read_text().splitlines()[0]
    assert header.startswith("utt_id,source,sdr,sir,sar")


def test_train_refuses_existing_exp_and_resumes(data, tmp_path):
    exp = tmp_path / "exp"
    args = ["train", "--config", CONFIGS / "vae.yaml", "--data", data / "train", "--exp-dir", exp]
    assert run(*args, *FAST).exit_code == 0
    assert_user_error(run(*args, *FAST), "--resume")
    more = [*FAST, "--set", "training.epochs=3"]
    result = run("train", "--data", data / "train", "--exp-dir", exp, "--resume", *more)
    assert result.exit_code == 0, result.output
    assert "/3" in result.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train", "--config", "nope.yaml", "--data", "d", "--exp-dir", "e"], "no such config"),
        (["train", "--config", CONFIGS / "vae.yaml", "--data", "nowhere", "--exp-dir", "e"],
         "nowhere: not a directory"),
        (["train", "--data", "d", "--exp-dir", "e"], "--config: required"),
        (["train", "--config", CONFIGS / "vae.yaml", "--data", "d", "--exp-dir", "e",
          "--set", "model.latent_dims=3"], "did you mean 'latent_dim'"),
        (["separate", "missing.wav", "--model", "."], "missing.wav: no such file"),
    ],
)  # fmt: skip
def test_user_errors_are_one_line(args, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_user_error(run(*args), needle)


def test_separate_rejects_non_experiment_dir(data, tmp_path):
    assert_user_error(
        run("separate", data / "test" / "wav.scp", "--model", tmp_path), "not an experiment dir"
    )
