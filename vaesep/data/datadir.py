"""Kaldi/ESPnet-style data dirs: ``wav.scp`` (mixture), ``spk1.scp``, ``spk2.scp`` (the sources).

An optional ``sources`` file names the sources, one per line, in the order of ``spk1.scp``,
``spk2.scp`` (e.g. ``speech`` and ``background``); without it they are ``female`` and ``male``.

Each scp line is ``<utt_id> <absolute path>``; files are written sorted by utterance id.
Unsorted files are accepted when read (and sorted); duplicate ids and missing files are errors.
An entry may be a Kaldi extended filename ``cmd |`` (run when the audio is read).
An optional ``classes`` file (``<utt_id> <source> [<source> ...]``, e.g. ``u1 female male``)
says which sources each mixture holds; without it every mixture holds all of them. Weak class
supervision trains from ``wav.scp`` and ``classes`` alone. Commands that make a data dir
from another write it through :func:`replacing` after :func:`check_replaceable`.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from vaesep.errors import VaesepError
from vaesep.io.atomic import check_name, temp_beside
from vaesep.io.audio import is_pipe
from vaesep.io.signals import uninterrupted

DEFAULT_SOURCES = ("female", "male")
MIXTURE_SCP = "wav.scp"
CLASSES_FILE = "classes"
SOURCES_FILE = "sources"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
# Kaldi archive entries we do not read: "ark:...", "scp:...", "feats.ark:1234".
UNSUPPORTED = re.compile(r"^(ark|scp)(,[a-z]+)*:|\.ark:\d+$")


def read_scp(path: str | Path, check_files: bool = True) -> dict[str, str]:
    """Read an scp file into ``{utt_id: path}`` sorted by id; duplicate ids are errors.

    Relative paths are taken from the scp file's folder. An entry ending in ``|`` is a Kaldi
    extended filename (``sph2pipe -f wav X.WAV |``, ``sox a.flac -t wav - |``): kept as it is
    and run by the shell when read; archive offsets (``ark:``, ``x.ark:123``) are errors.
    """
    path = Path(path)
    if not path.is_file():
        raise VaesepError(f"{path}: missing; a data dir needs wav.scp, spk1.scp and spk2.scp")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise VaesepError(f"{path}: not a text file; expected lines '<utt_id> <path>'") from None
    entries: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise VaesepError(f"{path}:{lineno}: expected '<utt_id> <path>', got {line!r}")
        utt, target = parts
        if utt in entries:
            raise VaesepError(
                f"{path}:{lineno}: duplicate utterance id {utt!r}; ids must be unique"
            )
        if is_pipe(target):  # a Kaldi extended filename: the command's output is the audio
            entries[utt] = target.strip()
            continue
        if UNSUPPORTED.search(target):
            raise VaesepError(
                f"{path}:{lineno}: {target!r} is a Kaldi archive entry (ark/scp offsets are not "
                "supported); write the audio to files (e.g. wav-copy) or use a 'cmd |' pipe"
            )
        target_path = Path(target)
        if not target_path.is_absolute():
            target_path = (path.parent / target_path).resolve()
        if check_files and not target_path.is_file():
            raise VaesepError(
                f"{path}:{lineno}: {target_path} does not exist; fix or drop the line"
            )
        entries[utt] = str(target_path)
    if not entries:
        raise VaesepError(f"{path}: no entries; expected lines '<utt_id> <path>'")
    return dict(sorted(entries.items()))


def source_scp(index: int) -> str:
    """The scp file of the ``index``-th source (from 0): ``spk1.scp``, ``spk2.scp``."""
    return f"spk{index + 1}.scp"


def check_source_names(names: Iterable[str], where: str) -> tuple[str, ...]:
    """``names`` as a tuple, or a one-line error naming ``where``: two distinct names of
    letters, digits, ``_`` and ``-`` (they become file names), starting with a letter."""
    names = tuple(names)
    bad = [n for n in names if not _NAME.match(n)]
    if bad:
        raise VaesepError(
            f"{where}: source name {bad[0]!r} is not a name; use letters, digits, _ and -, "
            "starting with a letter (e.g. speech, background)"
        )
    if len(names) != 2 or len(set(names)) != 2:
        raise VaesepError(
            f"{where}: expected two different source names (e.g. speech, background), "
            f"got {', '.join(names) or 'none'}"
        )
    return names


def read_source_names(root: Path) -> tuple[str, ...]:
    """The sources of a data dir in ``spk*.scp`` order: its ``sources`` file, else
    ``female``, ``male``."""
    path = Path(root) / SOURCES_FILE
    if not path.exists():
        return DEFAULT_SOURCES
    try:
        lines = path.read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError):
        raise VaesepError(f"{path}: unreadable; write one source name per line") from None
    return check_source_names(lines, str(path))


def write_scp(path: str | Path, entries: dict[str, str]) -> None:
    """Write ``{utt_id: path}`` sorted by id with absolute paths (``cmd |`` pipes as given)."""
    lines = [
        f"{utt} {p if is_pipe(p) else Path(p).resolve()}\n" for utt, p in sorted(entries.items())
    ]
    Path(path).write_text("".join(lines), encoding="utf-8")


@dataclass
class DataDir:
    """A data dir's mixtures and (when present) per-source references, keyed by utterance id."""

    root: Path
    mixtures: dict[str, str]
    sources: dict[str, dict[str, str]] = field(default_factory=dict)
    names: tuple[str, ...] = DEFAULT_SOURCES  # the sources, in spk1.scp, spk2.scp order
    # {utt_id: the sources its mixture holds}; all of them where there is no classes file.
    classes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def utt_ids(self) -> list[str]:
        return list(self.mixtures)

    def source_paths(self, utt: str) -> dict[str, str]:
        """``{source: reference path}`` of one utterance (empty without references)."""
        return {s: refs[utt] for s, refs in self.sources.items()}

    @property
    def has_references(self) -> bool:
        return set(self.sources) == set(self.names)


