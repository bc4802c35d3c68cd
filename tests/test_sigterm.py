"""Commands stopped by SIGTERM (what ``timeout``, SLURM and ``kill`` send) or SIGHUP: every
cleanup runs, so nothing is half-written and no temporary is left; one line on stderr says
what was kept and how to go on; the exit code is 128 + the signal's number (143 for SIGTERM);
worker processes stop with their parent and never outlive it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synthetic import make_datadir

from vaesep.io.signals import Stopped, stopping

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="POSIX signals, /proc, fork")

ROOT = Path(__file__).resolve().parents[1]
TINY = ["features.sample_rate=8000", "training.progress=false"]
TINY += ["training.early_stopping_patience=0", "training.num_threads=1"]


def _start(args: list[object], cwd: Path, module: str = "vaesep") -> subprocess.Popen:
    """``python -m vaesep ARGS`` (or ``python -c SCRIPT ARGS``) in its own process group."""
    how = ["-m", module] if module == "vaesep" else ["-c", module]
    return subprocess.Popen(
        [sys.executable, *how, *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=_default_stop_signals,  # under nohup SIGHUP comes in ignored, and stays so
    )


def _default_stop_signals() -> None:
    """In the child before exec: SIGTERM and SIGHUP at their default, whatever the tests
    inherited (``nohup`` ignores SIGHUP, and vaesep rightly leaves an ignored signal alone)."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def _wait_for(process: subprocess.Popen, ready: Callable[[], bool], timeout: float = 60) -> None:
    """Poll until ``ready()``; fail if the process ends first or it takes over ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            pytest.fail(f"ended (code {process.returncode}) too early: {process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("never got mid-write")
        time.sleep(0.01)


def _stopped(process: subprocess.Popen, signum: int = signal.SIGTERM) -> str:
    """Wait for the stopped process: exit code 128 + ``signum``, one line on stderr naming the
    signal (besides notes), no traceback; return that line."""
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    assert process.returncode == 128 + signum, err
    lines = [line for line in err.splitlines() if not line.startswith("vaesep: note: ")]
    name = signal.Signals(signum).name
    assert len(lines) == 1 and lines[0].startswith(f"vaesep: stopped by {name}; "), err
    assert "Traceback" not in out + err
    return lines[0]


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _parts(folder: Path) -> list[Path]:
    return [p for p in _files(folder) if p.name.endswith(".part")]


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and _stat(int(entry.name))[1] == str(pid):
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def _stat(pid: int) -> list[str]:
    """State, parent pid, ... of a process (/proc/PID/stat after the command name)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _assert_gone(pids: list[int], timeout: float = 20) -> None:
    """Every process of ``pids`` ends (or is a zombie) within ``timeout`` seconds."""

    def alive(pid: int) -> bool:
        try:
            return _stat(pid)[0] != "Z"
        except OSError:
            return False

    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids):
        assert time.monotonic() < deadline, f"workers outlived their parent: {pids}"
        time.sleep(0.02)


