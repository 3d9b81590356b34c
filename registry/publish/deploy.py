"""``publish.py deploy``: copy a built ``site/`` to where the public reads it.

Two kinds of destination (``docs/publishing.md`` "Deploy"):

* a **directory** (a path: absolute, or starting with ``.`` or ``~``, or
  without a colon): the site is copied to ``DEST/releases/<id>/`` and the
  symbolic link ``DEST/current`` is switched to it in one rename, so a
  reader sees the old site or the new one, never a mix. ``DEST/etags.map``
  is the nginx ETag map of the new release (``headers.etag_map``), written
  before the switch.
* an **rclone remote** (``remote:bucket/path``, ``:webdav,url=…:``, …): the
  files are uploaded with ``rclone copy``, one run per group of files that
  share their headers (``--header-upload Content-Type/Cache-Control`` from
  :mod:`registry.publish.headers`), in the safe order of
  :func:`registry.publish.headers.upload_plan`: tiles first, then pages and
  ``api/``, then ``api/status.json``, the checkpoint last; files the new
  build no longer has are deleted only after the new checkpoint is uploaded.

An object store is not switched atomically, so the order is what keeps a
reader safe: nothing points at a tile before it is there, and a verifier
that fetches a new certificate file with the old checkpoint sees a
statement newer than the tree it holds (status unknown, never a wrong
"valid"; docs/verification.md rule 6).
"""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from itertools import groupby
from pathlib import Path

from registry.core import fs
from registry.core.exceptions import DeployError
from registry.publish import headers

RELEASES = "releases"
CURRENT = "current"
ETAG_MAP = "etags.map"
KEEP_RELEASES = 2  # the new one and the one requests in flight may still read


def is_directory(dest: str) -> bool:
    return dest.startswith(("/", ".", "~")) or ":" not in dest


def release_id(plan: Sequence[headers.Upload]) -> str:
    """The same site gives the same id: a repeated deploy is recognised."""
    digest = hashlib.sha256()
    for upload in sorted(plan, key=lambda u: u.path):
        digest.update(f"{upload.path}\0{upload.etag}\n".encode())
    return digest.hexdigest()[:16]


def deploy(site: Path, dest: str, *, rclone_args: Sequence[str] = (),
           progress: Callable[[str], None] | None = None) -> dict:
    site = Path(site)
    if not (site / "log" / "checkpoint").is_file():
        raise DeployError(f"{site}: observed no log/checkpoint, expected a built site/ "
                          "(run `publish.py build` first)")
    plan = headers.upload_plan(site)  # HeaderPolicyError for a file no rule classifies, before any write
    say = progress or (lambda _: None)
    if is_directory(dest):
        return deploy_to_directory(site, Path(os.path.expanduser(dest)), plan, say)
    return deploy_to_rclone(site, dest, plan, list(rclone_args), say)


# ---------------------------------------------------------------- directory

def deploy_to_directory(site: Path, dest: Path, plan, say) -> dict:
    dest.mkdir(parents=True, exist_ok=True)
    releases = dest / RELEASES
    releases.mkdir(exist_ok=True)
    rid = release_id(plan)
    release = releases / rid
    current = dest / CURRENT
    if os.path.realpath(current) == str(release.resolve()) and release.is_dir():
        say(f"{rid} is already live")
        return {"dest": str(dest), "release": rid, "uploaded": 0, "deleted": 0, "unchanged": True}
    if not release.is_dir():
        staging = Path(tempfile.mkdtemp(prefix=f".{rid}.", dir=releases))
        try:
            say(f"copying {len(plan)} files to {release}")
            for upload in plan:
                target = staging / upload.path
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(site / upload.path, target)
                # Published files are for everyone: readable by the web
                # server's user whatever mode the build wrote them with.
                os.chmod(target, 0o644)
            for root, dirs, _ in os.walk(staging):
                for name in dirs:
                    os.chmod(Path(root) / name, 0o755)
            os.chmod(staging, 0o755)
            os.replace(staging, release)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    # The nginx map of the new release first: keyed by its real path, it
    # matches nothing until the switch (headers.etag_map).
    fs.write_atomic(dest / ETAG_MAP, headers.etag_map(release))
    link = dest / f".{CURRENT}.{os.getpid()}.new"
    link.unlink(missing_ok=True)
    os.symlink(Path(RELEASES) / rid, link)
    os.replace(link, current)
    fs.fsync_dir(dest)
    say(f"{current} -> {RELEASES}/{rid}")
    # Deletions only after the switch: older releases, the previous one kept.
    old = sorted((p for p in releases.iterdir() if p.is_dir() and p.name != rid and not p.name.startswith(".")),
                 key=lambda p: p.stat().st_mtime, reverse=True)
    stale = old[KEEP_RELEASES - 1:]
    for directory in stale:
        shutil.rmtree(directory, ignore_errors=True)
    return {"dest": str(dest), "release": rid, "uploaded": len(plan), "deleted": len(stale),
            "unchanged": False}


