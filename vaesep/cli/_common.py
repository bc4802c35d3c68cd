"""What every CLI command shares: user errors as one line on stderr with exit code 2, and a
clean stop on SIGTERM or SIGHUP: one line, exit code 128 + the signal's number."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from vaesep.errors import VaesepError
from vaesep.io.signals import Stopped, stopping

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
    help="What runs the networks: torch, or onnxruntime (CPU; needs vaesep\\[onnx]) (default: "
    "torch, onnxruntime for int8).",
)
# ``--jobs`` of evaluate and run
JOBS_HELP = "Scoring processes (0: one per CPU core)."
# Arguments and options the commands that write a folder share.
OutDir = Annotated[Path, typer.Argument(metavar="OUT_DIR", help="Folder to write.")]
Force = Annotated[bool, typer.Option("--force", help="Write into OUT_DIR even if not empty.")]
# What a command stopped by a signal keeps and how to go on, by command function.
_AFTER_STOP = {
    "train": "the checkpoints are kept (of the last part trained on, for streamed data; of "
    "the epochs completed, in memory); add --resume to the same command to continue",
    "run": "the seeds scored and the epochs completed are kept; rerun the same command "
    "(without --force) to continue",
    "separate": "the outputs of the inputs already separated are kept, none of the one in "
    "progress; rerun it on the other inputs, or with --force",
    "evaluate_command": "no results were written (only complete example wavs); rerun the same "
    "command",
    "prepare_pairs": "no half-written file is left (mixtures already written may be), no "
    "pairs.json; rerun it with --force",
}
_AFTER_STOP_DEFAULT = "nothing half-written is left; rerun the same command"


def fail(message: str) -> typer.Exit:
    """Print ``vaesep: error: message`` (on one line) on stderr; return the exit-2 exception."""
    typer.echo(f"vaesep: error: {' '.join(message.split())}", err=True)
    return typer.Exit(code=2)


def user_errors(func: F) -> F:
    """Turn VaesepError, OS errors (permissions, a full disk), running out of memory, Ctrl-C,
    SIGTERM and SIGHUP into one line on stderr and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with stopping():
                return _one_line(func, args, kwargs)
        except Stopped as exc:  # every cleanup has run (later signals were ignored meanwhile)
            with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
                after = _AFTER_STOP.get(func.__name__, _AFTER_STOP_DEFAULT)
                typer.echo(f"vaesep: {exc}; {after}", err=True)
            raise typer.Exit(code=exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _one_line(func: Callable, args: tuple, kwargs: dict) -> object:
    """``func(*args, **kwargs)``, its user errors as one line on stderr and a non-zero exit."""
    try:
        return func(*args, **kwargs)
    except VaesepError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        typer.echo("vaesep: interrupted", err=True)
        raise typer.Exit(code=130) from None
    except MemoryError:
        raise fail(_OUT_OF_MEMORY) from None
    except BrokenPipeError:  # the reader of stdout left ('vaesep models | head -1'): quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        raise typer.Exit(code=141) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise fail(
            f"{where}{exc.strerror or exc}; check the path, its permissions and the free disk space"
        ) from None
    except RuntimeError as exc:  # torch reports failed allocations as RuntimeError
        if type(exc).__name__ == "OutOfMemoryError" or "allocate memory" in str(exc):
            raise fail(_OUT_OF_MEMORY) from None
        if type(exc).__module__ == "soundfile":  # libsndfile, where no writer named a file
            raise fail(f"{exc}; check the path, its permissions and the free disk space") from None
        raise


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
