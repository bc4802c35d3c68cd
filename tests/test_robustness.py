"""Bad input of every kind (issue 6): a correct result, or exit code 2 with one line on stderr
naming the file or key and the fix; never a traceback, a lost result or unbounded memory."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from synthetic import make_datadir, make_pair
from typer.testing import CliRunner, Result

from vaesep.cli import app
from vaesep.data.datadir import read_scp
from vaesep.io.audio import resample
from vaesep.separation.separator import Separator

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "vae.yaml"
RATE = 8000
TINY = [
    "--set", "features.sample_rate=8000",
    "--set", "training.epochs=1",
    "--set", "training.progress=false",
    "--set", "model.encoder_layers=[32]",
    "--set", "model.decoder_layers=[32]",
    "--set", "model.latent_dim=4",
]  # fmt: skip


def run(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_error(result: Result, *needles: object) -> None:
    """Exit code 2 and one error line on stderr holding every needle (the file or key, the fix).

    Progress notes printed before the failure (``vaesep: note: ...``) may precede it.
    """
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("vaesep: error: ")]
    assert len(errors) == 1, result.stderr
    assert all(line.startswith("vaesep: note: ") for line in lines if line not in errors), lines
    for needle in needles:
        assert str(needle) in errors[0], (needle, errors[0])
    assert "Traceback" not in result.output


def assert_ok(result: Result) -> None:
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Traceback" not in result.output and "error" not in result.stderr


def mixture(seconds: float = 0.5, rate: int = RATE, seed: int = 0) -> np.ndarray:
    female, male = make_pair(np.random.default_rng(seed), seconds, rate)
    return female + male


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("robust")
    make_datadir(root / "train", n_utts=4, seconds=0.5, rate=RATE, seed=0)
    make_datadir(root / "test", n_utts=2, seconds=0.5, rate=RATE, seed=1)
    return root


@pytest.fixture(scope="module")
def exp(data: Path) -> Path:
    """One tiny trained model for the whole module."""
    result = run(
        "train", "--config", CONFIG, "--data", data / "train", "--exp-dir", data / "exp", *TINY
    )
    assert_ok(result)
    return data / "exp"


@pytest.fixture(scope="module")
def evaluated(data: Path, exp: Path) -> Path:
    out = data / "eval"
    assert_ok(
        run("evaluate", "--model", exp, "--data", data / "test", "--out-dir", out, "--jobs", 1)
    )
    return out


def separate(exp: Path, out: Path, *inputs: object) -> Result:
    return run("separate", *inputs, "--model", exp, "--out-dir", out)


def copy_datadir(src: Path, dst: Path) -> Path:
    """A copy of a data dir whose scp files point at copies of its wavs (safe to damage)."""
    shutil.copytree(src / "wav", dst / "wav")
    for scp in ("wav.scp", "spk1.scp", "spk2.scp"):
        text = (src / scp).read_text().replace(str(src / "wav"), str(dst / "wav"))
        (dst / scp).write_text(text)
    return dst


# --- bad audio files -----------------------------------------------------------------------


def _good_bytes(tmp: Path) -> bytes:
    sf.write(str(tmp / "good.wav"), mixture(), RATE, subtype="PCM_16")
    return (tmp / "good.wav").read_bytes()


def _with_sample(value: float) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        signal = mixture()
        signal[100] = value
        sf.write(str(path), signal, RATE, subtype="FLOAT")

    return write


def _corrupted(path: Path) -> None:
    raw = bytearray(_good_bytes(path.parent))
    raw[0:4] = b"XXXX"
    path.write_bytes(bytes(raw))


BAD_FILES: dict[str, tuple[Callable[[Path], None], str]] = {
    "empty": (lambda p: sf.write(str(p), np.zeros(0, np.float32), RATE), "record it again"),
    "zero_bytes": (lambda p: p.write_bytes(b""), "use WAV, FLAC"),
    "nan": (_with_sample(np.nan), "NaN or infinite samples; repair"),
    "inf": (_with_sample(np.inf), "NaN or infinite samples; repair"),
    "truncated_header": (lambda p: p.write_bytes(_good_bytes(p.parent)[:20]), "use WAV, FLAC"),
    "corrupted_header": (_corrupted, "use WAV, FLAC"),
    "text": (lambda p: p.write_text("not audio at all\n"), "use WAV, FLAC"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_separate_rejects_a_bad_file_in_one_line(exp: Path, tmp_path: Path, kind: str) -> None:
    write, fix = BAD_FILES[kind]
    path = tmp_path / f"{kind}.wav"
    write(path)
    assert_error(separate(exp, tmp_path / "out", path), path, fix)
    assert not list((tmp_path / "out").glob("*")), "no partial output is left behind"


def test_separate_goes_on_after_a_bad_file(exp: Path, tmp_path: Path) -> None:
    BAD_FILES["text"][0](tmp_path / "bad.wav")
    sf.write(str(tmp_path / "good.wav"), mixture(), RATE)
    result = separate(exp, tmp_path / "out", tmp_path / "bad.wav", tmp_path / "good.wav")
    assert_error(result, tmp_path / "bad.wav")
    assert (tmp_path / "out" / "good_female.wav").is_file()


def test_separate_reads_what_a_truncated_file_holds(exp: Path, tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    path.write_bytes(_good_bytes(tmp_path)[: 44 + 2 * 1000])  # header promises 4000 samples
    assert_ok(separate(exp, tmp_path / "out", path))
    assert sf.info(str(tmp_path / "out" / "cut_male.wav")).frames == 1000


def test_separate_missing_path(exp: Path, tmp_path: Path) -> None:
    assert_error(separate(exp, tmp_path, tmp_path / "nope.wav"), "nope.wav", "check the path")


def test_separate_folder_without_audio(exp: Path, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("x")
    assert_error(separate(exp, tmp_path / "out", tmp_path / "in"), tmp_path / "in", "no audio")


# --- formats, channels and rates: separated correctly --------------------------------------

FORMATS = {
    "pcm_u8": ("wav", "PCM_U8", 1, RATE),
    "pcm_24": ("wav", "PCM_24", 1, RATE),
    "float32": ("wav", "FLOAT", 1, RATE),
    "stereo": ("wav", "PCM_16", 2, RATE),
    "six_channels": ("wav", "PCM_16", 6, RATE),
    "22050_hz": ("wav", "PCM_16", 1, 22050),
    "44100_hz": ("wav", "PCM_16", 1, 44100),
    "48000_hz": ("wav", "PCM_16", 1, 48000),
    "flac": ("flac", "PCM_16", 1, RATE),
    "ogg_vorbis": ("ogg", "VORBIS", 2, 22050),
}


@pytest.mark.parametrize("name", FORMATS)
def test_separate_any_format(exp: Path, tmp_path: Path, name: str) -> None:
    ext, subtype, channels, rate = FORMATS[name]
    mono = 0.5 * mixture(0.6, rate)
    signal = np.stack([mono * (1 - 0.1 * c) for c in range(channels)], axis=1)
    path = tmp_path / f"in.{ext}"
    sf.write(str(path), signal, rate, subtype=subtype)
    assert_ok(separate(exp, tmp_path / "out", path))
    read = sf.read(str(path), dtype="float32", always_2d=True)[0].mean(axis=1)
    total = np.zeros(len(read))
    # The outputs keep the input's format and sample type where they can (WAV/FLAC, 16/24-bit,
    # float), float WAV otherwise.
    out_ext = "flac" if ext == "flac" else "wav"
    out_subtype = subtype if subtype in ("PCM_16", "PCM_24", "FLOAT") else "FLOAT"
    for source in ("female", "male"):
        target = tmp_path / "out" / f"in_{source}.{out_ext}"
        assert (sf.info(str(target)).format, sf.info(str(target)).subtype) == (
            out_ext.upper(),
            out_subtype,
        )
        out, out_rate = sf.read(str(target), always_2d=True)
        assert out_rate == rate and out.shape == (len(read), 1)
        total += out[:, 0]
    # The masks sum to one: the estimates add up to the mixture as the model hears it (up to
    # the rounding of 16-bit samples).
    expected = resample(resample(read, rate, RATE), RATE, rate)[: len(read)]
    assert np.allclose(total, expected, atol=1e-4)


@pytest.mark.parametrize("length", [1, 10])
@pytest.mark.parametrize("rate", [RATE, 44100])
def test_separate_input_shorter_than_a_window(
    exp: Path, tmp_path: Path, length: int, rate: int
) -> None:
    path = tmp_path / "short.wav"
    sf.write(str(path), mixture(1.0, rate)[:length], rate, subtype="FLOAT")
    assert_ok(separate(exp, tmp_path / "out", path))
    out = [sf.read(str(tmp_path / "out" / f"short_{s}.wav"))[0] for s in ("female", "male")]
    assert all(len(x) == length for x in out)
    if rate == RATE:
        assert np.allclose(out[0] + out[1], sf.read(str(path))[0], atol=1e-5)


def test_separate_silence_gives_silence(exp: Path, tmp_path: Path) -> None:
    sf.write(str(tmp_path / "quiet.wav"), np.zeros(4000, np.float32), RATE)
    result = separate(exp, tmp_path / "out", tmp_path / "quiet.wav")
    assert_ok(result)
    assert "silent" in result.stderr and "quiet.wav" in result.stderr
    for source in ("female", "male"):
        out = sf.read(str(tmp_path / "out" / f"quiet_{source}.wav"))[0]
        assert len(out) == 4000 and not np.any(out)


# --- scp files and data dirs ---------------------------------------------------------------


def _scp(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "wav.scp"
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def test_scp_with_a_missing_file(exp: Path, data: Path, tmp_path: Path) -> None:
    scp = _scp(tmp_path, [f"a {data}/test/wav/utt000_mix.wav", f"b {tmp_path}/gone.wav"])
    assert_error(separate(exp, tmp_path / "out", scp), f"{scp}:2", "gone.wav", "drop the line")


def test_scp_with_a_duplicate_id(exp: Path, data: Path, tmp_path: Path) -> None:
    wav = data / "test" / "wav" / "utt000_mix.wav"
    scp = _scp(tmp_path, [f"a {wav}", f"a {wav}"])
    assert_error(separate(exp, tmp_path / "out", scp), f"{scp}:2", "duplicate", "unique")


def test_unsorted_scp_is_accepted_and_sorted(exp: Path, data: Path, tmp_path: Path) -> None:
    wav = data / "test" / "wav"
    scp = _scp(tmp_path, [f"z {wav}/utt001_mix.wav", f"a {wav}/utt000_mix.wav"])
    assert list(read_scp(scp)) == ["a", "z"]
    result = separate(exp, tmp_path / "out", scp)
    assert_ok(result)
    assert result.stdout.index("utt000_mix") < result.stdout.index("utt001_mix")
    assert (tmp_path / "out" / "z_male.wav").is_file()


def test_train_data_dir_without_spk2(exp: Path, data: Path, tmp_path: Path) -> None:
    copy = copy_datadir(data / "train", tmp_path / "d")
    (copy / "spk2.scp").unlink()
    result = run("train", "--config", CONFIG, "--data", copy, "--exp-dir", tmp_path / "e", *TINY)
    assert_error(result, copy / "spk2.scp", "male references")


def test_evaluate_data_dir_without_spk2(exp: Path, data: Path, tmp_path: Path) -> None:
    copy = copy_datadir(data / "test", tmp_path / "d")
    (copy / "spk2.scp").unlink()
    result = run("evaluate", "--model", exp, "--data", copy, "--out-dir", tmp_path / "ev")
    assert_error(result, copy / "spk2.scp", "male references")


def test_train_missing_data_path(tmp_path: Path) -> None:
    result = run("train", "--config", CONFIG, "--data", tmp_path / "no", "--exp-dir", tmp_path)
    assert_error(result, tmp_path / "no", "vaesep prepare")


def test_train_folder_without_audio(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    result = run("train", "--config", CONFIG, "--data", tmp_path / "d", "--exp-dir", tmp_path / "e")
    assert_error(result, tmp_path / "d" / "wav.scp", "needs wav.scp")


@pytest.mark.parametrize("kind", ["empty", "nan", "text"])
def test_train_names_a_bad_file(data: Path, tmp_path: Path, kind: str) -> None:
    copy = copy_datadir(data / "train", tmp_path / "d")
    bad = copy / "wav" / "utt002_female.wav"
    BAD_FILES[kind][0](bad)
    result = run("train", "--config", CONFIG, "--data", copy, "--exp-dir", tmp_path / "e", *TINY)
    assert_error(result, bad, BAD_FILES[kind][1])


# --- configs -------------------------------------------------------------------------------

BAD_CONFIGS = {
    "unparsable": ("features: [1, 2\n", ["bad.yaml:", "fix the YAML syntax"]),
    "unknown_key": ("features:\n  windw_ms: 16\n", ["features.windw_ms", "'window_ms'"]),
    "wrong_type": ("training:\n  epochs: many\n", ["training.epochs", "expected an integer"]),
    "not_finite": ("features:\n  window_ms: .inf\n", ["features.window_ms", "finite"]),
    "negative_window": ("features:\n  window_ms: -16\n", ["features.window_ms", "positive"]),
    "overlap_too_big": (
        "features:\n  window_ms: 16\n  overlap_ms: 16\n",
        ["features.overlap_ms", "smaller than features.window_ms"],
    ),
}


@pytest.mark.parametrize("name", BAD_CONFIGS)
def test_bad_config(data: Path, tmp_path: Path, name: str) -> None:
    text, needles = BAD_CONFIGS[name]
    (tmp_path / "bad.yaml").write_text(text)
    args = ["train", "--config", tmp_path / "bad.yaml", "--data", data / "train"]
    assert_error(run(*args, "--exp-dir", tmp_path / "e"), *needles)
    assert not (tmp_path / "e").exists()


def test_bad_override(data: Path, tmp_path: Path) -> None:
    args = ["train", "--config", CONFIG, "--data", data / "train", "--exp-dir", tmp_path / "e"]
    assert_error(run(*args, "--set", "model.latnt_dim=4"), "model.latnt_dim", "'latent_dim'")


# --- --model -------------------------------------------------------------------------------


def test_model_that_is_not_an_experiment(tmp_path: Path) -> None:
    sf.write(str(tmp_path / "a.wav"), mixture(), RATE)
    result = run("separate", tmp_path / "a.wav", "--model", tmp_path, "--out-dir", tmp_path / "o")
    assert_error(result, tmp_path, "not an experiment dir", "vaesep train")


@pytest.mark.parametrize("edit", [("model", "latent_dim", 8), ("features", "window_ms", 32.0)])
def test_model_whose_config_was_edited(exp: Path, tmp_path: Path, edit: tuple) -> None:
    edited = tmp_path / "exp"
    shutil.copytree(exp, edited)
    config = yaml.safe_load((edited / "config.yaml").read_text())
    config[edit[0]][edit[1]] = edit[2]
    (edited / "config.yaml").write_text(yaml.safe_dump(config))
    sf.write(str(tmp_path / "a.wav"), mixture(), RATE)
    result = run("separate", tmp_path / "a.wav", "--model", edited, "--out-dir", tmp_path / "o")
    assert_error(result, "female.pt", "trained with other feature/model settings", "retrain")


# --- evaluate and report -------------------------------------------------------------------


def test_evaluate_silent_reference_gives_nan_rows(exp: Path, data: Path, tmp_path: Path) -> None:
    copy = copy_datadir(data / "test", tmp_path / "d")
    sf.write(str(copy / "wav" / "utt000_male.wav"), np.zeros(4000, np.float32), RATE)
    result = run("evaluate", "--model", exp, "--data", copy, "--out-dir", tmp_path / "ev")
    assert_ok(result)
    assert "warning: utt000" in result.stderr and "NaN" in result.stderr
    rows = (tmp_path / "ev" / "metrics.csv").read_text().splitlines()[1:]
    assert all(",nan," in r for r in rows if r.startswith("utt000"))
    assert not any(",nan," in r for r in rows if r.startswith("utt001"))


def test_evaluate_keeps_the_utterances_that_work(exp: Path, data: Path, tmp_path: Path) -> None:
    copy = copy_datadir(data / "test", tmp_path / "d")
    (copy / "wav" / "utt001_mix.wav").write_text("broken")
    args = ["evaluate", "--model", exp, "--data", copy, "--out-dir", tmp_path / "ev"]
    result = run(*args, "--jobs", 1)
    assert_ok(result)
    assert "utt001: separation failed" in result.stderr and "failed: 1" in result.stdout
    rows = (tmp_path / "ev" / "metrics.csv").read_text().splitlines()[1:]
    assert {r.split(",")[0] for r in rows} == {"utt000"}


def test_evaluate_missing_data_path(exp: Path, tmp_path: Path) -> None:
    result = run("evaluate", "--model", exp, "--data", tmp_path / "no", "--out-dir", tmp_path)
    assert_error(result, tmp_path / "no", "not a directory")


def test_report_missing_dir(tmp_path: Path) -> None:
    assert_error(run("report", tmp_path / "no"), tmp_path / "no", "vaesep evaluate")


def test_report_corrupt_metrics(evaluated: Path, tmp_path: Path) -> None:
    shutil.copytree(evaluated, tmp_path / "ev")
    (tmp_path / "ev" / "metrics.csv").write_text("utt_id,source\n")
    assert_error(run("report", tmp_path / "ev"), "metrics.csv", "rerun 'vaesep evaluate'")


def test_report_out_dir_is_a_file(evaluated: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert_error(run("report", evaluated, "--out-dir", tmp_path / "file"), tmp_path / "file")


@pytest.mark.parametrize(
    "error",
    [MemoryError(), RuntimeError("DefaultCPUAllocator: can't allocate memory: 10 GB")],
)
def test_out_of_memory_is_one_line(
    exp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def exhausted(*args: object) -> None:
        raise error

    monkeypatch.setattr(Separator, "separate_file", exhausted)
    sf.write(str(tmp_path / "a.wav"), mixture(), RATE)
    assert_error(separate(exp, tmp_path / "o", tmp_path / "a.wav"), "out of memory", "smaller")


# --- outputs are never overwritten without --force -----------------------------------------


def test_separate_does_not_overwrite(exp: Path, tmp_path: Path) -> None:
    sf.write(str(tmp_path / "a.wav"), mixture(), RATE)
    assert_ok(separate(exp, tmp_path / "o", tmp_path / "a.wav"))
    before = (tmp_path / "o" / "a_female.wav").read_bytes()
    assert_error(separate(exp, tmp_path / "o", tmp_path / "a.wav"), "a_", "--force")
    assert (tmp_path / "o" / "a_female.wav").read_bytes() == before


def test_evaluate_does_not_overwrite(exp: Path, data: Path, evaluated: Path) -> None:
    before = (evaluated / "metrics.csv").read_text()
    result = run("evaluate", "--model", exp, "--data", data / "test", "--out-dir", evaluated)
    assert_error(result, evaluated, "--force")
    assert (evaluated / "metrics.csv").read_text() == before


def test_report_does_not_overwrite(evaluated: Path, tmp_path: Path) -> None:
    assert_ok(run("report", evaluated, "--out-dir", tmp_path))
    assert_error(run("report", evaluated, "--out-dir", tmp_path), "RESULTS.md", "--force")
    assert_ok(run("report", evaluated, "--out-dir", tmp_path, "--force"))


def test_prepare_does_not_overwrite(corpus_manifest: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    result = run("prepare", "manifest", corpus_manifest, tmp_path / "out", "--num-train", 2)
    assert_error(result, tmp_path / "out", "--force")
    assert (tmp_path / "out" / "mine.txt").read_text() == "keep"


def test_prepare_missing_and_empty_corpus(tmp_path: Path) -> None:
    assert_error(run("prepare", "timit", tmp_path / "no", tmp_path / "o"), tmp_path / "no")
    (tmp_path / "empty").mkdir()
    result = run("prepare", "timit", tmp_path / "empty", tmp_path / "o")
    assert_error(result, tmp_path / "empty", "expected TRAIN/ or TEST/")
    result = run("prepare", "manifest", tmp_path / "no.csv", tmp_path / "o")
    assert_error(result, tmp_path / "no.csv", "path,speaker,gender")


def test_synth_corpus_does_not_overwrite(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep")
    assert_error(run("synth-corpus", tmp_path), tmp_path, "--force")
    assert_error(run("synth-corpus", tmp_path / "mine.txt"), "mine.txt", "not a directory")


def test_train_does_not_overwrite(exp: Path, data: Path) -> None:
    result = run("train", "--config", CONFIG, "--data", data / "train", "--exp-dir", exp, *TINY)
    assert_error(result, exp, "--resume", "--force")


# --- training: locks, divergence, interruption ---------------------------------------------


def test_second_training_in_the_same_dir_is_refused(exp: Path, data: Path, tmp_path: Path) -> None:
    busy = tmp_path / "exp"
    shutil.copytree(exp, busy)
    (busy / ".lock").write_text(str(os.getpid()))  # a live process holds it
    args = ["train", "--config", CONFIG, "--data", data / "train", "--exp-dir", busy, *TINY]
    assert_error(run(*args, "--force"), f"pid {os.getpid()}", ".lock")
    assert (busy / "female.pt").is_file(), "--force deleted nothing while the lock is held"


class FakeKernel32:
    """kernel32 of a Windows where process 7 runs, 8 has exited, 9 is another user's."""

    def __init__(self) -> None:
        self.closed: list[int] = []

    def OpenProcess(self, access: int, inherit: bool, pid: int) -> int:
        return {7: 70, 8: 80}.get(pid, 0)

    def GetExitCodeProcess(self, handle: int, code) -> int:
        code._obj.value = 259 if handle == 70 else 0  # STILL_ACTIVE, or its exit code
        return 1

    def CloseHandle(self, handle: int) -> int:
        self.closed.append(handle)
        return 1


