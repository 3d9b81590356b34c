"""Fork pools whose workers inherit what the parent prepared.

Several steps spread independent work over every core: the registry check's
signature checks, batch verification, mark rendering. Their workers need
large read-only state (an index of 100k certificates, a list of tasks), which
pickling would copy into every task; forked workers inherit it instead.
:func:`pool` shares one object with the workers (:func:`shared` reads it in
any of them), and freezes the garbage collector's view of the parent's
objects first, so the workers' collections neither walk nor copy those
pages.

Workers never outlive the parent: each asks the kernel for SIGKILL when its
parent goes (:func:`die_with_parent`, Linux ``PR_SET_PDEATHSIG``), so a
parent killed by SIGKILL or the OOM killer leaves no worker behind, and each
ignores Ctrl-C (SIGINT reaches the whole process group): the parent handles
it, and leaving the ``with pool(...)`` block terminates them.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import signal
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import multiprocessing.pool

_SHARED: object = None
_PR_SET_PDEATHSIG = 1   # <linux/prctl.h>
_WORKER_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def cpu_count() -> int:
    return os.cpu_count() or 1


def shared() -> Any:
    """The object the parent shared with :func:`pool` (in a worker, or in the parent meanwhile).

    Typed ``Any``: one slot serves every kind of pool (a list of tasks, a batch
    index), and only the caller knows which it shared."""
    return _SHARED


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """In a child process: have the kernel send ``sig`` to it when its parent
    (pid ``parent_pid``) exits, and exit at once if the parent is already gone.

    Linux ``prctl(PR_SET_PDEATHSIG)``; elsewhere only the check. The signal
    comes when the *thread* that forked the child exits: fork from the thread
    that lives as long as the children should (the main thread, for a pool
    opened there)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    # The parent may have died between the fork and the prctl: the child was
    # then adopted by init (or a subreaper) and no signal will come.
    if os.getppid() != parent_pid:
        os._exit(1)


def _start_worker(parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The pool stops its workers with SIGTERM: whatever the parent made of
    # that signal (szzz verify --batch turns it into an exception, to clean
    # up), a worker just ends.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _WORKER_SIGNALS)   # blocked by pool() across the fork
    die_with_parent(parent_pid)


@contextlib.contextmanager
def pool(workers: int | None = None, *, shared: object = None) -> Iterator[multiprocessing.pool.Pool]:
    """``with pool(n, shared=obj) as p:`` a fork pool of ``n`` processes (default:
    every core) whose workers see ``obj`` as :func:`shared`; one such pool at a
    time per process."""
    global _SHARED
    if shared is not None and _SHARED is not None:
        raise RuntimeError("a pool with shared state is already open in this process")
    _SHARED = shared
    gc.freeze()
    try:
        # Forked with SIGINT and SIGTERM blocked, which the workers unblock once
        # their own handlers are set (_start_worker): a SIGTERM that reaches a
        # worker earlier (the pool closed while it starts) waits, then ends it.
        # Unblocked, it ran the parent's handler in the worker, or was dropped
        # by Python's after-fork reset, and the worker lived on while the pool
        # waited for it to end: a hang (tests/core/test_parallel.py).
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _WORKER_SIGNALS)
        try:
            workers_pool = multiprocessing.get_context("fork").Pool(
                workers or cpu_count(), initializer=_start_worker, initargs=(os.getpid(),))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        with workers_pool:
            yield workers_pool
    finally:
        gc.unfreeze()
        if shared is not None:
            _SHARED = None
