"""Writing files so that nobody ever reads half of one.

Every published or stored file is written through :func:`write_atomic` (a
temporary file in the same directory, renamed over the target: readers see
the old bytes or the new, never a mixture), and every directory that is
rebuilt whole through :func:`staged_dir` (built beside the target and swapped
in). A failure or a kill leaves the previous state and, at worst, a hidden
temporary name that the next writer of the same path replaces.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def write_atomic(path: str | os.PathLike[str], data: bytes | str, *, mode: int = 0o644,
                 durable: bool = False) -> Path:
    """Write ``data`` (bytes, or text as UTF-8 with LF line ends) to ``path`` in one rename.

    ``mode`` is set before the rename (0600 for a key file). ``durable``
    fsyncs the file and its directory, for records that must survive a power
    cut (keys, the log's state file); published files, rebuilt from the
    registry, need not be.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)
    return path


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a rename in ``directory`` durable (a crash, not only a kill)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def staged_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """``with staged_dir(target) as new:`` fill ``new``; on success it replaces
    ``target`` (two renames; the old tree is removed afterwards), on any error
    it is removed and ``target`` is untouched."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".new", dir=target.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    os.chmod(staging, 0o755)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.{os.getpid()}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
