"""Bundled pretrained models: experiment dirs shipped inside the package, never downloaded.

Each bundled model is ``vaesep/zoo/bundled/<name>/``: the experiment dir's ``config.yaml``,
``stats.npz`` and ``<source>.pt`` (weights stored in float16, computed in float32), plus its
model card: ``card.json`` (training data with licence and attribution, config, the command
that reproduces it, metrics, software versions and the sha256 of every other file) and
``card.md`` (the same for people). A bag (:class:`vaesep.Bag`, the default) holds ``bag.yaml``
and each member's files in a subdir instead. Loading verifies every checksum first.
``--model`` takes a bundled name or an experiment (or bag) dir: an existing path is a dir.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from vaesep.errors import VaesepError

BUNDLED = Path(__file__).parent / "bundled"
DEFAULT = "rnn_bag"  # what `vaesep separate mix.wav` uses
CARD_JSON = "card.json"
CARD_MD = "card.md"


def names() -> list[str]:
    """The bundled models' names, the default first."""
    found = sorted(p.parent.name for p in BUNDLED.glob(f"*/{CARD_JSON}"))
    return sorted(found, key=lambda name: name != DEFAULT)


def sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def card(name: str) -> dict[str, Any]:
    """The ``card.json`` of the bundled model ``name``."""
    path = _bundle_dir(name) / CARD_JSON
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VaesepError(f"{path}: unreadable model card ({exc}); reinstall vaesep") from None


def verified_dir(name: str) -> Path:
    """The dir of the bundled model ``name`` once every file matches its card's sha256."""
    directory = _bundle_dir(name)
    for file, expected in card(name).get("files", {}).items():
        path = directory / file
        if not path.is_file():
            raise VaesepError(f"{path}: missing from the bundled model {name}; reinstall vaesep")
        if sha256(path) != expected["sha256"]:
            raise VaesepError(
                f"{path}: checksum mismatch (the file is corrupt or was changed); reinstall "
                "vaesep, or retrain it with recipes/pretrained/run.sh"
            )
    return directory


def resolve_model(model: str | Path | None, key: str = "--model") -> Path:
    """The experiment dir ``--model`` (or the option/key ``key``) names: an existing path as
    it is, a bundled name's verified dir, the default bundled model for ``None``; anything
    else is a one-line error listing the bundled names."""
    if model is None:
        return verified_dir(DEFAULT)
    if Path(model).exists():
        return Path(model)
    if str(model) in names():
        return verified_dir(str(model))
    raise VaesepError(
        f"{key} {model}: neither an experiment dir nor a bundled model (bundled: {_listed()}; "
        "'vaesep models' describes them)"
    )


def _bundle_dir(name: str) -> Path:
    directory = BUNDLED / name
    if not (directory / CARD_JSON).is_file():
        raise VaesepError(f"{name}: no such bundled model (bundled: {_listed()})")
    return directory


def _listed() -> str:
    return ", ".join(names()) or "none installed"
