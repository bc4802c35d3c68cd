"""The experiment dir: its file names, lock, atomic saves, and everything written and read there.

An experiment dir holds ``config.yaml`` (resolved: only the chosen model's keys), ``stats.npz``
(feature statistics), ``<source>.pt`` (best weights, the registry name, input/output sizes and
the software versions) with ``<source>.json`` (its summary), ``train.log`` (JSON lines),
``command.txt`` (the command that trained it) and ``checkpoints/<source>.last.pt`` (the last
epoch's weights, every optimizer's state and the random-generator state, for ``--resume``).
A bag dir (:class:`vaesep.Bag`) holds ``bag.yaml`` instead: its member dirs and weights.
"""

from __future__ import annotations

import json
import os
import pickle
import platform
import shlex
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from vaesep.config import Config, config_from_dict, read_yaml, save_config
from vaesep.errors import VaesepError
from vaesep.features import FeatureStats, Featurizer, spectrum_dim
from vaesep.io.atomic import atomic_path, write_text_atomic
from vaesep.io.overrides import apply_overrides
from vaesep.registry import MODELS, SECTIONS
from vaesep.version import __version__

CONFIG_FILE = "config.yaml"
STATS_FILE = "stats.npz"
LOG_FILE = "train.log"
LOCK_FILE = ".lock"
COMMAND_FILE = "command.txt"
CHECKPOINTS = "checkpoints"
BAG_FILE = "bag.yaml"


def is_bag(path: str | Path) -> bool:
    """Whether ``path`` is a bag dir (several models averaged), not one experiment."""
    return (Path(path) / BAG_FILE).is_file()


def versions() -> dict[str, str]:
    """The software versions recorded in every checkpoint."""
    return {
        "vaesep": __version__,
        "torch": str(torch.__version__),
        "python": platform.python_version(),
    }


def atomic_save(obj: object, path: Path) -> None:
    """torch.save ``obj`` to ``path``, whole or not at all."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


@dataclass(frozen=True)
class Checkpoint:
    """One source's saved model: network sizes and weights."""

    input_dim: int
    output_dim: int
    state_dict: dict[str, torch.Tensor]


@dataclass(frozen=True)
class Experiment:
    """What :func:`load` reads: the config, the feature statistics and each source's model."""

    path: Path
    config: Config
    stats: FeatureStats
    checkpoints: dict[str, Checkpoint]


class ExpDir:
    """An experiment dir being written by a training (see the module docstring)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def checkpoint_path(self, source: str) -> Path:
        return self.path / CHECKPOINTS / f"{source}.last.pt"

    def write_setup(self, config: Config, stats: FeatureStats) -> None:
        """The resolved config and the feature statistics (written before any model)."""
        save_config(config, self.path / CONFIG_FILE)
        stats.save(self.path / STATS_FILE)

    def append_log(self, records: list[dict]) -> None:
        """Append JSON lines to ``train.log``."""
        with open(self.path / LOG_FILE, "a", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in records)

    def complete_log(self, name: str, history: list[dict]) -> None:
        """Append the epochs of ``name`` a checkpoint holds that ``train.log`` lacks (a stop
        between saving the checkpoint and appending its line)."""
        path = self.path / LOG_FILE
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        logged = sum(1 for r in map(_record, lines) if r.get("source") == name and "epoch" in r)
        if history[logged:]:
            self.append_log(history[logged:])

    def save_source(self, source: str, config: Config, state_dict: dict, summary: dict) -> dict:
        """Write ``<source>.pt`` (weights, sizes, versions) and ``<source>.json``; return it."""
        atomic_save(
            {
                "model_type": config.model.type,
                "input_dim": Featurizer(config.features).input_dim,
                "output_dim": spectrum_dim(config.features),
                "state_dict": {k: v.cpu() for k, v in state_dict.items()},
                "versions": versions(),
            },
            self.path / f"{source}.pt",
        )
        write_text_atomic(self.path / f"{source}.json", json.dumps(summary, indent=2))
        return summary

    def write_command(self, argv: list[str]) -> None:
        """``command.txt``: the exact command line, shell-quoted."""
        write_text_atomic(self.path / COMMAND_FILE, shlex.join(argv) + "\n")

    def prepare(
        self, config: Config, sections: Mapping[str, type], resume: bool, force: bool
    ) -> None:
        """Check an (existing) dir; refuse to reuse one unless resuming or forced."""
        existing = self.path / CONFIG_FILE
        if existing.exists() and not (resume or force):
            raise VaesepError(
                f"{self.path}: already holds an experiment; use --resume to continue it, "
                "--force to train again over it, or another --exp-dir"
            )
        if resume and existing.exists():
            previous = read_config(existing, sections)
            if (
                previous.features.as_trained() != config.features.as_trained()
                or previous.model != config.model
                or previous.data.names != config.data.names
            ):
                raise VaesepError(
                    f"{existing}: features/model/sources differ from the requested config; "
                    "resume with the same settings (only training.* may change) or use --force"
                )
        if force and not resume:
            names = config.data.names
            for name in [LOG_FILE, *(f"{s}.pt" for s in names), *(f"{s}.json" for s in names)]:
                (self.path / name).unlink(missing_ok=True)
            for ckpt in (self.path / CHECKPOINTS).glob("*.pt"):
                ckpt.unlink()

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Refuse a second training in the same dir while one runs (``.lock`` holds its pid)."""
        lock = self.path / LOCK_FILE
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pid = lock.read_text().strip() or "?"
            if pid.isdigit() and not _pid_alive(int(pid)):
                lock.unlink(missing_ok=True)
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            else:
                raise VaesepError(
                    f"{self.path}: another training (pid {pid}) is using this experiment dir; "
                    f"wait for it or remove {lock} if it is gone"
                ) from None
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)


