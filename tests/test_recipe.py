"""The timit_mf recipe, run for real on a tiny built-in corpus (SpeechBrain-style recipe test)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "timit_mf" / "run.sh"
TINY = [
    "--speakers-per-gender", "2", "--utterances", "3", "--num-train", "4", "--num-test", "2",
    "--train-set", "training.epochs=1 training.progress=false",
]  # fmt: skip


def run_recipe(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", str(RECIPE), *args], env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("flite")),
    reason="the built-in corpus needs espeak-ng and flite (apt-get install espeak-ng flite)",
)
def test_recipe_runs_every_stage_and_skips_done_work(tmp_path):
    data, exp = tmp_path / "data", tmp_path / "exp"
    result = run_recipe("--data", str(data), "--exp", str(exp), *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (data / "corpus" / "corpus.json").is_file()
    for split in ("train", "test"):
        for name in ("wav.scp", "spk1.scp", "spk2.scp", "utt2spk"):
            assert (data / "mixtures" / split / name).is_file()
    models = ("vae", "beta_vae", "itl_ae", "vrnn", "rnn_mask")
    for model in models:
        for name in ("config.yaml", "command.txt", "female.pt", "male.pt", "stats.npz"):
            assert (exp / model / name).is_file(), (model, name)
        assert len(list((exp / model / "separated").glob("*_female.wav"))) == 2
        assert (exp / model / "eval" / "summary.json").is_file()
    table = (exp / "RESULTS.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    for name in ("mixture", "nmf", *models, "oracle_irm", "oracle_wiener", "oracle_ibm"):
        assert any(row.startswith(f"| {name} |") for row in rows), name
    assert (exp / "violins.png").stat().st_size > 1000

    again = run_recipe("--data", str(data), "--exp", str(exp), "--stage", "1", "--stop-stage", "3")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("already") >= 16  # mixtures, 10 trainings, 6 separations


def test_recipe_rejects_unknown_option():
    result = run_recipe("--no-such-option", "1")
    assert result.returncode == 2
    assert "unknown option --no-such-option" in result.stderr