def load_datadir(root: str | Path, require_references: bool = True) -> DataDir:
    """Load and cross-check a data dir; every scp must list the same utterance ids."""
    root = Path(root)
    if not root.is_dir():
        raise VaesepError(f"{root}: not a directory; pass a data dir made by 'vaesep prepare'")
    mixtures = read_scp(root / MIXTURE_SCP)
    names = read_source_names(root)
    sources: dict[str, dict[str, str]] = {}
    for index, name in enumerate(names):
        scp = source_scp(index)
        scp_path = root / scp
        if not scp_path.exists():
            if require_references:
                raise VaesepError(
                    f"{scp_path}: missing; {scp} lists the {name} references for each mixture"
                )
            continue
        refs = read_scp(scp_path)
        if set(refs) != set(mixtures):
            extra = sorted(set(refs) ^ set(mixtures))[:3]
            raise VaesepError(
                f"{scp_path}: utterance ids differ from {MIXTURE_SCP} (e.g. {', '.join(extra)})"
            )
        sources[name] = refs
    classes = read_classes(root / CLASSES_FILE, mixtures, names)
    return DataDir(root=root, mixtures=mixtures, sources=sources, names=names, classes=classes)


def read_classes(
    path: Path, mixtures: dict[str, str], names: tuple[str, ...] = DEFAULT_SOURCES
) -> dict[str, tuple[str, ...]]:
    """``{utt_id: sources}`` of a ``classes`` file (every source for all where it is absent)."""
    if not path.exists():
        return {utt: names for utt in mixtures}
    classes: dict[str, tuple[str, ...]] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        utt, *held = line.split()
        unknown = [n for n in held if n not in names]
        if not held or unknown:
            raise VaesepError(
                f"{path}:{lineno}: expected '<utt_id> <source> ...' with sources among "
                f"{', '.join(names)}, got {line.strip()!r}"
            )
        if utt not in mixtures or utt in classes:
            what = "repeats" if utt in classes else f"is not in {MIXTURE_SCP}"
            raise VaesepError(f"{path}:{lineno}: utterance id {utt!r} {what}; fix the line")
        classes[utt] = tuple(s for s in names if s in held)
    missing = sorted(set(mixtures) - set(classes))
    if missing:
        raise VaesepError(
            f"{path}: no classes for {len(missing)} mixture(s) of {MIXTURE_SCP} "
            f"(e.g. {missing[0]}); add a line for each"
        )
    return classes