def _record(line: str) -> dict:
    """One ``train.log`` line as a record ({} for a line cut short)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return record if isinstance(record, dict) else {}


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a lock it holds is live)."""
    if os.name == "nt":  # there os.kill(pid, 0) would terminate the process it probes
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_QUERY_LIMITED_INFORMATION = 0x1000  # Win32 access right: enough to read an exit code
_ACCESS_DENIED = 5  # Win32 error: the process exists but belongs to someone else
_STILL_ACTIVE = 259  # Win32 exit code of a process that has not exited


def _windows_pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs, asked of Windows (OpenProcess, GetExitCodeProcess)."""
    import ctypes

    kernel32 = _kernel32()
    handle = kernel32.OpenProcess(_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:
        return ctypes.get_last_error() == _ACCESS_DENIED
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True  # unknown: keep the lock rather than break a live one
        return code.value == _STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def _kernel32():  # pragma: no cover - Windows only
    """Windows' kernel32 with the signatures :func:`_windows_pid_alive` calls."""
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.GetExitCodeProcess.argtypes = (wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD))
    kernel32.GetExitCodeProcess.restype = wintypes.BOOL
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    return kernel32


def read_config(path: Path, sections: Mapping[str, type]) -> Config:
    """An experiment's ``config.yaml``.

    Model keys of other model types are dropped: vaesep 0.1 wrote every model's keys there.
    """
    data = read_yaml(path)
    model = data.get("model")
    kind = model.get("type", "vae") if isinstance(model, dict) else None
    if kind in sections:
        keys = set(sections[kind].__dataclass_fields__)
        data["model"] = {k: v for k, v in model.items() if k in keys}
    return config_from_dict(data, sections, source=str(path))


def load(exp_dir: str | Path, sections: Mapping[str, type]) -> Experiment:
    """Read an experiment dir written by a training; every problem is a one-line error."""
    exp_dir = Path(exp_dir)
    if is_bag(exp_dir):
        raise VaesepError(
            f"{exp_dir}: a bag of several models ({BAG_FILE}); only separating and evaluating "
            "take a bag: pass one of its members (a dir it lists) here"
        )
    if not (exp_dir / CONFIG_FILE).is_file() or not (exp_dir / STATS_FILE).is_file():
        raise VaesepError(
            f"{exp_dir}: not an experiment dir (no {CONFIG_FILE}/{STATS_FILE}); "
            "pass the --exp-dir of a finished 'vaesep train'"
        )
    config = read_config(exp_dir / CONFIG_FILE, sections)
    stats = FeatureStats.load(exp_dir / STATS_FILE)
    checkpoints = {
        s: _read_checkpoint(exp_dir / f"{s}.pt", config, stats) for s in config.data.names
    }
    return Experiment(exp_dir, config, stats, checkpoints)


