"""Writing files so that nobody ever reads half of one, and no temporary file outlives its writer.

Every published or stored file is written through :func:`write_atomic` (a
temporary file in the same directory, renamed over the target: readers see
the old bytes or the new, never a mixture; on any exception the temporary
file is removed). A stream written over minutes (a batch's verdicts) goes
through :func:`atomic_file`: its bytes go to a file with no name in the
target's directory (Linux ``O_TMPFILE``), linked in under the target's name
only when complete, so that Ctrl-C, SIGTERM and even SIGKILL leave the
previous state and nothing else (a file with no name disappears with its
last descriptor); where the filesystem cannot link such a file, it falls
back to a named temporary file like :func:`write_atomic`'s. (A whole buffer
keeps the named temporary file: it exists for the microseconds of one
write, and replacing a file through a link costs an extra system call, some
40 % more per file on ext4.) Every directory that is rebuilt whole goes
through :func:`staged_dir` (built beside the target and swapped in). A
large file is copied by the kernel (:func:`copy_file`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import io
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, overload

_AT_FDCWD = -100
_AT_EMPTY_PATH = 0x1000

# How an unnamed file gets its name on each filesystem (st_dev): "proc"
# (link /proc/self/fd/N, any user), "empty" (linkat AT_EMPTY_PATH, which
# older kernels allow only with CAP_DAC_READ_SEARCH) or None (no O_TMPFILE
# that can be linked: a named temporary file). Probed once per filesystem.
_LINK_METHOD: dict[int, str | None] = {}
_LIBC: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL:
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


def _link_fd(fd: int, target: Path, method: str) -> None:
    """Give the unnamed file open as ``fd`` the name ``target`` (FileExistsError if taken)."""
    if method == "proc":
        os.link(f"/proc/self/fd/{fd}", target, follow_symlinks=True)
        return
    if _libc().linkat(fd, b"", _AT_FDCWD, os.fsencode(target), _AT_EMPTY_PATH) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(target))


def _unnamed_file(directory: Path) -> tuple[int, str] | None:
    """An unnamed file open for writing in ``directory`` and how to link it, or None."""
    try:
        device = os.stat(directory).st_dev
    except OSError:
        return None
    if device not in _LINK_METHOD:
        _LINK_METHOD[device] = _probe(directory)
    method = _LINK_METHOD[device]
    if method is None:
        return None
    try:
        return os.open(directory, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600), method
    except OSError:
        return None


def _probe(directory: Path) -> str | None:
    """Which way of linking an unnamed file works in ``directory`` (None: neither).
    The probe's name exists for the two system calls between link and unlink."""
    for method in ("proc", "empty"):
        try:
            fd = os.open(directory, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600)
        except (OSError, AttributeError):
            return None
        probe = directory / f".probe.{secrets.token_hex(8)}.tmp"
        try:
            _link_fd(fd, probe, method)
        except OSError:
            continue
        else:
            os.unlink(probe)
            return method
        finally:
            os.close(fd)
    return None


@overload
def atomic_file(path: str | os.PathLike[str], *, mode: int = ..., durable: bool = ...,
                encoding: None = None) -> contextlib.AbstractContextManager[IO[bytes]]: ...
@overload
def atomic_file(path: str | os.PathLike[str], *, mode: int = ..., durable: bool = ...,
                encoding: str) -> contextlib.AbstractContextManager[IO[str]]: ...
def atomic_file(path: str | os.PathLike[str], *, mode: int = 0o644, durable: bool = False,
                encoding: str | None = None) -> contextlib.AbstractContextManager[IO[bytes]] | \
        contextlib.AbstractContextManager[IO[str]]:
    """``with atomic_file(path) as f:`` write ``f`` (bytes; text in ``encoding``
    with no newline translation when it is given); when the block ends without
    an exception, ``f`` replaces ``path`` in one step, else nothing of it is left.

    ``path``'s directory must exist (FileNotFoundError otherwise). ``mode`` is
    set before the file gets its name; ``durable`` fsyncs the file and its
    directory, for records that must survive a power cut.
    """
    if encoding is None:
        return _atomic_binary(Path(path), mode, durable)
    return _atomic_text(Path(path), mode, durable, encoding)


