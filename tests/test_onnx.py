"""ONNX: ``vaesep export --onnx`` writes graphs that onnxruntime runs as torch does, and the
onnxruntime backend (float32, or int8 dynamic quantization) of separate and evaluate."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from cli_helpers import assert_user_error, run
from synthetic import make_datadir, make_pair

from vaesep.errors import VaesepError
from vaesep.features import spectrogram
from vaesep.io.audio import load_audio
from vaesep.separation.onnx_runtime import example_inputs, onnx_models
from vaesep.separation.separator import Separator
from vaesep.zoo.pretrained import sha256

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def mixture() -> torch.Tensor:
    female, male = make_pair(np.random.default_rng(3), 1.3, 16000)
    return torch.from_numpy((female + male).astype(np.float32))


def test_export_writes_graphs_onnxruntime_runs_as_torch_does(tmp_path, mixture):
    out = tmp_path / "onnx"
    result = run("export", "vae", "--onnx", out, "--int8")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "onnx.json").read_text())
    assert set(manifest["files"]) == {
        f"{s}{ext}" for s in ("female", "male") for ext in (".onnx", ".int8.onnx")
    }
    assert all(sha256(out / name) == digest for name, digest in manifest["files"].items())
    assert {"config.yaml", "stats.npz"} <= {p.name for p in out.iterdir()}
    # The file on its own, outside vaesep, on a length other than the traced example's.
    torch_sep = Separator.pretrained("vae")
    spec = spectrogram(torch_sep.stft.stft(mixture), "magnitude")
    x = torch_sep.featurizer.network_input(spec).unsqueeze(0)
    mix = torch_sep.featurizer.target(spec).unsqueeze(0)
    session = ort.InferenceSession(str(out / "male.onnx"), providers=["CPUExecutionProvider"])
    feeds = {i.name: {"inputs": x, "mixture": mix}[i.name].numpy() for i in session.get_inputs()}
    got = session.run(["estimate"], feeds)[0]
    with torch.no_grad():
        expected = torch_sep.models["male"](x, mix).numpy()
    assert got.shape == expected.shape == (1, spec.shape[0], spec.shape[1])
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
    checks = manifest["deviation_from_torch"]["male"]
    assert checks["float32"] < 1e-4 < checks["int8"]  # int8 really is quantized


def test_export_refuses_to_overwrite_and_models_without_one_network_pass(tmp_path):
    out = tmp_path / "onnx"
    assert run("export", "vae", "--onnx", out).exit_code == 0
    assert_user_error(run("export", "vae", "--onnx", out), "pass --force to replace it")
    assert run("export", "vae", "--onnx", out, "--force").exit_code == 0
    assert not (out / "male.int8.onnx").exists()
    mine = tmp_path / "mine"
    (mine / "notes.txt").parent.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert_user_error(run("export", "vae", "--onnx", mine, "--force"), str(mine))
    assert (mine / "notes.txt").read_text() == "keep"
    data = make_datadir(tmp_path / "d", n_utts=1, seconds=0.3, rate=16000)
    irm = tmp_path / "irm"
    trained = run(
        "train", "--config", CONFIGS / "oracle_irm.yaml", "--data", data, "--exp-dir", irm
    )
    assert trained.exit_code == 0, trained.output
    assert_user_error(run("export", irm, "--onnx", tmp_path / "x"), "cannot be exported to ONNX")
    assert not (tmp_path / "x").exists()


def test_onnxruntime_backend_equals_torch_and_int8_stays_close(mixture):
    exact = Separator.pretrained("rnn_mask").separate_tensor(mixture)
    same = Separator.pretrained("rnn_mask", backend="onnxruntime").separate_tensor(mixture)
    assert (same - exact).abs().max() <= 1e-4
    low = Separator.pretrained("rnn_mask", precision="int8").separate_tensor(mixture)
    assert torch.allclose(low.sum(0), exact.sum(0), atol=1e-4), "the masks still sum to 1"
    error = (low - exact).norm() / exact.norm()
    assert 1e-4 < error < 0.1, error  # quantized, and close


def test_the_graphs_survive_pickling_and_a_fork(tmp_path):
    separator = Separator.pretrained("vae", precision="int8")
    example = example_inputs(separator.featurizer)
    model = separator.models["female"]
    again = pickle.loads(pickle.dumps(model))
    assert torch.equal(again(*example), model(*example))
    data = make_datadir(tmp_path / "d", n_utts=2, seconds=0.4, rate=16000)
    args = ["evaluate", "--data", data, "--model", "vae", "--examples", "0", "--quiet"]
    one = run(*args, "--out-dir", tmp_path / "e1", "--jobs", "1", "--precision", "int8")
    two = run(*args, "--out-dir", tmp_path / "e2", "--jobs", "2", "--precision", "int8")
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    summaries = [json.loads((tmp_path / e / "summary.json").read_text()) for e in ("e1", "e2")]
    assert summaries[0]["sdr"] == pytest.approx(summaries[1]["sdr"], abs=1e-6)
    assert summaries[0]["provenance"]["device"] == "cpu (onnxruntime int8)"


# Run in a fresh interpreter: what the parent holds when it forks (threads of other tests'
# sessions and pools in a long-lived test worker) is then this scenario's alone.
_FORKED_CHILD = """
import gc, multiprocessing, sys
import torch
from vaesep.separation.onnx_runtime import example_inputs
from vaesep.separation.separator import Separator

