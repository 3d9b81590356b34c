"""``publish.py watch``: publish again, incrementally, as soon as the registry changes.

The registry tells us itself: SQLite's ``PRAGMA data_version``
(:func:`registry.store.schema.data_version`) changes on a connection when
another connection commits to the file, and only then. Reading it is a
call into SQLite that reads no page of the database (its counter lives in
the WAL index, shared memory), so the watcher reads it every
:data:`POLL_SECONDS` (50 ms): a commit is seen within that time, and no
build starts without one. There is no rebuild on a timer.

Each build reads one committed state (the build's snapshot); a commit that
lands while a build runs changes the version again, so it gets a build of
its own. A failed build leaves the previous output served, as every failed
build does, and the watcher goes on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from registry.core.exceptions import ConfigError, RegistryError
from registry.store import schema

POLL_SECONDS = 0.05


class RegistryWatcher:
    """Waits for commits to the registry at ``db_path`` (read-only connection)."""

    def __init__(self, db_path):
        if not Path(db_path).is_file():
            raise ConfigError(f"{db_path}: no such registry database")
        self.db = schema.connect(db_path, readonly=True)
        self.version = schema.data_version(self.db)

    def wait(self, stopping: threading.Event, timeout: float | None = None) -> bool:
        """Block until a commit since the last call (True), ``stopping`` is set or
        ``timeout`` seconds passed (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not stopping.wait(POLL_SECONDS):
            seen = schema.data_version(self.db)
            if seen != self.version:
                self.version = seen
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
        return False

    def close(self):
        self.db.conn.close()


def watch(db_path, publish: Callable[[], dict], *, stopping: threading.Event,
          report: Callable[[dict | None, float, RegistryError | None], None]) -> None:
    """Call ``publish()`` now and after every commit to ``db_path`` until ``stopping``;
    ``report(summary, seconds, error)`` after each (error: the build failed and the
    previous output is still served)."""
    watcher = RegistryWatcher(db_path)
    try:
        while True:
            started = time.monotonic()
            try:
                summary, error = publish(), None
            except RegistryError as e:
                summary, error = None, e
            report(summary, time.monotonic() - started, error)
            if not watcher.wait(stopping):
                return
    finally:
        watcher.close()