def test_on_windows_the_lock_probe_never_calls_os_kill(tmp_path: Path, monkeypatch) -> None:
    import ctypes

    from vaesep import expdir
    from vaesep.errors import VaesepError

    def kill(pid: int, sig: int) -> None:
        raise AssertionError("os.kill(pid, 0) terminates the process on Windows")

    kernel32 = FakeKernel32()
    monkeypatch.setattr(expdir, "_kernel32", lambda: kernel32)
    monkeypatch.setattr(ctypes, "get_last_error", lambda: 5, raising=False)
    monkeypatch.setattr(os, "kill", kill)  # Windows as expdir sees it (pathlib stays POSIX):
    monkeypatch.setattr(expdir, "os", SimpleNamespace(**{**vars(os), "name": "nt"}))
    assert expdir._pid_alive(7) and not expdir._pid_alive(8)
    assert kernel32.closed == [70, 80], "every handle opened is closed"
    assert expdir._pid_alive(9), "access denied: it exists (another user's)"
    monkeypatch.setattr(ctypes, "get_last_error", lambda: 87, raising=False)
    assert not expdir._pid_alive(9), "invalid parameter: no such process"
    (tmp_path / ".lock").write_text("8")  # a stale lock is taken over
    with expdir.ExpDir(tmp_path).lock():
        assert (tmp_path / ".lock").read_text() == str(os.getpid())
    (tmp_path / ".lock").write_text("7")  # a live one is refused
    with pytest.raises(VaesepError, match="pid 7"), expdir.ExpDir(tmp_path).lock():
        pass


