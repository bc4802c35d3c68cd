"""SIGTERM and SIGHUP as a clean stop instead of sudden death.

Python dies at once on SIGTERM (what ``timeout``, SLURM and ``kill`` send) and SIGHUP (a closed
terminal), running no ``finally`` block, so a write in progress leaves its temporary behind.
Within :func:`stopping` the first such signal raises :class:`Stopped` in the main thread
instead: a ``BaseException``, which ``except Exception`` does not swallow, so every cleanup
runs (temporaries removed, half-written outputs dropped) on the way out. Signals that arrive
while that cleanup runs are ignored, so it cannot be cut short. The command line stops this
way; a library caller opts in with ``with stopping(): ...``.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)

_owner: int | None = None  # the process whose stop signals raise Stopped (None: nobody's)
_taken: tuple[int, ...] = ()  # the signals it took
_received: int | None = None  # the first stop signal it received
_deferring = False  # within deferred(): a stop signal is noted, not raised
_pending: int | None = None  # the stop signal noted while deferring


class Stopped(BaseException):
    """A stop signal, raised where the main thread was; exit with :attr:`exit_code`."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)  # the args alone rebuild it: it pickles from a worker
        self.signum = signum

    @property
    def name(self) -> str:
        """The signal's name, e.g. ``SIGTERM``."""
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """What shells and SLURM expect of a process the signal ended: 128 + its number."""
        return 128 + self.signum

    def __str__(self) -> str:
        return f"stopped by {self.name}"


def handled() -> tuple[int, ...]:
    """The signals this process turns into :class:`Stopped` now (none outside
    :func:`stopping`); its worker processes stop on the same ones."""
    return _taken if _owner == os.getpid() else ()


@contextmanager
def stopping() -> Iterator[None]:
    """Within the block, the first SIGTERM or SIGHUP raises :class:`Stopped` in the main
    thread; later ones are ignored until the block is left.

    Only signals left at their default are taken (one ignored, e.g. under ``nohup``, stays
    ignored) and their default is back after the block. Off the main thread, which receives
    no signals, and within an enclosing block, it does nothing.
    """
    global _owner, _taken, _received
    if _owner == os.getpid() or threading.current_thread() is not threading.main_thread():
        yield
        return
    taken = tuple(s for s in STOP_SIGNALS if signal.getsignal(s) == signal.SIG_DFL)
    _owner, _taken, _received = os.getpid(), taken, None
    try:
        for signum in taken:
            signal.signal(signum, _on_signal)
        yield
    finally:
        for signum in taken:
            signal.signal(signum, signal.SIG_DFL)
        _owner, _taken = None, ()


@contextmanager
def deferred() -> Iterator[None]:
    """Within the block a stop signal raises nothing: it is noted, and the block stops at its
    next safe point (see :func:`check`), e.g. after writing a checkpoint."""
    global _deferring, _pending
    if _deferring:  # within an enclosing block: its safe points decide
        yield
        return
    _deferring, _pending = True, None
    try:
        yield
    finally:
        _deferring = False


@contextmanager
def uninterrupted() -> Iterator[None]:
    """The block runs whole: a stop signal within it waits, and is raised as it completes."""
    with deferred():
        yield
    if pending():
        stop(pending())


def stop(signum: int) -> None:
    """At a safe point within :func:`deferred`: raise :class:`Stopped` for ``signum`` (later
    signals are then ignored, as after any stop)."""
    global _received, _deferring
    _deferring = False
    _received = _received or signum
    raise Stopped(signum)


def pending() -> int | None:
    """The stop signal noted within :func:`deferred` (None: none)."""
    return _pending


def note(signum: int) -> bool:
    """Note ``signum`` instead of raising it when deferring; whether it was noted."""
    global _pending
    if _deferring:
        _pending = _pending or signum
    return _deferring


def _on_signal(signum: int, frame: object) -> None:
    global _received
    if _owner != os.getpid():  # a forked child before its own set-up: nothing to clean up
        os._exit(128 + signum)
    if _received is None:
        if note(signum):
            return
        _received = signum
        raise Stopped(signum)
