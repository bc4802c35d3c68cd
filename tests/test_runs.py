"""``vaesep run``: one config trained and scored over several seeds into EXP/seed<N>/, seeds
already scored skipped, a failing seed reported in one line while the others still run, and
``vaesep report EXP`` pooling the seeds."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import torch
import yaml
from cli_helpers import assert_user_error, run
from synthetic import make_datadir

from vaesep.errors import VaesepError
from vaesep.scoring import runs
from vaesep.scoring.runs import parse_seeds, run_seeds, seed_dir

RATE = 8000
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
VAE = [
    f"features.sample_rate={RATE}",
    "training.epochs=1",
    "training.progress=false",
    "training.num_threads=1",
    "training.parallel_sources=false",
    "model.encoder_layers=[32]",
    "model.decoder_layers=[32]",
    "model.latent_dim=8",
]
NMF = [
    f"features.sample_rate={RATE}",
    "model.nmf_components=10",
    "model.nmf_iterations=5",
    "model.nmf_test_iterations=10",
]
SEED_FILES = ("config.yaml", "female.pt", "male.pt", "eval/metrics.csv", "eval/summary.json")
OLD = 1_000_000_000  # an mtime (s) long past, to see which files a run rewrites
OLD_NS = OLD * 10**9


def sets(overrides: list[str]) -> list[str]:
    return [arg for o in overrides for arg in ("--set", o)]


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("vaesep: error:")]


def seed_lines(result) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("seed ")]


def mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def age(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (OLD, OLD))


@pytest.fixture(autouse=True)
def restore_threads():
    """Training sets torch's thread count (training.num_threads); put it back afterwards."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    make_datadir(root / "train", n_utts=3, seconds=0.5, rate=RATE, seed=0)
    make_datadir(root / "test", n_utts=2, seconds=0.5, rate=RATE, seed=1)
    return root


# --- --seeds --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seeds"),
    [
        ("0,1,2", [0, 1, 2]),
        ("0-2", [0, 1, 2]),
        ("3", [3]),
        (" 4, 7 ", [4, 7]),
        ("0-1,5", [0, 1, 5]),
    ],
)
def test_parse_seeds(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "a", "1,1", "-1", "0-2,2", "2-0", "1,,2", "0-x"])
def test_bad_seeds_are_one_line_naming_the_option(text):
    with pytest.raises(VaesepError, match="--seeds") as caught:
        parse_seeds(text)
    assert "\n" not in str(caught.value)


def test_seed_dir():
    assert seed_dir("exp/vae", 3) == Path("exp/vae/seed3")


# --- vaesep run through the CLI -------------------------------------------------------------


def test_run_trains_scores_skips_reruns_and_reports(data, tmp_path, monkeypatch):
    exp = tmp_path / "vae"
    base = ["run", "--config", CONFIGS / "vae.yaml", "--train", data / "train"]
    base += ["--test", data / "test", "--exp-dir", exp, "--seeds", "0,1", "--jobs", "1"]

    # A bad key stops the whole run before anything is written.
    assert_user_error(run(*base, *sets([*VAE, "model.latent_dims=3"])), "latent_dim")
    assert not exp.exists()

    started = time.perf_counter()
    result = run(*base, *sets(VAE))
    first_seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    lines = seed_lines(result)
    assert [line.split(":")[0] for line in lines] == ["seed 0", "seed 1"]
    assert all(" dB, SIR " in line and "SAR" in line for line in lines)
    assert result.stdout.strip().splitlines()[-1] == f"wrote {exp}"
    for seed in (0, 1):
        folder = exp / f"seed{seed}"
        for name in SEED_FILES:
            assert (folder / name).is_file(), (seed, name)
        summary = json.loads((folder / "eval" / "summary.json").read_text())
        assert summary["num_utterances"] == 2 and {"sdr", "sir", "sar"} <= set(summary)
        assert yaml.safe_load((folder / "config.yaml").read_text())["training"]["seed"] == seed
    weights = [torch.load(exp / f"seed{s}" / "female.pt")["state_dict"] for s in (0, 1)]
    assert any(not torch.equal(weights[0][k], weights[1][k]) for k in weights[0])  # two seeds

    # Scored seeds are skipped: nothing is trained, scored or written again.
    age(exp)
    before = mtimes(exp)

    def never(*args, **kwargs):
        raise AssertionError("a scored seed was run again")

    with monkeypatch.context() as m:
        m.setattr(runs, "train", never)
        m.setattr(runs, "evaluate", never)
        started = time.perf_counter()
        result = run(*base, *sets(VAE))
        skip_seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert seed_lines(result) == [] and "already scored" in result.stderr
    assert mtimes(exp) == before
    assert skip_seconds < first_seconds

    # A seed trained but not scored (interrupted) is scored; the other one is left alone.
    (exp / "seed1" / "eval" / "summary.json").unlink()
    result = run(*base, *sets(VAE))
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in seed_lines(result)] == ["seed 1"]
    assert (exp / "seed1" / "eval" / "summary.json").is_file()
    after = mtimes(exp)
    assert all(after[k] == OLD_NS for k in after if k.startswith("seed0"))

    # --force trains and scores every seed again.
    result = run(*base, *sets(VAE), "--force")
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in seed_lines(result)] == ["seed 0", "seed 1"]
    after = mtimes(exp)
    for seed in (0, 1):
        for name in ("female.pt", "male.pt", "eval/metrics.csv", "eval/summary.json"):
            assert after[f"seed{seed}/{name}"] > OLD_NS, (seed, name)

    # 'vaesep report EXP' pools the two seeds into one result.
    result = run("report", exp, "--out-dir", tmp_path / "report")
    assert result.exit_code == 0, result.output
    markdown = (tmp_path / "report" / "RESULTS.md").read_text()
    rows = [line.split("|") for line in markdown.splitlines() if line.startswith("| vae |")]
    assert len(rows) == 1
    assert rows[0][2].strip() == "2" and rows[0][3].strip() == "2"  # utts, seeds
    assert "seeds 0, 1" in markdown