def test_on_posix_the_lock_probe_is_os_kill_0(monkeypatch) -> None:
    from vaesep import expdir

    def kill(pid: int, sig: int) -> None:
        assert sig == 0
        if pid == 8:
            raise ProcessLookupError
        if pid == 9:
            raise PermissionError

    monkeypatch.setattr(expdir, "_windows_pid_alive", lambda pid: pytest.fail("not on POSIX"))
    monkeypatch.setattr(os, "kill", kill)
    monkeypatch.setattr(expdir, "os", SimpleNamespace(**{**vars(os), "name": "posix"}))
    assert expdir._pid_alive(7) and not expdir._pid_alive(8) and expdir._pid_alive(9)


def test_diverging_training_stops_and_keeps_the_checkpoint(
    exp: Path, data: Path, tmp_path: Path
) -> None:
    work = tmp_path / "exp"
    shutil.copytree(exp, work)
    ckpt = work / "checkpoints" / "female.last.pt"
    before = ckpt.read_bytes()
    args = ["train", "--config", CONFIG, "--data", data / "train", "--exp-dir", work, *TINY]
    result = run(
        *args, "--resume", "--set", "training.epochs=3", "--set", "training.learning_rate=1e30"
    )
    assert_error(result, "training.learning_rate", "diverged", "checkpoint", "kept", "lower")
    assert ckpt.read_bytes() == before and not (work / ".lock").exists()


