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


# --- mps, unknown kinds, GPU indices ---------------------------------------------------------


def test_mps_without_mps_is_a_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(VaesepError, match=r"^--device: mps requested but MPS .* use auto"):
        resolve_device("mps", "--device")
    mix = make_datadir(tmp_path / "d", n_utts=1, seconds=0.3) / "wav.scp"
    result = run("separate", mix, "--out-dir", tmp_path / "o", "--model", "vae", "--device", "mps")
    assert_user_error(result, "--device: mps requested but MPS")
    assert not (tmp_path / "o").exists()


def test_mps_where_present_is_used(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("mps") == torch.device("mps")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("name", ["xpu", "meta", "vulkan", "gpu0"])
def test_other_device_kinds_name_the_choices(name):
    with pytest.raises(VaesepError, match=rf"^--device: unknown device '{name}'; use auto, cpu"):
        resolve_device(name, "--device")


def test_a_gpu_index_beyond_the_visible_ones_is_an_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(VaesepError, match=r"^--device: cuda:2 requested but only 2 GPU\(s\)"):
        resolve_device("cuda:2", "--device")


# --- the library's default is the CLI's: auto ------------------------------------------------


def test_the_library_separator_defaults_to_auto(monkeypatch):
    import inspect

    from vaesep.separation import loading, separator
    from vaesep.separation.separator import Separator

    asked = []

    def recording(name, key="device"):
        asked.append(name)
        return resolve_device(name, key)

    monkeypatch.setattr(separator, "resolve_device", recording)
    sep = Separator.pretrained("vae")
    assert asked == ["auto"] and sep.device == resolve_device("auto")
    for method in (Separator.pretrained, Separator.from_dir, Separator.from_experiment):
        assert inspect.signature(method).parameters["device"].default == "auto"
    assert inspect.signature(loading.load_separator).parameters["device"].default == "auto"
    # onnxruntime runs on the CPU: auto means the CPU there, even where a GPU is visible
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    on_ort = Separator.pretrained("vae", backend="onnxruntime")
    assert asked[-1] == "cpu" and on_ort.device == torch.device("cpu")


def test_the_networks_get_their_inputs_on_their_device():
    """On a GPU (cuda, mps) the networks read the mixture there and the STFT, masks and iSTFT
    stay on the CPU; here the meta device stands in for the GPU."""
    import numpy as np

    from vaesep.separation.separator import Separator

    sep = Separator.pretrained("vae", device="cpu")
    sep.models.to("meta")
    assert sep.device == torch.device("meta")
    seen = []

    def estimator(models, featurizer, mixture_spec):
        seen.append(mixture_spec.device)
        return {s: torch.ones(tuple(mixture_spec.shape)) for s in models}  # as if copied back

    sep.estimator = estimator
    mixture = np.full(sep.sample_rate // 2, 0.1, np.float32)
    out = sep.separate(mixture, sep.sample_rate)
    assert seen and set(seen) == {torch.device("meta")}
    assert np.allclose(out["female"], out["male"]) and np.allclose(out["female"], 0.05, atol=1e-4)
