"""YAML files read as mappings: a missing file or a syntax error is one line naming the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from vaesep.errors import VaesepError


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or a parse error is one line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise VaesepError(f"{path}: no such config file; 'vaesep configs' lists shipped ones")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise VaesepError(f"{path}{where}: {problem}; fix the YAML syntax") from None
    except UnicodeDecodeError:
        raise VaesepError(f"{path}: not a text file; pass a YAML config") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise VaesepError(f"{path}: expected sections features/model/training/data at top level")
    return data
