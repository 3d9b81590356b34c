"""Marks through a content-addressed cache: each revision's mark is rendered once.

A mark is a pure function of its :class:`~registry.marks.render.MarkInfo` and
the code of this package, so it is cached under SHA-256 of both, across
builds: only new or changed certificates are rendered. :meth:`CachedMarks.start`
hands the missing marks to a process pool and returns at once, so rendering
overlaps the build's single-threaded steps on the other core;
:meth:`CachedMarks.finish` waits, fills the cache and hard-links the marks
into the site (the cache never rewrites a file, so sharing inodes is safe).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
from pathlib import Path

from registry.core import fs, parallel
from registry.marks import render

FORMATS = ("svg", "png")
MIN_FOR_POOL = 8  # fewer marks render faster than a pool starts
FEW = 1000  # fewer marks are looked up in the cache one by one, more by listing it


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 of this package's code: a change to how marks look or encode invalidates the cache."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def cache_key(info: render.MarkInfo) -> str:
    text = "\n".join([code_digest(), info.url, info.cert_no, info.programme, info.payload_text,
                      "demo" if info.demo else ""])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedMarks:
    """The marks of ``infos`` (:class:`render.MarkInfo`) through the cache in ``cache_dir``.

    ``previous`` (an incremental build): ``(marks directory of the previous
    build, certificate numbers that changed since)``; ``infos`` then holds
    the changed certificates' marks only (of those still valid), and every
    other mark is the previous build's file, linked by name. With ``take``
    the previous directory is nobody's (a spare build,
    :meth:`~registry.publish.output.Output.claim_spare`): it is moved in
    whole (one rename) and only the changed certificates' names are
    replaced (unlinked, then linked from the cache when the certificate is
    valid): no call per unchanged mark. The cache is then not pruned (that
    needs every mark's key: a full build does it).
    """

    def __init__(self, infos, cache_dir: Path, previous: tuple[Path, set[str]] | None = None, *,
                 take: bool = False):
        self.infos = {info.cert_no: info for info in infos}
        self.keys = {no: cache_key(info) for no, info in self.infos.items()}
        self.previous = previous
        self.take = take and previous is not None
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # An incremental build's few marks: a look each, not a listing of
        # the whole cache (200,000 names at 100k, ~0.09 s).
        cached = ((lambda name: (self.cache_dir / name).is_file()) if len(self.keys) < FEW
                  else set(os.listdir(self.cache_dir)).__contains__)
        self.missing = [no for no, k in self.keys.items() if not all(cached(f"{k}.{ext}") for ext in FORMATS)]
        self.tmp = self.cache_dir / f".render-{os.getpid()}"
        self.pending = None

    @property
    def wants_pool(self) -> bool:
        return len(self.missing) >= MIN_FOR_POOL

    def start(self, pool):
        """Render the missing marks on ``pool`` (None: render in :meth:`finish`)."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.missing and pool is not None:
            jobs = [(self.infos[no], str(self.tmp), FORMATS) for no in self.missing]
            self.pending = pool.map_async(render.write_mark_job, jobs, chunksize=max(1, len(jobs) // 64))

    def finish(self, site_dir: Path, *, marks: int | None = None) -> dict:
        """Wait for the renderers, fill the cache, link ``site/marks/``; return counts.
        ``marks``: how many certificates have a mark, when the caller knows
        (a build: its valid ones); else, with ``take``, the directory is listed to count them."""
        try:
            if self.pending is not None:
                self.pending.get()
            else:
                for no in self.missing:
                    render.write_mark(self.infos[no], self.tmp)
            for no in self.missing:
                for ext in FORMATS:
                    os.replace(self.tmp / f"{no}.{ext}", self.cache_dir / f"{self.keys[no]}.{ext}")
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        out = Path(site_dir) / "marks"
        if self.take and self.previous is not None:
            previous_dir, changed = self.previous
            os.rename(previous_dir, out)
            for no in changed:
                for ext in FORMATS:
                    # Unlinked, never written: the file may be shared with the served build.
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(out / f"{no}.{ext}")
        out.mkdir(parents=True, exist_ok=True)
        pairs = [(f"{k}.{ext}", f"{no}.{ext}") for no, k in self.keys.items() for ext in FORMATS]
        try:
            fs.link_files(self.cache_dir, out, pairs)  # same bytes, no copy; the cache never rewrites a file
        except OSError:  # a cache on another file system
            for src, dst in pairs:
                if not (out / dst).exists():
                    shutil.copyfile(self.cache_dir / src, out / dst)
        if self.take:
            return {"marks": len(os.listdir(out)) // len(FORMATS) if marks is None else marks,
                    "rendered": len(self.missing)}
        if self.previous is not None:
            previous_dir, changed = self.previous
            kept = [(name, name) for name in os.listdir(previous_dir) if name.rpartition(".")[0] not in changed]
            fs.link_files(previous_dir, out, kept)
            return {"marks": len(self.keys) + len(kept) // len(FORMATS), "rendered": len(self.missing)}
        used = {src for src, _ in pairs}
        with os.scandir(self.cache_dir) as entries:
            for entry in entries:
                if entry.is_file() and entry.name not in used:
                    os.unlink(entry.path)  # keep the cache to the current set of marks
        return {"marks": len(self.keys), "rendered": len(self.missing)}


def write_cached(infos, site_dir: Path, cache_dir: Path) -> dict:
    """Render the missing marks (on every core) and link ``site/marks/``; see :class:`CachedMarks`."""
    cached = CachedMarks(infos, cache_dir)
    if not cached.wants_pool:
        return cached.finish(site_dir)
    with parallel.pool() as pool:
        cached.start(pool)
        return cached.finish(site_dir)
