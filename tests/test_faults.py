"""Writers under real faults: a file-size limit (the kernel's ``EFBIG``, as a full disk fails a
write) and names near the 255-byte limit. Each command ends in one line on stderr with exit
code 2, never a traceback, and leaves nothing half-written (no partial file, no temporary)."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_helpers import assert_user_error, run
from synthetic import make_datadir

from vaesep.errors import VaesepError
from vaesep.io.atomic import NAME_MAX, atomic_path, check_name, temp_beside, write_text_atomic
from vaesep.zoo.pretrained import DEFAULT


def _limited(args: list[object], max_bytes: int, cwd: Path) -> subprocess.CompletedProcess:
    """``vaesep ARGS`` in a child whose files cannot grow beyond ``max_bytes`` (RLIMIT_FSIZE,
    SIGXFSZ ignored, so that a write past it fails with EFBIG as a full disk's does)."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return subprocess.run(
        [sys.executable, "-m", "vaesep", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )


def _one_line_error(done: subprocess.CompletedProcess, needle: str) -> None:
    """Exit code 2; one error line, the last, holding ``needle``; before it only notes."""
    assert done.returncode == 2, done.stderr
    *before, last = done.stderr.strip().splitlines()
    assert last.startswith("vaesep: error: ") and needle in last, done.stderr
    assert all(line.startswith(("vaesep: note: ", "vaesep: warning: ")) for line in before)
    assert "Traceback" not in done.stderr + done.stdout


def _files(folder: Path) -> list[str]:
    """Every file under ``folder`` (hidden ones too), relative."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("faults") / "data"
    return make_datadir(root, n_utts=2, seconds=2.0, rate=16000)


def test_separate_on_a_full_disk_is_one_line_and_writes_nothing(tmp_path):
    rng = np.random.default_rng(0)
    sf.write(str(tmp_path / "long.wav"), 0.1 * rng.standard_normal(5 * 16000), 16000)
    done = _limited(["separate", "long.wav", "-o", "out", "--subtype", "FLOAT"], 100_000, tmp_path)
    _one_line_error(done, "out/long_female.wav: could not write it")
    assert "free some disk space" in done.stderr
    assert _files(tmp_path / "out") == []


def test_prepare_on_a_full_disk_leaves_no_mixtures(tmp_path, corpus_timit):
    args = ["prepare", "timit", corpus_timit, "mix", "--num-train", "2", "--num-test", "1"]
    done = _limited(args, 20_000, tmp_path)
    _one_line_error(done, "could not write it")
    assert _files(tmp_path / "mix") == []


def test_evaluate_on_a_full_disk_writes_no_summary(data, tmp_path):
    args = ["evaluate", "--model", DEFAULT, "--data", data, "--out-dir", "eval"]
    done = _limited([*args, "--examples", "2"], 10_000, tmp_path)
    _one_line_error(done, "could not write it")
    assert not [f for f in _files(tmp_path / "eval") if not f.startswith("examples/")]
    assert not [f for f in _files(tmp_path / "eval") if f.endswith(".part")]


def test_training_on_a_full_disk_keeps_no_partial_checkpoint(data, tmp_path):
    sets = ["model.type=vae", "training.epochs=1"]
    sets += ["training.progress=false", "training.parallel_sources=false"]
    config = Path(__file__).resolve().parents[1] / "configs" / "vae.yaml"
    args = [
        "train",
        "--config",
        config,
        "--data",
        data,
        "--exp-dir",
        "exp",
        *(a for s in sets for a in ("--set", s)),
    ]
    done = _limited(args, 50_000, tmp_path)
    _one_line_error(done, "could not write it")
    left = _files(tmp_path / "exp")
    assert not [f for f in left if f.endswith((".pt", ".part"))], left


def test_separate_refuses_an_output_name_beyond_the_limit_and_suggests_name(tmp_path):
    stem = "n" * (NAME_MAX - len(".wav"))
    path = tmp_path / f"{stem}.wav"
    sf.write(str(path), np.full(1600, 0.1, np.float32), 16000)
    result = run("separate", path, "-o", tmp_path / "out")
    assert_user_error(result, "more than the 255 a file system allows")
    assert "--name" in result.stderr and _files(tmp_path / "out") == []
    shorter = run("separate", path, "-o", tmp_path / "out", "--name", "s_{source}.{ext}")
    assert shorter.exit_code == 0, shorter.output
    assert _files(tmp_path / "out") == ["s_female.wav", "s_male.wav"]


def test_long_target_names_get_short_temporaries(tmp_path):
    target = tmp_path / ("t" * NAME_MAX)
    assert len(os.fsencode(temp_beside(target).name)) < 64
    write_text_atomic(target, "whole")
    assert target.read_text() == "whole" and _files(tmp_path) == [target.name]
    replaced = run(
        "prepare",
        "perturb",
        make_datadir(tmp_path / "d", n_utts=1, seconds=0.3),
        tmp_path / ("p" * NAME_MAX),
        "--speeds",
        "1.1",
    )
    assert replaced.exit_code == 0, replaced.output


def test_a_name_beyond_the_limit_is_one_error_naming_it(tmp_path):
    with pytest.raises(VaesepError, match="256 bytes, more than the 255"):
        check_name(tmp_path / ("x" * 256))
    with pytest.raises(VaesepError, match="256 bytes"):
        write_text_atomic(tmp_path / ("x" * 256), "text")
    assert _files(tmp_path) == []


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), RuntimeError("boom")])
def test_a_failed_write_removes_its_temporary_and_names_the_file(tmp_path, error):
    target = tmp_path / "file.txt"
    with pytest.raises(VaesepError) as caught:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise error
    assert str(caught.value).startswith(f"{target}: could not write it (")
    assert _files(tmp_path) == []


def test_a_nearly_full_disk_is_named_as_such(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.disk_usage", lambda _: type("U", (), {"free": 4096})())
    with pytest.raises(VaesepError, match=r"\(no space left on the device\)"):
        with atomic_path(tmp_path / "f.bin"):
            raise RuntimeError("System error.")