@contextlib.contextmanager
def _atomic_text(path: Path, mode: int, durable: bool, encoding: str) -> Iterator[IO[str]]:
    with _atomic_binary(path, mode, durable) as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        try:
            yield text
            text.flush()
        finally:
            text.detach()


@contextlib.contextmanager
def _atomic_binary(path: Path, mode: int, durable: bool) -> Iterator[IO[bytes]]:
    unnamed = _unnamed_file(path.parent)
    if unnamed is None:
        with _named_temporary(path, mode, durable) as f:
            yield f
        return
    fd, method = unnamed
    with open(fd, "wb", closefd=True) as f:
        yield f
        f.flush()
        os.fchmod(fd, mode)
        if durable:
            os.fsync(fd)
        try:
            if os.path.lexists(path):
                raise FileExistsError(path)
            _link_fd(fd, path, method)       # a new name: one step, nothing to clean up
        except FileExistsError:
            # Replacing a file: a name of our own first (for the two system
            # calls until the rename), since a link cannot replace a name.
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
            _link_fd(fd, tmp, method)
            try:
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
    if durable:
        fsync_dir(path.parent)


@contextlib.contextmanager
def _named_temporary(path: Path, mode: int, durable: bool) -> Iterator[IO[bytes]]:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def write_atomic(path: str | os.PathLike[str], data: bytes | str, *, mode: int = 0o644,
                 durable: bool = False) -> Path:
    """Write ``data`` (bytes, or text as UTF-8 with LF line ends) to ``path`` in one
    rename, creating its directory if need be.

    ``mode`` is set before the rename (0600 for a key file). ``durable``
    fsyncs the file and its directory, for records that must survive a power
    cut (keys, the log's state file); published files, rebuilt from the
    registry, need not be.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with _named_temporary(path, mode, durable) as f:
        f.write(data)
    return path


def write_new(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` (bytes, or text as UTF-8, written as is) to ``path`` as a
    new file: the name is unlinked first, so the file gets a new inode.

    For a tree nobody reads yet (an unpublished build directory) whose files
    may be hard links shared with a tree that is read (the served build, a
    cache): writing through the name would change that file under its
    readers. No temporary name: the tree is swapped in whole later.
    """
    path = Path(path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    with open(path, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def rewrite(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` into the existing file ``path`` in place (its inode kept)
    when it has no other name, else as a new file (:func:`write_new`).

    For a tree taken from a build nobody serves any more (the spare build):
    its files are this build's to reuse. Why not a new file each time: on
    ext4 without a journal (this project's machines) the kernel skips inodes
    freed in the last minutes when it allocates one, so creating a file soon
    after thousands were deleted (the previous build's leftovers) costs ~0.5
    ms, rewriting one ~0.05 ms. A file with a second name (a hard link into a
    served tree) or a symbolic link is never written through.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return write_new(path, data)
    except OSError as e:
        if e.errno != errno.ELOOP:  # O_NOFOLLOW: path is a symbolic link
            raise
        return write_new(path, data)
    with open(fd, "wb") as f:
        shared = os.fstat(fd).st_nlink != 1
        if not shared:
            # Over the old bytes, then cut to length: truncating to zero first
            # freed the file's blocks only to allocate them again (0.2 ms a
            # file here, as much as creating one).
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.truncate()
    return write_new(path, data) if shared else path


def copy_file(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Copy ``source`` to a new file ``target`` (mode 0644; FileExistsError if it exists)
    with ``copy_file_range``: the kernel copies, and a filesystem that shares
    extents (XFS, Btrfs: a reflink) copies none of the data, so a large file
    costs almost nothing there. Where the kernel refuses (another filesystem,
    an old kernel), the bytes go through ``shutil.copyfileobj``. Not atomic:
    the caller copies to a name nobody reads yet.
    """
    target = Path(target)
    with open(source, "rb") as src, open(target, "xb") as dst:
        os.fchmod(dst.fileno(), 0o644)
        left = os.fstat(src.fileno()).st_size
        try:
            while left > 0:
                copied = os.copy_file_range(src.fileno(), dst.fileno(), left)
                if copied == 0:
                    break  # the file shrank meanwhile; whatever is left is copied below
                left -= copied
        except OSError:
            pass  # EXDEV, ENOSYS, EINVAL …: the kernel cannot; copy through user space
        dst.seek(0, os.SEEK_END)
        src.seek(dst.tell())
        shutil.copyfileobj(src, dst)
    return target


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


def start_link_copy(sources: Iterable[str | os.PathLike[str]],
                    target_dir: str | os.PathLike[str]) -> subprocess.Popen[bytes] | None:
    """Start copying ``sources`` (files or whole trees) into ``target_dir`` as
    hard links: a ``cp -al`` child (C speed; the caller waits for it, checking
    its exit status: :func:`wait_link_copy`), or, where GNU cp is missing, the
    copy made here (``shutil.copytree`` with ``os.link``) and None returned.

    Every directory is a new inode and every file a second name of the same
    one: the copy must never be written through (:func:`write_new`)."""
    paths = [Path(s) for s in sources]
    if not paths:
        return None
    cp = shutil.which("cp")
    if cp and _gnu_cp(cp):
        return subprocess.Popen([cp, "-al", "-t", str(target_dir), "--", *map(str, paths)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for source in paths:
        target = Path(target_dir) / source.name
        if source.is_dir():
            shutil.copytree(source, target, copy_function=os.link, symlinks=True)
        else:
            os.link(source, target, follow_symlinks=False)
    return None


def wait_link_copy(process: subprocess.Popen[bytes] | None, what: str) -> None:
    """Wait for a copy of :func:`start_link_copy`; OSError naming ``what`` if it failed."""
    if process is None:
        return
    _, err = process.communicate()
    if process.returncode != 0:
        raise OSError(f"cp -al {what}: exit status {process.returncode}: "
                      f"{err.decode(errors='replace').strip()}")


def link_copy(source_dir: str | os.PathLike[str], target_dir: str | os.PathLike[str],
              leave_out: Iterable[str] = ()) -> None:
    """Copy the tree ``source_dir`` to a new ``target_dir`` as hard links
    (:func:`start_link_copy`), without the entries of ``leave_out`` (paths
    relative to ``source_dir``, ``/``-separated); waits for the copy."""
    source_dir, target_dir = Path(source_dir), Path(target_dir)
    omitted = set(leave_out)
    target_dir.mkdir(exist_ok=True)
    whole = []
    for name in sorted(os.listdir(source_dir)):
        inner = [p.split("/", 1)[1] for p in omitted if p.startswith(f"{name}/")]
        if name in omitted:
            continue
        if inner and (source_dir / name).is_dir() and not (source_dir / name).is_symlink():
            link_copy(source_dir / name, target_dir / name, inner)
        else:
            whole.append(source_dir / name)
    wait_link_copy(start_link_copy(whole, target_dir), f"{source_dir} {target_dir}")


def _gnu_cp(cp: str) -> bool:
    """Whether ``cp`` is GNU cp (``-t``, ``-l`` with ``-a``)."""
    try:
        done = subprocess.run([cp, "--version"], check=False, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and b"GNU" in done.stdout


def link_files(source_dir: str | os.PathLike[str], target_dir: str | os.PathLike[str],
               names: Iterable[tuple[str, str]]) -> int:
    """Hard-link each ``(source name, target name)`` of ``names`` (file names,
    no ``/``) from ``source_dir`` into ``target_dir``; return how many.

    How a new build shares the previous build's (or a cache's) unchanged
    files: the bytes are never copied, and never written through the link (a
    changed file is a new file). Through directory descriptors, so each link
    costs one system call and no path lookup (100,000 links: a fraction of a
    second).
    """
    source_fd = os.open(source_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        target_fd = os.open(target_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            count = 0
            for source, target in names:
                os.link(source, target, src_dir_fd=source_fd, dst_dir_fd=target_fd, follow_symlinks=False)
                count += 1
            return count
        finally:
            os.close(target_fd)
    finally:
        os.close(source_fd)
