"""The speech + background recipe of [116], run for real on a tiny built-in corpus."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "background" / "run.sh"
TINY = [
    "--speakers-per-gender", "2", "--utterances", "3", "--num-train", "4", "--num-test", "2",
    "--methods", "bandpass complex_vae", "--seeds", "0",
    "--train-set", "training.epochs=1 features.sample_rate=8000",
]  # fmt: skip


@pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("flite")),
    reason="the built-in corpus needs espeak-ng and flite (apt-get install espeak-ng flite)",
)
def test_the_background_recipe_runs_every_stage(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    data, exp = tmp_path / "data", tmp_path / "exp"
    args = ["bash", str(RECIPE), "--data", str(data), "--exp", str(exp), *TINY]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for split, items in (("train", 8), ("test", 4)):  # each mixture's two talkers
        folder = data / "background" / split
        assert (folder / "sources").read_text() == "speech\nbackground\n"
        assert len((folder / "wav.scp").read_text().splitlines()) == items
    for name in ("bandpass", "complex_vae", "complex_vae_alone"):
        assert (exp / name / "seed0" / "eval" / "summary.json").is_file(), name
    assert (exp / "complex_vae" / "seed0" / "speech.pt").is_file()
    rows = [line for line in (exp / "RESULTS.md").read_text().splitlines() if line[:2] == "| "]
    for name in ("mixture", "bandpass", "complex_vae", "complex_vae_alone"):
        assert any(row.startswith(f"| {name} |") for row in rows), name
    claims = (exp / "claims.csv").read_text()
    assert "complex_vae,>,complex_vae_alone,sdr" in claims
    assert "complex_vae_alone,>,bandpass,sdr" in claims
