"""The published output: ``OUT`` is a symbolic link to the current build directory.

A build writes a new sibling directory ``.OUT.build-<id>/`` and, only when
every step passed, points ``OUT`` at it by renaming a new link over the old
one (``os.replace``: one atomic rename), then fsyncs the parent directory.
So a build that fails, or is killed at any moment (SIGKILL included), leaves
``OUT`` pointing at the previous, whole build; the next build removes the
leftovers. A lock file (``flock``) refuses a second concurrent build of the
same output. Beside ``OUT``: the mark cache ``.OUT.cache/``, the log's state
``.OUT.state/``, the lock ``.OUT.lock`` and the spare build ``.OUT.spare/``.

**The spare.** The build ``OUT`` pointed at before a switch is not deleted
but kept as ``.OUT.spare`` (the one before it is deleted then; a full build,
whose predecessor no later build can use, keeps a hard-link copy of itself
instead: :meth:`Output.clone_as_spare`): the next
build may take its files instead of creating them again
(docs/publishing.md, "Incremental builds"): the Pelican generator's pages,
``site/api/certificates/`` and ``site/marks/``, each moved in by one rename
and brought up to date from the certificates changed since the spare's own
state. A build claims it first (:meth:`Output.claim_spare`: one rename into
its own build directory), so a spare is always a whole build; a build
killed after that leaves no spare (the claimed one goes with the killed
build directory), and the next one does without. What the build did not
take is handed to the background deleter (:meth:`Output.discard`). Nothing
taken from a spare is written in place: its files may be hard links shared
with the build being served, so a changed file is unlinked and written as
a new inode (:func:`registry.core.fs.write_new`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import subprocess
from pathlib import Path

from registry.core import fs
from registry.core.exceptions import BuildError


class Output:
    """``OUT`` (a symlink) and its sibling build directories, cache, state and lock."""

    def __init__(self, out):
        self.link = Path(os.path.abspath(out))
        self.parent = self.link.parent
        self.prefix = f".{self.link.name}.build-"
        self.cache = self.parent / f".{self.link.name}.cache"
        self.lock_path = self.parent / f".{self.link.name}.lock"

    def current(self):
        """The build directory ``OUT`` points at, or None (no build yet)."""
        if not os.path.lexists(self.link):
            return None
        if not self.link.is_symlink():
            raise BuildError(
                f"{self.link}: exists and is not a publish.py output link; observed a "
                f"{'directory' if self.link.is_dir() else 'file'}, expected a symbolic link "
                "made by an earlier build (move it away or choose another --out)")
        return self.parent / os.readlink(self.link)

    @contextlib.contextmanager
    def locked(self):
        if os.path.lexists(self.parent) and not self.parent.is_dir():
            raise BuildError(f"{self.parent}: observed a file, expected the directory that holds "
                             f"{self.link.name} (--out)")
        self.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise BuildError(f"{self.link}: another build of this output is running "
                                 f"(lock {self.lock_path})") from None
            yield
        finally:
            os.close(fd)  # releases the lock

    def clean_stale(self, keep=()):
        """Remove build directories that ``OUT`` does not point at (killed or old builds).

        Deleting a 10k-certificate build (~50,000 files) took 20 s, so it is
        not done in the build's critical path: each stale directory is renamed
        to ``.OUT.trash-*`` (one atomic rename; it stops being a build
        directory at once) and a detached ``rm -rf`` deletes the trash in the
        background. Trash a deleter did not finish (killed, crashed) is picked
        up again by the next build.
        """
        current = self.current()
        keep = {Path(k).resolve() for k in keep} | ({current.resolve()} if current else set())
        trash = sorted(self.parent.glob(f".{self.link.name}.trash-*"))
        for path in sorted(self.parent.glob(self.prefix + "*")):
            if path.resolve() not in keep:
                target = self.parent / f".{self.link.name}.trash-{path.name[len(self.prefix):]}"
                try:
                    os.rename(path, target)
                except OSError:
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    trash.append(target)
        for path in self.parent.glob(f".{self.link.name}.link-*"):
            path.unlink(missing_ok=True)
        if trash:
            # flock: a deleter still working on older trash is waited for, not
            # joined (two rm -rf on one tree would double the work).
            command = ["rm", "-rf", "--", *map(str, trash)]
            if shutil.which("flock"):
                command = ["flock", str(self.parent / f".{self.link.name}.trash.lock"), *command]
            subprocess.Popen(command, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)  # survives the build; nobody waits

    @property
    def spare(self) -> Path:
        """Where the build before the current one is kept (it may not exist)."""
        return self.parent / f".{self.link.name}.spare"

    def claim_spare(self, build_dir: Path) -> Path | None:
        """Move the spare into ``build_dir`` (as ``.spare``) and return its new path,
        or None when there is none. A spare is claimed whole, by one rename,
        before anything is taken from it: a killed build leaves no partial spare."""
        target = build_dir / ".spare"
        try:
            os.rename(self.spare, target)
        except FileNotFoundError:
            return None
        return target

    def discard(self, path: Path) -> None:
        """Hand ``path`` (a directory of the output's) to the background deleter of
        :meth:`clean_stale`: renamed to trash now, deleted by its next call."""
        os.rename(path, self.parent / f".{self.link.name}.trash-{os.getpid()}-{secrets.token_hex(4)}")

    def keep_as_spare(self, build_dir: Path | None) -> None:
        """Keep ``build_dir`` (the build ``OUT`` pointed at before a switch) as the
        spare; an earlier spare, not claimed, goes to the trash."""
        if build_dir is None or not build_dir.is_dir():
            return
        if os.path.lexists(self.spare):
            self.discard(self.spare)
        os.rename(build_dir, self.spare)

    def clone_as_spare(self, build_dir: Path, leave_out=()) -> None:
        """Make the spare a copy of ``build_dir`` (the build just switched to)
        as hard links (:func:`registry.core.fs.link_copy`), without the
        entries of ``leave_out`` (nothing takes them from a spare); an earlier
        spare goes to the trash. For a full build: the build before it (other
        code or settings) is no use to the next build, which would then clone
        the served pages itself, ~25 s at 100k, on a revocation's path.
        Made under a build directory's name and renamed into place: a copy cut
        short (killed) is a stale build for :meth:`clean_stale`, never a spare."""
        if os.path.lexists(self.spare):
            self.discard(self.spare)
        clone = self.new_build_dir()
        fs.link_copy(build_dir, clone, leave_out)
        os.rename(clone, self.spare)

    def new_build_dir(self) -> Path:
        path = self.parent / f"{self.prefix}{os.getpid()}-{secrets.token_hex(4)}"
        path.mkdir()
        return path

    def switch(self, build_dir: Path):
        """Point ``OUT`` at ``build_dir`` in one atomic rename of a new symlink."""
        tmp = self.parent / f".{self.link.name}.link-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        os.symlink(build_dir.name, tmp)  # relative: the pair can be moved together
        os.replace(tmp, self.link)
        fs.fsync_dir(self.parent)  # the rename survives a crash too, not only a kill

    @property
    def marks_cache(self) -> Path:
        return self.cache / "marks"

    @property
    def templates_cache(self) -> Path:
        """Compiled templates (Jinja bytecode), reused across builds."""
        return self.cache / "templates"