def _long_training(data: Path, exp_dir: Path) -> list[object]:
    """A training of a few seconds, with dropout, on one thread (repeatable on the CPU)."""
    args = ["train", "--config", CONFIG, "--data", data, "--exp-dir", exp_dir, *TINY]
    args += ["--set", "training.epochs=6", "--set", "training.batch_size=16"]
    return [*args, "--set", "training.num_threads=1", "--set", "model.dropout=0.1"]


def _train_process(data: Path, exp_dir: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "vaesep", *map(str, _long_training(data, exp_dir))]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_killed_training_resumes_to_the_same_weights(tmp_path: Path) -> None:
    data = make_datadir(tmp_path / "data", n_utts=6, seconds=1.0, rate=RATE, seed=3)
    reference = _train_process(data, tmp_path / "ref")
    victim = _train_process(data, tmp_path / "killed")
    ckpt = tmp_path / "killed" / "checkpoints" / "female.last.pt"
    deadline = time.monotonic() + 120
    while not ckpt.exists():
        assert victim.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert (tmp_path / "killed" / ".lock").exists() and not (
        tmp_path / "killed" / "male.pt"
    ).exists()
    result = run(*_long_training(data, tmp_path / "killed"), "--resume")
    assert_ok(result)
    assert "female: resuming after epoch" in result.stderr
    assert reference.wait(timeout=120) == 0
    for source in ("female", "male"):
        ours = torch.load(tmp_path / "killed" / f"{source}.pt", weights_only=True)["state_dict"]
        ref = torch.load(tmp_path / "ref" / f"{source}.pt", weights_only=True)["state_dict"]
        assert ours.keys() == ref.keys()
        assert all(torch.equal(ours[k], ref[k]) for k in ref), source
    log = (tmp_path / "killed" / "train.log").read_text().splitlines()
    epochs = [(r["source"], r["epoch"]) for r in map(yaml.safe_load, log)]
    assert len(epochs) == len(set(epochs)), "no epoch is logged twice"


# --- streaming -----------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [RATE, 44100])
def test_streaming_file_equals_in_memory(exp: Path, tmp_path: Path, rate: int) -> None:
    path = tmp_path / "long.wav"
    sf.write(str(path), np.stack([mixture(3.0, rate), mixture(3.0, rate, 1)], 1), rate)
    separator = Separator.from_dir(exp, chunk_seconds=0.25)
    outs = {s: tmp_path / f"{s}.wav" for s in separator.sources}
    separator.separate_file(path, outs)
    in_memory = separator.separate(path)
    whole = Separator.from_dir(exp).separate(path)  # one chunk
    for source in separator.sources:
        streamed, out_rate = sf.read(str(outs[source]), dtype="float32")
        assert out_rate == rate and len(streamed) == 3 * rate
        assert np.array_equal(streamed, in_memory[source])
        assert np.allclose(streamed, whole[source], atol=1e-5)


def test_scientific_notation_is_a_number() -> None:
    from vaesep.registry import load_config

    assert load_config(None, ["training.learning_rate=1e-4"]).training.learning_rate == 1e-4
