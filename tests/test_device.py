import pytest
import torch
from cli_helpers import assert_user_error, run
from synthetic import make_datadir

from vaesep.errors import VaesepError
from vaesep.io.device import resolve_device


def test_auto_is_cuda_when_present_else_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


def test_unknown_device_names_the_key():
    with pytest.raises(VaesepError, match=r"^--device: unknown device 'gpu'; use auto, cpu"):
        resolve_device("gpu", "--device")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_an_error():
    with pytest.raises(VaesepError, match="training.device: cuda:1 requested but no GPU"):
        resolve_device("cuda:1", "training.device")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
@pytest.mark.parametrize("command", ["separate", "evaluate"])
def test_cli_device_defaults_to_auto_and_names_a_missing_gpu(command, tmp_path):
    data = make_datadir(tmp_path / "d", n_utts=1, seconds=0.3)
    args = {
        "separate": ["separate", data / "wav.scp", "--out-dir", tmp_path / "o"],
        "evaluate": ["evaluate", "--data", data, "--out-dir", tmp_path / "o", "--jobs", "1"],
    }[command]
    args += ["--model", "vae"]
    assert_user_error(run(*args, "--device", "cuda"), "--device: cuda requested but no GPU")
    assert_user_error(run(*args, "--device", "gpu"), "--device: unknown device 'gpu'")
    result = run(*args)  # auto: the CPU here
    assert result.exit_code == 0, result.output


def test_an_oracle_checks_the_device_name_though_it_runs_on_none(tmp_path):
    from pathlib import Path

    configs = Path(__file__).resolve().parents[1] / "configs"
    data = make_datadir(tmp_path / "d", n_utts=1, seconds=0.3)
    exp = tmp_path / "irm"
    sets = ["--set", "features.sample_rate=8000"]
    result = run(
        "train", "--config", configs / "oracle_irm.yaml", "--data", data, "--exp-dir", exp, *sets
    )
    assert result.exit_code == 0, result.output
    args = ["evaluate", "--model", exp, "--data", data, "--out-dir", tmp_path / "o", "--jobs", "1"]
    assert_user_error(run(*args, "--device", "gpu"), "--device: unknown device 'gpu'")
    assert run(*args).exit_code == 0
