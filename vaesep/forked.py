"""Run a few CPU-bound torch jobs side by side in forked processes (Linux).

Forked workers inherit the parent's tensors and closures without copying or pickling them.
Each worker runs torch on ``threads`` threads, sends its log records to the parent (which
logs them as its own, so in-process callers such as notebooks and test runners see them) and
is killed when the parent dies, so that a killed run leaves no orphan writing its files.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from logging.handlers import QueueHandler, QueueListener
from typing import TypeVar

import torch

from vaesep.errors import log

T = TypeVar("T")
R = TypeVar("R")
_PR_SET_PDEATHSIG = 1

# The job of the current map_forked call, inherited by its forked workers.
_JOB: Callable[[int], object] | None = None


def available() -> bool:
    """Whether forking a process that holds torch is safe here (Linux only)."""
    return sys.platform == "linux"


def cpu_count() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def map_forked(fn: Callable[[T, int], R], items: Sequence[T], threads: int) -> list[R]:
    """``[fn(item, index) for each item]``, each call in its own forked process.

    An exception raised in a worker is raised here (after the other workers finish).
    """
    global _JOB
    context = multiprocessing.get_context("fork")
    records = context.Queue()
    listener = QueueListener(records, _Relay())
    _JOB = lambda index: fn(items[index], index)  # noqa: E731 - inherited by the fork
    listener.start()
    try:
        with ProcessPoolExecutor(
            len(items),
            mp_context=context,
            initializer=_init_worker,
            initargs=(threads, records, os.getpid()),
        ) as pool:
            return list(pool.map(_run, range(len(items))))
    finally:
        _JOB = None
        listener.stop()


def _run(index: int) -> object:
    return _JOB(index)


def _init_worker(threads: int, records: multiprocessing.Queue, parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    torch.set_num_threads(threads)
    log.handlers = [QueueHandler(records)]
    log.propagate = False


class _Relay(logging.Handler):
    """Logs a worker's record in the parent, through the parent's own logger setup."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)
