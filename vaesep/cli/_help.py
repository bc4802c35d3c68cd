"""How every command's ``--help`` and usage line read: a flag as a plain ``--force`` (Typer
would print ``--force <bool>``), arguments in upper case (``INPUTS...``, ``OUT_DIR``, and
``[NAME]`` when optional) rather than Typer's ``{inputs}...``."""

from __future__ import annotations

import inspect
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


def _plain_flag(param: Any) -> None:
    """A flag takes no value: no type after its name in the help table."""
    if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
        param.metavar = ""


class _Flags:
    """Plain flags, ``--help`` included (made when first asked for)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            _plain_flag(param)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        _plain_flag(option)
        return option


class Command(_Flags, TyperCommand):
    """A command with plain flags, upper-case arguments and its help's paragraphs reflowed to
    the terminal (Typer keeps a docstring's line breaks after the first paragraph)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.help:
            paragraphs = inspect.cleandoc(self.help).split("\n\n")
            self.help = "\n\n".join(" ".join(p.split()) for p in paragraphs)
        for param in self.params:
            if isinstance(param, TyperArgument):
                name = param.metavar or param.name.upper()
                dots = param.nargs != 1 and not name.endswith("...")
                param.metavar = name + "..." * dots

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                pieces.append(param.metavar if param.required else f"[{param.metavar}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


class Group(_Flags, TyperGroup):
    """A command group with plain flags."""


class Typer(typer.Typer):
    """``typer.Typer`` whose commands and groups are :class:`Command` and :class:`Group`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cls=kwargs.pop("cls", None) or Group, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        return super().command(*args, cls=kwargs.pop("cls", None) or Command, **kwargs)
