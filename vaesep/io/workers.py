"""Worker processes for CPU-bound jobs: a pool whose workers run on a fixed number of threads.

On Linux the workers are forked: they start at once (nothing is imported again), inherit the
parent's tensors and closures without copying them, and no script needs an
``if __name__ == "__main__"`` guard. Each worker runs torch and BLAS on ``threads`` threads,
sends its log records to the parent (which logs them as its own, so in-process callers such as
notebooks and test runners see them) and is killed when the parent dies, so that a killed run
leaves no orphan writing its files. Elsewhere the workers are spawned.

Under :func:`vaesep.io.signals.stopping` the workers stop as their parent does: a stop signal
raises :class:`~vaesep.io.signals.Stopped` in the job running (its cleanup runs; the parent
gets the exception as the job's) and the worker runs no further job. A stopped parent passes
its signal on to its workers and waits for them; a parent that dies sends them SIGTERM, upon
which they clean up and exit.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager, suppress
from functools import partial
from logging.handlers import QueueHandler, QueueListener
from typing import TypeVar

from threadpoolctl import threadpool_limits

from vaesep.errors import log
from vaesep.io import signals

T = TypeVar("T")
R = TypeVar("R")
_PR_SET_PDEATHSIG = 1
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# The job of the current map_forked call, inherited by its forked workers.
_JOB: Callable[[int], object] | None = None
# In a worker: its parent's pid, whether a job runs, the stop signal it received.
_parent = 0
_busy = False
_stop: int | None = None


def can_fork() -> bool:
    """Whether forking a process that holds torch (and its thread pools) is safe here."""
    return sys.platform == "linux"


def cpu_count() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextmanager
def pool(workers: int, threads: int = 1) -> Iterator[ProcessPoolExecutor]:
    """A process pool of ``workers`` workers with ``threads`` threads each (see the module)."""
    context = multiprocessing.get_context("fork" if can_fork() else "spawn")
    records = context.Queue()
    listener = QueueListener(records, _Relay())
    listener.start()
    try:
        executor = _Executor(
            workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(threads, records, os.getpid(), signals.handled()),
        )
        try:
            yield executor
        except BaseException as exc:  # the jobs not started are dropped
            if isinstance(exc, signals.Stopped):
                _pass_on(executor, exc.signum)
            executor.shutdown(cancel_futures=True)
            raise
        executor.shutdown()
    finally:
        listener.stop()


@contextmanager
def threads_limited(threads: int) -> Iterator[None]:
    """Within the block, this process runs torch and BLAS on at most ``threads`` threads.

    For the parent of busy workers: idle OpenMP threads spin and take the workers' cores.
    """
    torch = sys.modules.get("torch")
    saved = torch.get_num_threads() if torch else None
    try:
        with threadpool_limits(threads):
            if torch:
                torch.set_num_threads(min(threads, saved))
            yield
    finally:
        if torch:
            torch.set_num_threads(saved)


def map_forked(fn: Callable[[T, int], R], items: Sequence[T], threads: int) -> list[R]:
    """``[fn(item, index) for each item]``, each call in its own forked worker (Linux only).

    ``fn`` may be a closure: the workers inherit it. A worker's exception is raised here.
    """
    global _JOB
    if not can_fork():
        raise RuntimeError("map_forked needs fork (Linux)")
    _JOB = lambda index: fn(items[index], index)  # noqa: E731 - inherited by the fork
    try:
        with pool(len(items), threads) as executor:
            return list(executor.map(_run_job, range(len(items))))
    finally:
        _JOB = None


def _run_job(index: int) -> object:
    return _JOB(index)


class _Executor(ProcessPoolExecutor):
    """A process pool whose jobs run through :func:`_guarded`."""

    def submit(self, fn: Callable[..., R], /, *args: object, **kwargs: object) -> Future[R]:
        return super().submit(partial(_guarded, fn), *args, **kwargs)


def _pass_on(executor: ProcessPoolExecutor, signum: int) -> None:
    """Send the parent's stop signal to the pool's workers."""
    for process in list((executor._processes or {}).values()):  # noqa: SLF001 - no public list
        with suppress(ProcessLookupError):
            os.kill(process.pid, signum)


def _guarded(fn: Callable[..., R], *args: object, **kwargs: object) -> R:
    """Run one job in a worker, unless the worker was stopped; a worker whose parent is gone
    exits once the job's cleanup ran."""
    global _busy
    _busy = True
    try:
        if _stop is not None:
            raise signals.Stopped(_stop)
        return fn(*args, **kwargs)
    finally:
        _busy = False
        if _stop is not None and os.getppid() != _parent:
            os._exit(128 + _stop)


def _on_stop(signum: int, frame: object) -> None:
    """A worker's stop signal: the first one stops the job running; between jobs, a worker
    whose parent is gone exits. No later signal cuts a cleanup short."""
    global _stop
    first, _stop = _stop is None, _stop or signum
    if _busy:
        if first and not signals.note(signum):
            raise signals.Stopped(signum)
    elif os.getppid() != _parent:
        os._exit(128 + signum)


def _init_worker(
    threads: int, records: multiprocessing.Queue, parent: int, stops: tuple[int, ...]
) -> None:
    global _parent, _busy, _stop
    _parent, _busy, _stop = parent, False, None  # not a parent's, should it be a worker too
    for signum in stops:
        signal.signal(signum, _on_stop)
    if sys.platform == "linux":  # SIGTERM lets a stopping worker clean up first
        death = signal.SIGTERM if signal.SIGTERM in stops else signal.SIGKILL
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, death)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    for var in _THREAD_VARS:
        os.environ[var] = str(threads)
    threadpool_limits(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    log.handlers = [QueueHandler(records)]
    log.propagate = False


class _Relay(logging.Handler):
    """Logs a worker's record in the parent, through the parent's own logger setup."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)
