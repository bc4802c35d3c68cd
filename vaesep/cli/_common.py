"""What every CLI command shares: user errors as one line on stderr with exit code 2."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import TypeVar

import typer

from vaesep.errors import VaesepError

F = TypeVar("F", bound=Callable)
_OUT_OF_MEMORY = "out of memory; use smaller inputs, a smaller model or a smaller batch size"
# ``--precision`` and ``--backend`` of separate and evaluate
PRECISION = typer.Option(
    "fp32",
    "--precision",
    help="The networks' arithmetic: fp32, bf16 (torch; faster on CPUs with bfloat16 units) or "
    "int8 (onnxruntime's dynamic quantization); STFT and masks stay fp32.",
)
BACKEND = typer.Option(
    None,
    "--backend",
    help="What runs the networks: torch, or onnxruntime (CPU; needs vaesep[onnx]) (default: "
    "torch, onnxruntime for int8).",
)


def fail(message: str) -> typer.Exit:
    """Print ``vaesep: error: message`` (on one line) on stderr; return the exit-2 exception."""
    typer.echo(f"vaesep: error: {' '.join(message.split())}", err=True)
    return typer.Exit(code=2)


def user_errors(func: F) -> F:
    """Turn VaesepError, OS errors (permissions, a full disk), running out of memory and Ctrl-C
    into one line on stderr and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except VaesepError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            typer.echo("vaesep: interrupted", err=True)
            raise typer.Exit(code=130) from None
        except MemoryError:
            raise fail(_OUT_OF_MEMORY) from None
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise fail(
                f"{where}{exc.strerror or exc}; check the path, its permissions and the free "
                "disk space"
            ) from None
        except RuntimeError as exc:  # torch reports failed allocations as RuntimeError
            if type(exc).__name__ == "OutOfMemoryError" or "allocate memory" in str(exc):
                raise fail(_OUT_OF_MEMORY) from None
            if type(exc).__module__ == "soundfile":  # libsndfile, where no writer named a file
                raise fail(
                    f"{exc}; check the path, its permissions and the free disk space"
                ) from None
            raise

    return wrapper  # type: ignore[return-value]


class _NoteHandler(logging.Handler):
    """One ``vaesep: note: ...`` line per record, on whatever ``sys.stderr`` is at the time."""

    def emit(self, record: logging.LogRecord) -> None:
        kind = "warning" if record.levelno >= logging.WARNING else "note"
        sys.stderr.write(f"vaesep: {kind}: {record.getMessage()}\n")


def setup_logging(verbose: bool = False) -> None:
    """Route the library's notices (logger ``vaesep``) to stderr, one line each."""
    logger = logging.getLogger("vaesep")
    if not any(isinstance(h, _NoteHandler) for h in logger.handlers):
        logger.addHandler(_NoteHandler())
    logger.setLevel(logging.DEBUG if verbose or os.environ.get("VAESEP_DEBUG") else logging.INFO)
    logger.propagate = False