# --- a failing seed -------------------------------------------------------------------------


def failing_seed_one(monkeypatch):
    """Make training fail (a user error) for seed 1 only."""
    real = runs.train

    def train(config, *args, **kwargs):
        if config.training.seed == 1:
            raise VaesepError("training.learning_rate: the female model diverged in epoch 1")
        return real(config, *args, **kwargs)

    monkeypatch.setattr(runs, "train", train)


def test_a_failing_seed_is_reported_and_the_others_still_run(data, tmp_path, monkeypatch):
    failing_seed_one(monkeypatch)
    exp = tmp_path / "nmf"
    outcomes = run_seeds(
        CONFIGS / "nmf.yaml", data / "train", data / "test", exp, [0, 1, 2], NMF, jobs=1
    )
    assert set(outcomes) == {0, 1, 2}
    message = outcomes[1]
    assert isinstance(message, str) and "\n" not in message
    assert message.startswith(f"{seed_dir(exp, 1)}: ") and "diverged in epoch 1" in message
    for seed in (0, 2):
        assert isinstance(outcomes[seed], dict) and "sdr" in outcomes[seed], outcomes[seed]
        assert outcomes[seed]["seconds_total"] > 0
        assert (seed_dir(exp, seed) / "eval" / "summary.json").is_file()
    assert not (seed_dir(exp, 1) / "eval").exists()


def test_a_failing_seed_through_the_cli_is_exit_2_with_one_line(data, tmp_path, monkeypatch):
    failing_seed_one(monkeypatch)
    exp = tmp_path / "nmf"
    result = run(
        "run", "--config", CONFIGS / "nmf.yaml", "--train", data / "train", "--test",
        data / "test", "--exp-dir", exp, "--seeds", "0-1", "--jobs", "1", *sets(NMF),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    errors = error_lines(result)
    assert len(errors) == 1, result.stderr
    assert str(seed_dir(exp, 1)) in errors[0] and "training.learning_rate" in errors[0]
    assert "Traceback" not in result.output
    assert [line.split(":")[0] for line in seed_lines(result)] == ["seed 0"]
    assert (seed_dir(exp, 0) / "eval" / "summary.json").is_file()


def test_jobs_0_is_one_scoring_process_per_core(data, tmp_path, monkeypatch):
    seen = {}

    def fake_run_seeds(*args):
        seen["jobs"] = args[-1]
        return {}

    monkeypatch.setattr(runs, "run_seeds", fake_run_seeds)
    base = ["run", "-c", CONFIGS / "nmf.yaml", "--train", data / "train", "--test", data / "test"]
    base += ["--exp-dir", tmp_path / "exp", "--seeds", "0"]
    for jobs, expected in (("0", None), ("3", 3)):
        result = run(*base, "--jobs", jobs)
        assert result.exit_code == 0, result.output
        assert seen.pop("jobs") == expected  # None: run_seeds and evaluate use every core
    assert run(*base, "--jobs", "-1").exit_code == 2 and not seen