torch.get_num_threads = lambda: 2  # sessions with a thread pool


def in_child(model, example, answers):
    gc.collect()  # meets whatever the parent left in cycles, sessions included
    answers.put(model(*example).sum().item())  # replaces the inherited session with its own


if __name__ == "__main__":
    separator = Separator.pretrained("vae", precision="int8")
    model = separator.models["male"]
    example = example_inputs(separator.featurizer)
    expected = model(*example).sum().item()  # the parent's session is open now
    cycle = [Separator.pretrained("vae", backend="onnxruntime")]
    cycle[0].models["male"](*example)
    cycle.append(cycle)  # only the garbage collector frees this one: in the child, too
    del cycle
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    child = context.Process(target=in_child, args=(model, example, answers))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        sys.exit("the child hung freeing an inherited session")
    got = answers.get(timeout=5)
    print(child.exitcode, abs(got - expected) <= 1e-6 * abs(expected))
"""


def test_a_forked_child_neither_frees_nor_reuses_the_parents_session(tmp_path):
    script = tmp_path / "fork.py"
    script.write_text(_FORKED_CHILD)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0", "True"], done.stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--precision", "int8", "--backend", "torch"], "int8 runs on onnxruntime only"),
        (["--precision", "bf16", "--backend", "onnxruntime"], "bf16 runs on torch only"),
        (["--backend", "tensorrt"], "--backend 'tensorrt': use torch or onnxruntime"),
        (["--precision", "fp16"], "--precision 'fp16': use fp32, bf16, int8"),
    ],
)
def test_backend_and_precision_mistakes_are_one_line(tmp_path, args, needle):
    data = make_datadir(tmp_path / "d", n_utts=1, seconds=0.3, rate=16000)
    separate = ["separate", data / "wav.scp", "--out-dir", tmp_path / "o", "--model", "vae"]
    assert_user_error(run(*separate, *args), needle)
    assert not (tmp_path / "o").exists()


def test_cli_separate_on_onnxruntime(tmp_path):
    data = make_datadir(tmp_path / "d", n_utts=1, seconds=0.3, rate=16000)
    base = ["separate", data / "wav.scp", "--model", "vae", "--quiet"]
    assert run(*base, "--out-dir", tmp_path / "t").exit_code == 0
    assert run(*base, "--out-dir", tmp_path / "o", "--backend", "onnxruntime").exit_code == 0
    written = sorted(p.name for p in (tmp_path / "t").iterdir())
    assert written == sorted(p.name for p in (tmp_path / "o").iterdir()) and len(written) == 2
    for name in written:
        on_torch, on_ort = (load_audio(tmp_path / d / name)[0] for d in ("t", "o"))
        assert np.abs(on_torch - on_ort).max() <= 1e-4
    evaluate = ["evaluate", "--data", data, "--out-dir", tmp_path / "e", "--jobs", "1"]
    assert_user_error(
        run(*evaluate, "--separated", tmp_path / "o", "--backend", "onnxruntime"),
        "--backend: only with --model",
    )


def test_without_onnxruntime_it_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    separator = Separator.pretrained("vae")
    with pytest.raises(VaesepError, match=r"pip install 'vaesep\[onnx\]'"):
        onnx_models(dict(separator.models), separator.featurizer)


def test_without_onnx_it_says_how_to_install(monkeypatch):
    """Without the extra, torch's exporter would fail first (OnnxExporterError)."""
    monkeypatch.setitem(sys.modules, "onnx", None)  # import fails as if not installed
    separator = Separator.pretrained("vae")
    with pytest.raises(VaesepError, match=r"needs onnx: pip install 'vaesep\[onnx\]'"):
        onnx_models(dict(separator.models), separator.featurizer)


def test_help_names_the_extra():
    assert "vaesep[onnx]" in " ".join(run("separate", "--help").stdout.split())