def write_classes(path: Path, classes: dict[str, tuple[str, ...]]) -> None:
    """Write a ``classes`` file sorted by utterance id."""
    lines = [f"{utt} {' '.join(names)}\n" for utt, names in sorted(classes.items())]
    path.write_text("".join(lines), encoding="utf-8")


def read_utt2spk(root: Path, utts: list[str]) -> dict[str, str]:
    """The data dir's ``utt2spk`` (each utterance its own speaker where it has none)."""
    path, pairs = root / "utt2spk", {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) == 2:
                pairs[parts[0]] = parts[1]
    return {utt: pairs.get(utt, utt) for utt in utts}


def write_datadir(
    root: str | Path,
    mixtures: dict[str, str],
    sources: dict[str, dict[str, str]],
    utt2spk: dict[str, str] | None = None,
    names: tuple[str, ...] | None = None,
) -> None:
    """Write ``wav.scp``, the ``spk*.scp`` of the ``sources`` given (none for a weakly
    labelled dir), ``utt2spk`` and ``spk2utt`` into ``root``. ``names``: the sources in
    ``spk*.scp`` order (default: female, male where ``sources`` holds those, else its keys in
    order); other names than female, male are written to a ``sources`` file."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if names is None:
        names = DEFAULT_SOURCES if set(sources) <= set(DEFAULT_SOURCES) else tuple(sources)
    names = check_source_names(names, str(root / SOURCES_FILE))
    write_scp(root / MIXTURE_SCP, mixtures)
    for index, name in enumerate(names):
        if name in sources:
            write_scp(root / source_scp(index), sources[name])
    if names != DEFAULT_SOURCES:
        (root / SOURCES_FILE).write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
    write_speakers(root, utt2spk or {utt: utt for utt in mixtures})


def write_speakers(root: Path, utt2spk: dict[str, str]) -> None:
    """Write ``utt2spk`` and ``spk2utt`` into ``root``."""
    (root / "utt2spk").write_text(
        "".join(f"{u} {s}\n" for u, s in sorted(utt2spk.items())), encoding="utf-8"
    )
    spk2utt: dict[str, list[str]] = {}
    for utt, spk in sorted(utt2spk.items()):
        spk2utt.setdefault(spk, []).append(utt)
    (root / "spk2utt").write_text(
        "".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk2utt.items())), encoding="utf-8"
    )


def check_outside(out_dir: Path, inputs: Iterable[str], what: str, source_dir: Path) -> None:
    """Refuse an ``out_dir`` that holds any of a data dir's ``inputs`` (``cmd |`` pipes aside):
    replacing it would delete what it is made from; ``what`` names them in the error."""
    final = out_dir.resolve()
    paths = [Path(p) for p in inputs if not is_pipe(p)]
    if any(p == final or final in p.parents for p in paths):
        raise VaesepError(f"{out_dir}: holds the {what} of {source_dir}; choose another OUT_DIR")


def check_replaceable(out_dir: Path, marker: str, command: str, force: bool) -> None:
    """Refuse an ``out_dir`` that exists and is not empty unless ``force``, and even then one
    that ``command`` did not make (it holds no ``marker`` file)."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        if not force:
            raise VaesepError(f"{out_dir}: exists and is not empty; pass --force to replace it")
        if not (out_dir / marker).is_file():
            raise VaesepError(
                f"{out_dir}: not a dir made by '{command}' (no {marker}); choose another OUT_DIR"
            )


@contextmanager
def replacing(out_dir: Path) -> Iterator[Path]:
    """A fresh temporary dir beside ``out_dir`` to write into: renamed over ``out_dir`` when
    the block completes, removed when it raises (nothing half-written is left)."""
    check_name(out_dir)
    tmp = temp_beside(out_dir)
    try:
        tmp.mkdir(parents=True)
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with uninterrupted():  # a stop waits until the new dir stands in the old one's place
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
