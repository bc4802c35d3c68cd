"""The configs shipped inside the package (``vaesep/configs/NAME.yaml``), found by name.

``--config`` (and :func:`vaesep.load_config`) takes a path or a shipped config's name
(``vae`` or ``vae.yaml``): an existing path wins. ``vaesep configs`` lists them with their
model type and the first sentence of their leading comment. In a checkout, ``configs/`` at
the top is a link to the same folder.
"""

from __future__ import annotations

import difflib
import textwrap
from pathlib import Path

import yaml

from vaesep.errors import VaesepError

SHIPPED = Path(__file__).resolve().parents[1] / "configs"
SUFFIX = ".yaml"
_ABBREVIATIONS = ("al.", "e.g.", "i.e.")  # a full stop that ends no sentence
DESCRIPTION_WIDTH = 80  # characters of a description 'vaesep configs' shows


def names() -> list[str]:
    """The shipped configs' names (file names without ``.yaml``), sorted."""
    return sorted(p.stem for p in SHIPPED.glob(f"*{SUFFIX}"))


def config_path(name: str) -> Path:
    """The file of the shipped config ``name`` (``vae`` or ``vae.yaml``)."""
    stem = name.removesuffix(SUFFIX)
    if stem not in names():
        raise VaesepError(f"{name}: no such shipped config ({_suggest(stem)}shipped: {_listed()})")
    return SHIPPED / f"{stem}{SUFFIX}"


def resolve_config(config: str | Path | None) -> Path | None:
    """The file ``--config`` names: an existing path as it is, else a shipped config's file;
    an unknown bare name is a one-line error listing the shipped names. A missing path with
    a folder in it is returned as it is (reading it says the file is missing); ``None`` too."""
    if config is None or Path(config).exists():
        return None if config is None else Path(config)
    text = str(config)
    if Path(text).name != text:  # a folder in it: a path, not a name
        return Path(config)
    stem = text.removesuffix(SUFFIX)
    if stem in names():
        return SHIPPED / f"{stem}{SUFFIX}"
    raise VaesepError(
        f"--config {text}: no such config file or shipped config ({_suggest(stem)}shipped: "
        f"{_listed()}; 'vaesep configs' describes them)"
    )


def describe(name: str) -> tuple[str, str]:
    """``(model type, description)`` of a shipped config: its ``model.type`` and the first
    sentence of its leading comment (shortened to ``DESCRIPTION_WIDTH``)."""
    path = config_path(name)
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        raise VaesepError(f"{path}: unreadable shipped config; reinstall vaesep") from None
    model = data.get("model") if isinstance(data, dict) else None
    model_type = str(model.get("type", "?")) if isinstance(model, dict) else "?"
    comment = []
    for line in text.splitlines():
        if not line.startswith("#") or not line.strip("# "):
            break
        comment.append(line.lstrip("#").strip())
    first = _first_sentence(" ".join(comment))
    return model_type, textwrap.shorten(first, DESCRIPTION_WIDTH, placeholder=" ...")


def _first_sentence(text: str) -> str:
    """``text`` up to its first full stop or semicolon outside brackets (the stop kept)."""
    depth = 0
    for i, char in enumerate(text):
        depth += (char in "([") - (char in ")]")
        ends = char in ".;" and depth == 0 and text[i + 1 : i + 2] in (" ", "")
        if ends and not text[: i + 1].endswith(_ABBREVIATIONS):
            return text[: i + 1] if char == "." else text[:i]
    return text


def _suggest(stem: str) -> str:
    close = difflib.get_close_matches(stem, names(), n=1)
    return f"did you mean '{close[0]}'? " if close else ""


def _listed() -> str:
    return ", ".join(names()) or "none installed"