# ------------------------------------------------------------------- rclone

def _rclone() -> str:
    found = shutil.which("rclone")
    if not found:
        raise DeployError("rclone: observed no rclone on PATH, expected one to deploy to a remote "
                          "(Debian: apt-get install rclone)")
    return found


def _run(command: list[str], what: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise DeployError(f"{what}: rclone exited with status {done.returncode}"
                          + (f": {lines[-1].strip()}" if lines else ""))
    return done.stdout


def remote_listing(dest: str, extra: list[str]) -> dict[str, dict]:
    """``path -> {"Size", "Hashes"}`` of every file at ``dest`` (empty when it does not exist yet)."""
    command = [_rclone(), "lsjson", "-R", "--files-only", "--hash", dest, *extra]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode == 3:  # rclone: directory not found
        return {}
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise DeployError(f"{dest}: listing failed, rclone exited with status {done.returncode}"
                          + (f": {lines[-1].strip()}" if lines else ""))
    return {entry["Path"]: entry for entry in json.loads(done.stdout or "[]")}


def _unchanged(site: Path, upload: headers.Upload, remote: dict | None) -> bool:
    """True only when the remote copy is known to hold the same bytes."""
    if remote is None or remote.get("Size") != (site / upload.path).stat().st_size:
        return False
    hashes = remote.get("Hashes") or {}
    for name, algorithm in (("sha256", hashlib.sha256), ("sha1", hashlib.sha1), ("md5", hashlib.md5)):
        if hashes.get(name):
            return hashes[name].lower() == algorithm((site / upload.path).read_bytes()).hexdigest()
    # No hash to compare (WebDAV, SFTP without shell): a same-size file may
    # hold other bytes (a checkpoint always has the same size), so only a
    # tile, which never changes under its name, counts as unchanged.
    return upload.rule.cache_control == headers.IMMUTABLE


def deploy_to_rclone(site: Path, dest: str, plan, extra: list[str], say) -> dict:
    remote = remote_listing(dest, extra)
    todo = [u for u in plan if not _unchanged(site, u, remote.get(u.path))]
    wanted = {u.path for u in plan}
    gone = sorted(path for path in remote if path not in wanted)

    def group(upload):
        return (upload.rule.phase, upload.rule.name == "checkpoint", upload.content_type,
                upload.cache_control)

    with tempfile.TemporaryDirectory(prefix="szzz-deploy-") as scratch:
        for n, (key, uploads) in enumerate(groupby(todo, key=group)):
            paths = [u.path for u in uploads]
            phase, _, content_type, cache_control = key
            listing = Path(scratch) / f"upload-{n}.txt"
            listing.write_text("".join(f"{p}\n" for p in paths), encoding="utf-8")
            say(f"{headers.PHASE_NAMES[phase]}: {len(paths)} × {content_type}, {cache_control}")
            _run([_rclone(), "copy", str(site), dest, "--files-from-raw", str(listing), "--no-traverse",
                  "--no-check-dest", "--header-upload", f"Content-Type: {content_type}",
                  "--header-upload", f"Cache-Control: {cache_control}", *extra],
                 f"uploading {paths[0]} and {len(paths) - 1} more to {dest}")
        if gone:
            listing = Path(scratch) / "delete.txt"
            listing.write_text("".join(f"{p}\n" for p in gone), encoding="utf-8")
            say(f"deleting {len(gone)} files the new build no longer has")
            _run([_rclone(), "delete", dest, "--files-from-raw", str(listing), *extra],
                 f"deleting {gone[0]} and {len(gone) - 1} more from {dest}")
    return {"dest": dest, "uploaded": len(todo), "unchanged_files": len(plan) - len(todo),
            "deleted": len(gone), "unchanged": not todo and not gone}
