"""``--set section.key=value`` overrides: parsed (values in YAML syntax) and applied to a raw
config mapping; :mod:`vaesep.config` validates the result."""

from __future__ import annotations

from typing import Any

import yaml

from vaesep.errors import VaesepError


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``section.key=value`` (value in YAML syntax) into a key path and a value."""
    if "=" not in text:
        raise VaesepError(f"--set {text!r}: expected section.key=value, e.g. training.epochs=5")
    key, raw = text.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if len(path) < 2:
        raise VaesepError(f"--set {text!r}: name a section and a key, e.g. model.latent_dim=32")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return path, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--set`` overrides to a raw config mapping (validation happens afterwards)."""
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise VaesepError(f"--set {text!r}: {part} is not a section")
        node[path[-1]] = value
    return data
