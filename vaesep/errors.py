"""The one exception type for user errors: the CLI turns it into one line on stderr, exit 2.
Optional dependencies (the extras in pyproject.toml) are imported through :func:`optional`,
so a missing one is such an error naming the extra to install."""

import importlib
import logging
from types import ModuleType

log = logging.getLogger("vaesep")


class VaesepError(Exception):
    """A user error: the message names the file or key at fault and how to fix it."""


class MissingExtra(VaesepError):
    """An optional dependency is not installed: the message names it and its extra."""


def optional(module: str, extra: str, needed_by: str) -> ModuleType:
    """``import module``, or a one-line :class:`MissingExtra`: "``needed_by`` needs
    ``module``: pip install 'vaesep[``extra``]'"."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise MissingExtra(f"{needed_by} needs {package}: pip install 'vaesep[{extra}]'") from None
