"""Packaging: the configs shipped inside the package (``--config NAME``, ``vaesep configs``),
a lean core (what ``vaesep separate`` needs), and the extras: a command whose extra is not
installed says which in one line, exit code 2 (simulated by blocking its modules in a fresh
interpreter). ``.ci/wheel_check.sh`` checks the same on a built wheel in a fresh venv."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from cli_helpers import assert_user_error, run
from synthetic import make_datadir

from vaesep.errors import MissingExtra, VaesepError, optional
from vaesep.registry import load_config
from vaesep.zoo.configs import SHIPPED, describe, names

ROOT = Path(__file__).resolve().parents[1]
# The modules of every extra: none of them may load for the core commands.
EXTRAS = (
    "mir_eval", "scipy", "matplotlib", "librosa", "torchmetrics", "pyroomacoustics",
    "onnxruntime", "onnx", "pesq", "pystoi",
)  # fmt: skip
_WITHOUT = (
    "import sys; sys.modules.update(dict.fromkeys(sys.argv[1].split(','), None)); "
    "from vaesep.cli import main; sys.argv = ['vaesep', *sys.argv[2:]]; main()"
)


def without(modules: tuple[str, ...], *args: object, cwd: Path) -> subprocess.CompletedProcess:
    """``vaesep ARGS...`` in a fresh interpreter where ``modules`` cannot be imported."""
    command = [sys.executable, "-c", _WITHOUT, ",".join(modules), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=300)


def assert_needs(done: subprocess.CompletedProcess, message: str) -> None:
    """Exit code 2 and exactly the one line ``vaesep: error: MESSAGE`` on stderr."""
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [f"vaesep: error: {message}"], done.stderr


# --- the shipped configs ---------------------------------------------------------------------


def test_the_checkout_configs_folder_is_the_shipped_one():
    assert (ROOT / "configs").resolve() == SHIPPED
    assert {"vae", "beta_vae", "itl_ae", "rnn_mask", "nmf"} <= set(names())
    links = [p for p in ROOT.glob("recipes/*/conf/*.yaml") if p.is_symlink()]
    assert links and all(p.resolve().is_file() for p in links), "a recipe's config link broke"


def test_every_shipped_config_is_described_and_loads():
    for name in names():
        model_type, description = describe(name)
        assert load_config(name).model.type == model_type
        assert description and len(description) <= 80 and "\n" not in description


@pytest.mark.parametrize("name", ["vae", "vae.yaml"])
def test_a_shipped_config_loads_by_name(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config(name) == load_config(SHIPPED / "vae.yaml")


def test_an_existing_path_wins_over_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("vae").write_text("model:\n  type: nmf\n")
    assert load_config("vae").model.type == "nmf"


def test_an_unknown_name_is_one_line_listing_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(VaesepError) as info:
        load_config("vea")
    message = str(info.value)
    assert message.startswith("--config vea: no such config file or shipped config")
    assert "did you mean 'vae'?" in message and "beta_vae" in message
    assert "'vaesep configs'" in message and "\n" not in message


def test_configs_lists_the_shipped_configs():
    result = run("configs")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == names()
    vae = lines[names().index("vae")].split()
    assert vae[:2] == ["vae", "vae"] and "VAE of the study" in " ".join(vae)


def test_configs_name_prints_the_yaml():
    assert run("configs", "vae").stdout == (SHIPPED / "vae.yaml").read_text(encoding="utf-8")
    assert run("configs", "vae.yaml").stdout == run("configs", "vae").stdout
    assert_user_error(run("configs", "vea"), "vea: no such shipped config (did you mean 'vae'?")


def test_train_takes_a_shipped_config_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = make_datadir(tmp_path / "data", n_utts=2, rate=16000)
    result = run("train", "--config", "oracle_irm", "--data", data, "--exp-dir", "exp")
    assert result.exit_code == 0, result.output
    assert load_config("exp/config.yaml") == load_config("oracle_irm")
    assert "--config oracle_irm" in Path("exp/command.txt").read_text()
    assert_user_error(
        run("train", "--config", "vea", "--data", data, "--exp-dir", "e"), "did you mean 'vae'?"
    )


# --- the core and the extras -----------------------------------------------------------------


def test_optional_imports_or_names_the_extra():
    assert optional("json", "eval", "x").__name__ == "json"
    with pytest.raises(MissingExtra) as info:
        optional("no_such_module.sub", "eval", "vaesep evaluate")
    assert str(info.value) == "vaesep evaluate needs no_such_module: pip install 'vaesep[eval]'"
    again = pickle.loads(pickle.dumps(info.value))  # as a worker process passes it on
    assert type(again) is MissingExtra and str(again) == str(info.value)


def test_the_core_commands_need_no_extra(tmp_path):
    t = np.arange(3 * 16000) / 16000
    mix = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.3 * np.sin(2 * np.pi * 130 * t)
    sf.write(tmp_path / "mix.wav", mix.astype(np.float32), 16000)
    done = without(EXTRAS, "separate", "mix.wav", "-o", "out", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"mix_female.wav", "mix_male.wav"}
    for command in (["models"], ["configs"], ["--version"]):
        done = without(EXTRAS, *command, cwd=tmp_path)
        assert done.returncode == 0 and done.stdout, (command, done.stderr)


def test_evaluate_without_the_eval_extra(tmp_path):
    data = make_datadir(tmp_path / "data", n_utts=1)
    (tmp_path / "sep").mkdir()
    args = ["evaluate", "--separated", "sep", "--data", "data", "--out-dir", "out"]
    done = without(("mir_eval",), *args, cwd=tmp_path)
    assert_needs(done, "vaesep evaluate needs mir_eval: pip install 'vaesep[eval]'")
    assert data.is_dir() and not (tmp_path / "out").exists()


def test_run_without_the_eval_extra_trains_nothing(tmp_path):
    make_datadir(tmp_path / "data", n_utts=1)
    args = ["run", "--config", "vae", "--train", "data", "--test", "data", "--exp-dir", "exp"]
    done = without(("mir_eval",), *args, cwd=tmp_path)
    assert_needs(done, "vaesep run needs mir_eval: pip install 'vaesep[eval]'")
    assert not (tmp_path / "exp").exists()


def test_prepare_rooms_without_the_rooms_extra(tmp_path):
    make_datadir(tmp_path / "data", n_utts=1)
    done = without(("pyroomacoustics",), "prepare", "rooms", "data", "rooms", cwd=tmp_path)
    assert_needs(done, "vaesep prepare rooms needs pyroomacoustics: pip install 'vaesep[rooms]'")


def test_si_sdr_training_without_the_train_extra(tmp_path):
    make_datadir(tmp_path / "data", n_utts=1)
    args = ["train", "--config", "rnn_mask", "--set", "training.loss=si_sdr"]
    done = without(("torchmetrics",), *args, "--data", "data", "--exp-dir", "exp", cwd=tmp_path)
    assert_needs(done, "training.loss: si_sdr needs torchmetrics: pip install 'vaesep[train]'")


def test_every_recipe_config_loads():
    """A recipe's conf/<name>.yaml (its own or a link to a shipped one) passes validation, so
    a recipe never fails on its config after hours of data preparation."""
    confs = [p for p in ROOT.glob("recipes/*/conf/*.yaml") if not p.name.endswith(".about.yaml")]
    assert confs
    for path in confs:
        members = (yaml.safe_load(path.read_text()) or {}).get("members")
        if members:  # a bag: each member a model conf beside it
            for member in members:
                assert member["path"].startswith("../"), path
                load_config(str(path.parent / f"{Path(member['path']).name}.yaml"))
            continue
        load_config(str(path))
