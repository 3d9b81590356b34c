"""Fork pools whose workers inherit what the parent prepared.

Several steps spread independent work over every core: the registry check's
signature checks, batch verification, mark rendering. Their workers need
large read-only state (an index of 100k certificates, a list of tasks), which
pickling would copy into every task; forked workers inherit it instead.
:func:`pool` shares one object with the workers (:func:`shared` reads it in
any of them), and freezes the garbage collector's view of the parent's
objects first, so the workers' collections neither walk nor copy those
pages.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import multiprocessing.pool

_SHARED: object = None


def cpu_count() -> int:
    return os.cpu_count() or 1


def shared() -> Any:
    """The object the parent shared with :func:`pool` (in a worker, or in the parent meanwhile).

    Typed ``Any``: one slot serves every kind of pool (a list of tasks, a batch
    index), and only the caller knows which it shared."""
    return _SHARED


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
        with multiprocessing.get_context("fork").Pool(workers or cpu_count()) as workers_pool:
            yield workers_pool
    finally:
        gc.unfreeze()
        if shared is not None:
            _SHARED = None
