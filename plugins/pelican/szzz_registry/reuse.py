"""An incremental build's pages: an earlier build's tree, brought up to date in place.

An incremental build (docs/publishing.md, "Incremental builds") starts from a
complete earlier build's pages in its own site directory and rewrites only
the files a changed record feeds (:mod:`szzz_registry.dirty`). The earlier
tree gets there in one of two ways (``SZZZ["incremental"]["take"]``):

* **taken** — the spare build (the one before the build ``OUT`` points at, no
  longer served; ``publish.build`` claims it for this build) gives up the
  entries this generator owns, one ``rename`` each: no file or directory is
  created for an unchanged page;
* **cloned** — the build ``OUT`` points at (still served) is copied as hard
  links, by one ``cp -al`` (C speed; ``shutil.copytree`` with ``os.link``
  where GNU cp is missing). Each directory is a new inode (``mkdir``): one
  page is one directory here, and creating an inode is what costs on ext4
  (0.05–0.25 ms each on our VM), so a clone stays O(pages) — the fallback
  when there is no spare.

Either way a file may be shared with the served build (a hard link), so it
is never written in place: :func:`write_text` gives the name a new inode.
Only this generator's entries are taken or cloned; Pelican's own output
(content pages, theme and static files) is written by every build, with
plain writes, so it must not be linked.
"""

import fnmatch
import os
import shutil
from pathlib import Path

from registry.core import fs
from registry.core.exceptions import BuildError

# The top-level entries of the site this generator writes (and only it):
# every other name is Pelican's (content pages, theme/, images/, favicon)
# or another writer's (api/, v/, marks/, log/, downloads/).
OWNED = ("index.html", "certificates", "products", "enterprises", "bodies", "standards", "lists",
         "notices", "stats", "search", "feeds", "robots.txt", "sitemap.xml", "sitemap-*.xml")


def owned_entries(site_dir) -> list:
    """This generator's top-level entries present in ``site_dir``, by name."""
    try:
        names = sorted(os.listdir(site_dir))
    except FileNotFoundError:
        raise BuildError(f"SZZZ['incremental']['previous'] = {str(site_dir)!r}: no such "
                         "directory (the site of an earlier build)") from None
    return [n for n in names if any(fnmatch.fnmatchcase(n, pattern) for pattern in OWNED)]


def take(previous, out) -> None:
    """Move the owned entries of ``previous`` (a tree nobody serves) into ``out``."""
    os.makedirs(out, exist_ok=True)
    for name in owned_entries(previous):
        os.rename(os.path.join(previous, name), os.path.join(out, name))


class Clone:
    """Hard links of the owned entries of ``previous`` in ``out``, made by a
    ``cp -al`` child (:func:`registry.core.fs.start_link_copy`) while the
    generator reads the registry; :meth:`wait` before writing into ``out``."""

    def __init__(self, previous, out):
        self.previous, self.out = Path(previous), Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.process = fs.start_link_copy((self.previous / n for n in owned_entries(self.previous)), self.out)

    def wait(self) -> None:
        try:
            fs.wait_link_copy(self.process, f"{self.previous} {self.out}")
        except OSError as e:
            raise BuildError(str(e)) from None
        finally:
            self.process = None

    def stop(self) -> None:
        """End the copy if it still runs (the build failed): nothing writes into
        the build directory once the generator is done with it."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def write_text(path, text, *, replace) -> None:
    """Write ``text`` to ``path``; with ``replace``, as a new inode (the name is
    unlinked first: the old file may be a hard link shared with the served
    build, which must never change under its readers). No temporary name is
    needed: the tree is the unpublished build's, swapped in whole later."""
    if replace:
        fs.write_new(path, text)
        return
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def remove(path) -> None:
    """Remove a file or directory tree of the unpublished build (unlinking
    never changes a file another build shares)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
