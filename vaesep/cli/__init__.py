"""The ``vaesep`` command line: a thin Typer layer over the library."""

from __future__ import annotations

import os
import sys

import typer

from vaesep.cli import configs, data, experiment, models, results
from vaesep.cli._common import setup_logging
from vaesep.cli._help import Typer
from vaesep.version import __version__

app = Typer(
    name="vaesep",
    help="Monaural speech separation with per-source VAE, beta-VAE and ITL-AE models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(show: bool) -> None:
    if show:
        typer.echo(f"vaesep {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print debug notes."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    setup_logging(verbose)


data.register(app)
experiment.register(app)
results.register(app)
models.register(app)
configs.register(app)


def main() -> None:
    """Console-script entry point; an unexpected error is one line unless VAESEP_DEBUG is set."""
    try:
        app()
    except Exception as exc:  # noqa: BLE001 - last line of defence against tracebacks
        if os.environ.get("VAESEP_DEBUG"):
            raise
        print(
            f"vaesep: internal error: {type(exc).__name__}: {exc} "
            "(rerun with VAESEP_DEBUG=1 for the traceback and report it)",
            file=sys.stderr,
        )
        sys.exit(1)