def _noise(path: Path, seconds: float, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    frames = int(seconds * 16000)
    sf.write(str(path), (0.1 * rng.standard_normal(frames)).astype(np.float32), 16000)
    return frames


# --- separate ------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_separate_stopped_mid_write_leaves_no_temporary_and_no_output(tmp_path, signum):
    _noise(tmp_path / "long.wav", 600)
    process = _start(["separate", "long.wav", "-o", "out"], tmp_path)
    _wait_for(process, lambda: bool(_parts(tmp_path / "out")))
    process.send_signal(signum)
    err = _stopped(process, signum)
    assert "rerun" in err
    assert _files(tmp_path / "out") == []


def test_separate_of_a_folder_keeps_the_finished_inputs_and_survives_a_second_sigterm(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    frames = {f"rec{i}": _noise(folder / f"rec{i}.wav", 40, seed=i) for i in range(3)}
    out = tmp_path / "out"
    process = _start(["separate", folder, "-o", out], tmp_path)
    finished = [out / "rec0_female.wav", out / "rec0_male.wav"]
    _wait_for(process, lambda: all(p.exists() for p in finished) and bool(_parts(out)))
    process.send_signal(signal.SIGTERM)
    process.send_signal(signal.SIGTERM)  # impatient: a second one while it cleans up
    err = _stopped(process)
    assert "the outputs of the inputs already separated are kept" in err
    assert _files(out) == finished  # rec1 (in progress) and rec2 left nothing
    assert all(sf.info(str(p)).frames == frames["rec0"] for p in finished)


# --- writers with worker threads and processes ---------------------------------------------


def test_prepare_stopped_leaves_no_mixtures(tmp_path, corpus_timit):
    args = ["prepare", "timit", corpus_timit, "mix", "--num-train", "225", "--num-test", "100"]
    args += ["--sample-rate", "48000"]  # a few seconds of writing
    process = _start(args, tmp_path)
    _wait_for(process, lambda: any((tmp_path / "mix").rglob("*_mix.wav")))
    process.send_signal(signal.SIGTERM)
    _stopped(process)
    assert _files(tmp_path / "mix") == []


def test_evaluate_stopped_with_its_process_group_writes_no_results(tmp_path):
    data = make_datadir(tmp_path / "data", n_utts=12, seconds=8.0, rate=16000)
    out = tmp_path / "eval"
    args = ["evaluate", "--model", "vae", "--data", data, "--out-dir", out, "--jobs", "2"]
    process = _start([*args, "--examples", "12"], tmp_path)
    examples = out / "examples"
    _wait_for(
        process, lambda: (examples / "utt004_male.wav").exists() and bool(_children(process.pid))
    )
    workers = _children(process.pid)
    os.killpg(process.pid, signal.SIGTERM)  # as a terminal or SLURM's scancel does
    assert "no results were written" in _stopped(process)
    _assert_gone(workers)
    assert not _parts(out) and all(p.parent == examples for p in _files(out))
    assert all(sf.info(str(p)).frames == 8 * 16000 for p in _files(out))


# --- train and --resume --------------------------------------------------------------------


def test_train_stopped_keeps_the_last_epoch_and_resumes(tmp_path):
    data = make_datadir(tmp_path / "data", n_utts=4, seconds=0.5, rate=8000)
    exp = tmp_path / "exp"
    config = ROOT / "configs" / "vae.yaml"
    args = ["train", "--config", config, "--data", data, "--exp-dir", exp]
    sets = [a for s in [*TINY, "training.epochs=5000"] for a in ("--set", s)]
    process = _start([*args, *sets], tmp_path)  # both sources in parallel, one worker each
    _wait_for(process, lambda: any(exp.glob("checkpoints/*.last.pt")))
    workers = _children(process.pid)
    assert len(workers) == min(2, len(os.sched_getaffinity(0)))
    process.send_signal(signal.SIGTERM)  # the parent alone, as 'timeout --foreground' does
    assert "add --resume to the same command" in _stopped(process)
    _assert_gone(workers)
    assert not _parts(exp) and not (exp / ".lock").exists()
    assert not (exp / "female.pt").exists()  # the final models only once training completes

    logged = [json.loads(line) for line in (exp / "train.log").read_text().splitlines()]
    epochs = max((r["epoch"] for r in logged), default=0) + 10  # the checkpoints: 1 ahead at most
    sets = [a for s in [*TINY, f"training.epochs={epochs}"] for a in ("--set", s)]
    done = subprocess.run(
        [sys.executable, "-m", "vaesep", *map(str, [*args, *sets, "--resume"])],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert "resuming after epoch" in done.stderr
    assert (exp / "female.pt").is_file() and (exp / "male.pt").is_file() and not _parts(exp)
    logged = [json.loads(line) for line in (exp / "train.log").read_text().splitlines()]
    for source in ("female", "male"):
        runs = [r["epoch"] for r in logged if r["source"] == source]
        assert len(set(runs)) == len(runs) and max(runs) == epochs  # none twice, all run


# --- worker processes ----------------------------------------------------------------------

# Two workers each write a file (through a temporary) that never completes.
_POOL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from concurrent.futures import as_completed
    from pathlib import Path
    from vaesep.io import workers
    from vaesep.io.atomic import atomic_path
    from vaesep.io.signals import Stopped, stopping

    def write_forever(index):
        with atomic_path(Path(sys.argv[1]) / f"{index}.txt") as tmp, tmp.open("w") as handle:
            while True:
                handle.write("x")
                handle.flush()
                time.sleep(0.01)

    with stopping():
        try:
            with workers.pool(2) as pool:
                for job in as_completed([pool.submit(write_forever, i) for i in range(2)]):
                    job.result()
        except Stopped as exc:
            print(exc)
            sys.exit(exc.exit_code)
    """
)


@pytest.mark.parametrize("target", ["parent", "group", "one worker", "parent killed"])
def test_pool_workers_clean_up_and_never_outlive_their_parent(tmp_path, target):
    process = _start([tmp_path], tmp_path, module=_POOL_SCRIPT)
    _wait_for(process, lambda: len(_parts(tmp_path)) == 2)
    workers = _children(process.pid)
    assert len(workers) == 2
    if target == "parent":
        process.send_signal(signal.SIGTERM)
    elif target == "group":
        os.killpg(process.pid, signal.SIGTERM)
    elif target == "one worker":
        os.kill(workers[0], signal.SIGTERM)  # its job stops, and so the parent
    else:
        process.kill()  # no cleanup of its own, but the workers get SIGTERM
    out, err = process.communicate(timeout=30)
    assert process.returncode == (-signal.SIGKILL if target == "parent killed" else 143), err
    assert "Traceback" not in err
    _assert_gone(workers)
    assert _files(tmp_path) == []


# --- the library: opt-in -------------------------------------------------------------------


def test_stopping_raises_once_and_restores_the_default():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Stopped) as caught, stopping():
        assert signal.getsignal(signal.SIGTERM) is not before
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler raises here
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # a second one, while cleaning up: ignored
            time.sleep(0.05)
    assert caught.value.exit_code == 143 and str(caught.value) == "stopped by SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before


def test_stopping_leaves_ignored_signals_and_other_threads_alone():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        with stopping():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)
    finally:
        signal.signal(signal.SIGHUP, previous)
    before, seen = signal.getsignal(signal.SIGTERM), []
    thread = threading.Thread(target=lambda: seen.append(_enter_off_main_thread()))
    thread.start()
    thread.join()
    assert seen == [before]


def _enter_off_main_thread() -> object:
    with stopping():  # signals reach only the main thread: nothing to take
        return signal.getsignal(signal.SIGTERM)


def test_a_stop_while_outputs_are_renamed_waits_for_the_last_one(tmp_path, monkeypatch):
    """Both of an input's outputs appear, or neither: a SIGTERM that lands between the two
    renames raises only once both are in place."""
    from vaesep.io import audio

    commit = audio.AudioWriter.commit

    def commit_then_stop(self):
        commit(self)
        os.kill(os.getpid(), signal.SIGTERM)  # lands between the two renames

    monkeypatch.setattr(audio.AudioWriter, "commit", commit_then_stop)
    paths = {s: tmp_path / f"out_{s}.wav" for s in ("female", "male")}
    with pytest.raises(Stopped), stopping():
        with audio.audio_writers(paths, 8000) as writers:
            for writer in writers.values():
                writer.write(np.zeros(800, np.float32))
    assert all(sf.info(str(p)).frames == 800 for p in paths.values())
    assert not list(tmp_path.glob(".*.part"))


def test_resume_writes_the_log_lines_a_stop_cut_off(tmp_path):
    """A stop between an epoch's checkpoint and its train.log line: --resume appends it."""
    from vaesep.registry import load_config
    from vaesep.training.experiment import train

    data = tmp_path / "d"
    make_datadir(data, n_utts=4, seconds=0.5, rate=8000)
    sets = ["features.sample_rate=8000", "training.progress=false", "training.epochs=1"]
    sets.append("training.early_stopping_patience=0")
    exp = tmp_path / "exp"
    train(load_config("configs/vae.yaml", sets), data, exp)
    log = exp / "train.log"
    kept = [line for line in log.read_text().splitlines() if '"female"' not in line]
    log.write_text("".join(f"{line}\n" for line in kept))  # the female line never written
    sets[-2] = "training.epochs=2"
    train(load_config("configs/vae.yaml", sets), data, exp, resume=True)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    for source in ("female", "male"):
        assert [r["epoch"] for r in records if r["source"] == source] == [1, 2], source