def _read_checkpoint(path: Path, config: Config, stats: FeatureStats) -> Checkpoint:
    """One source's ``<source>.pt``; an error unless it fits the experiment's config."""
    if not path.is_file():
        raise VaesepError(f"{path}: missing; the training did not finish, rerun it with --resume")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as exc:
        reason = " ".join(str(exc).split())
        raise VaesepError(f"{path}: unreadable checkpoint ({reason}); retrain") from None
    expected = (Featurizer(config.features).input_dim, spectrum_dim(config.features))
    try:
        sizes = (ckpt["input_dim"], ckpt["output_dim"])
        if sizes != expected or len(stats.mean) != expected[1]:
            raise ValueError("feature sizes differ")
        if ckpt.get("model_type", config.model.type) != config.model.type:
            raise ValueError("model type differs")
        return Checkpoint(*expected, ckpt["state_dict"])
    except (KeyError, ValueError, TypeError):
        raise mismatch(path) from None


def mismatch(path: Path) -> VaesepError:
    """The one-line error of a checkpoint that does not fit its experiment's config."""
    return VaesepError(
        f"{path}: the experiment was trained with other feature/model settings than its "
        f"{CONFIG_FILE} now holds (e.g. another window or latent size); restore the "
        f"{CONFIG_FILE} it was trained with, or retrain"
    )


def with_settings(experiment: Experiment, overrides: list[str]) -> Experiment:
    """The experiment with ``--set`` overrides of its model's separation settings, e.g.
    ``model.type=fast_mvae`` on an ``mvae`` experiment (the same network) or
    ``model.iterations=80``, or ``features.input_level_db`` and ``features.shifts``. The other
    features and the network stay as trained: a type of another network, or a size its weights
    do not fit, is a one-line error."""
    source = f"{experiment.path / CONFIG_FILE} with --set"
    data = apply_overrides(experiment.config.to_dict(), overrides)
    config = config_from_dict(data, SECTIONS, source=source)
    trained, wanted = experiment.config.model.type, config.model.type
    if config.features.as_trained() != experiment.config.features.as_trained():
        raise VaesepError(
            f"--set features.*: {experiment.path} was trained with its features (of them only "
            "features.input_level_db and features.shifts are separation settings)"
        )
    if MODELS[wanted].module is not MODELS[trained].module:
        raise VaesepError(
            f"--set model.type={wanted}: {experiment.path} holds a {trained} network and "
            f"{wanted} uses another; choose a type of the same network or train one"
        )
    return replace(experiment, config=config)


def read_bag(bag_dir: str | Path) -> list[tuple[Path, float]]:
    """A bag dir's members (their dirs) and weights, from its ``bag.yaml``; every problem a
    one-line error naming the file and the entry."""
    file = Path(bag_dir) / BAG_FILE
    members = read_yaml(file).get("members")
    if not isinstance(members, list) or not members:
        raise VaesepError(
            f"{file}: members: list the member dirs, e.g. 'members: [{{path: ../exp_a}}, "
            "{path: ../exp_b}]'"
        )
    entries = []
    for i, entry in enumerate(members):
        where = f"{file}: members[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise VaesepError(f"{where}: give 'path' (a model dir, relative to {BAG_FILE})")
        unknown = sorted(set(entry) - {"path", "weight"})
        if unknown:
            raise VaesepError(f"{where}: unknown key {unknown[0]}; a member has path and weight")
        path = file.parent / entry["path"]
        if not path.is_dir():
            raise VaesepError(f"{where}.path {entry['path']}: no such dir ({path}); fix the path")
        if is_bag(path):
            raise VaesepError(f"{where}.path {entry['path']}: a bag; list its members instead")
        weight = entry.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise VaesepError(f"{where}.weight {weight}: give a positive number")
        entries.append((path, float(weight)))
    return entries
