"""publish.py — turn a registry database into the deployable public portal.

    python publish.py [build] --db registry.db --out output [--keys DIR]
                      [--site-url URL] [--datasette-url URL]
    python publish.py serve [--db registry.db] [--port 8000]

``build`` (the default action) writes ``OUT/site/`` (Pelican site + ``api/``,
``v/``, ``marks/``, ``downloads/``, ``log/``) and ``OUT/data/``
(``registry.db`` for Datasette, ``metadata.yml``); the layout is in
``docs/publishing.md``.

Atomic: ``OUT`` is a symbolic link to ``.OUT.build-<id>/``, a sibling
directory. A build writes a new sibling and, only when every step passed,
points ``OUT`` at it with ``os.replace`` of a new link (one rename, atomic on
POSIX). A build that fails or is killed (SIGKILL included) at any moment
leaves ``OUT`` pointing at the previous, whole output; the next build removes
the leftovers. A lock file keeps two builds of one ``OUT`` from interleaving.

Reproducible: no wall-clock time; the build time is
:func:`registry.clock.build_time` of the latest event (``SOURCE_DATE_EPOCH``
when set); two builds of one registry give byte-identical trees.

Validation: :func:`registry.integrity.verify_registry` must find no
problem, or the build stops with :class:`BuildError` naming the problems and
publishes nothing. It runs in its own process alongside the first steps
(public database, Pelican), which write only into the unpublished build
directory; its result is awaited before any signing step.

``serve`` builds (from the embedded demo registry under ``./demo/`` when no
``--db`` is given, created on first run) and serves the static site on
127.0.0.1:PORT and Datasette on 127.0.0.1:PORT+1 until Ctrl-C or SIGTERM,
rebuilding when the registry changes (:class:`Portal`).
"""

import contextlib
import fcntl
import functools
import hashlib
import http.server
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from registry import (  # noqa: E402
    changefeed, clock, export, integrity, keys, marks, opendata, schema, snapshot, tlog, trust,
)
from registry.exceptions import BuildError, ConfigError, RegistryError  # noqa: E402

log = logging.getLogger("publish")

PELICAN_CONF = ROOT / "pelicanconf.py"
DATASETTE_PLUGINS = ROOT / "plugins" / "datasette"
DEMO_DIR = ROOT / "demo"
DEFAULT_DATASETTE_URL = "/datasette/"
MAX_PROBLEMS_SHOWN = 20
# The build's copy of the registry (schema.snapshot_to), removed before the switch.
REGISTRY_SNAPSHOT = ".registry-snapshot.db"
# Marks depend on the renderer's code: a change to marks.py invalidates the cache.
MARKS_CODE = Path(marks.__file__)


# ------------------------------------------------------------ output layout

class Output:
    """``OUT`` (a symlink) and its sibling build directories, cache and lock."""

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
        dir_fd = os.open(self.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename survives a crash too, not only a kill
        finally:
            os.close(dir_fd)


# ------------------------------------------------------------------- steps

def check_registry(db):
    """Validation first: stop with BuildError naming the problems."""
    _raise_problems(integrity.verify_registry(db))


def _validate_path(db_path: str) -> list:
    """:func:`integrity.verify_registry` of the snapshot ``db_path`` in a pool worker (one process)."""
    db = schema.connect(db_path, readonly=True)
    try:
        return integrity.verify_registry(db, workers=1)
    finally:
        db.conn.close()


def _raise_problems(problems):
    if problems:
        shown = "\n  ".join(problems[:MAX_PROBLEMS_SHOWN])
        more = len(problems) - MAX_PROBLEMS_SHOWN
        raise BuildError(f"the registry failed validation ({len(problems)} problem(s)); "
                         f"nothing was published:\n  {shown}"
                         + (f"\n  … and {more} more" if more > 0 else ""))


def run_pelican(site_dir: Path, public_db: Path, *, site_url, datasette_url, build_time):
    """Render the Pelican site into ``site_dir`` (the staging site dir)."""
    from pelican import Pelican
    from pelican.settings import read_settings

    settings = read_settings(str(PELICAN_CONF), override={
        "OUTPUT_PATH": str(site_dir),
        "SZZZ": {"db": str(public_db), "site_url": site_url, "datasette_url": datasette_url,
                 "build_time": build_time},
    })
    Pelican(settings).run()


def _mark_key(info: marks.MarkInfo, code_digest: str) -> str:
    text = "\n".join([code_digest, info.url, info.cert_no, info.programme, info.status,
                      info.payload_text])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedMarks:
    """``site/marks/<cert_no>.svg|png`` through a content-addressed cache.

    A mark is a pure function of its :class:`marks.MarkInfo` and the renderer
    code, so it is cached under SHA-256 of both across builds; only new or
    changed certificates are rendered. :meth:`start` hands the missing marks
    to a process pool and returns at once, so rendering overlaps Pelican
    (single-threaded) on the other core; :meth:`finish` waits, fills the cache
    and links the marks into the site.
    """

    def __init__(self, db, cache_dir: Path, site_url: str, statuses=None):
        code_digest = hashlib.sha256(MARKS_CODE.read_bytes()).hexdigest()
        self.infos = {info.cert_no: info for info in marks.all_mark_infos(db, site_url, statuses)}
        self.keys = {no: _mark_key(info, code_digest) for no, info in self.infos.items()}
        self.cache_dir = cache_dir
        cache_dir.mkdir(parents=True, exist_ok=True)
        cached = {p.name for p in cache_dir.iterdir()}
        self.missing = [no for no, k in self.keys.items()
                        if not (f"{k}.svg" in cached and f"{k}.png" in cached)]
        self.tmp = cache_dir / f".render-{os.getpid()}"
        self.pending = None

    def start(self, pool):
        """Render the missing marks on ``pool`` (None: render in :meth:`finish`)."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.missing and pool is not None:
            jobs = [(self.infos[no], str(self.tmp), ("svg", "png")) for no in self.missing]
            self.pending = pool.map_async(marks._write_one, jobs,
                                          chunksize=max(1, len(jobs) // 64))

    def finish(self, site_dir: Path) -> dict:
        """Wait for the renderers, fill the cache, link ``site/marks/``; return counts."""
        try:
            if self.pending is not None:
                self.pending.get()
            elif self.missing:
                for no in self.missing:
                    marks.write_mark(self.infos[no], self.tmp)
            for no in self.missing:
                for ext in ("svg", "png"):
                    os.replace(self.tmp / f"{no}.{ext}", self.cache_dir / f"{self.keys[no]}.{ext}")
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        out = site_dir / "marks"
        out.mkdir(parents=True, exist_ok=True)
        for no, k in self.keys.items():
            for ext in ("svg", "png"):
                src, dst = self.cache_dir / f"{k}.{ext}", out / f"{no}.{ext}"
                try:
                    os.link(src, dst)  # same bytes, no copy; the cache never rewrites a file
                except OSError:
                    shutil.copyfile(src, dst)
        used = {f"{k}.{ext}" for k in self.keys.values() for ext in ("svg", "png")}
        for path in self.cache_dir.iterdir():
            if path.is_file() and path.name not in used:
                path.unlink()  # keep the cache to the current set of marks
        return {"marks": len(self.keys), "rendered": len(self.missing)}


def write_marks_cached(db, site_dir: Path, cache_dir: Path, site_url: str, statuses=None) -> dict:
    """Render (missing marks, on every core) and link ``site/marks/``; see :class:`CachedMarks`."""
    cached = CachedMarks(db, cache_dir, site_url, statuses)
    if len(cached.missing) < 8:
        return cached.finish(site_dir)
    with _mark_pool() as pool:
        cached.start(pool)
        return cached.finish(site_dir)


def _mark_pool():
    import multiprocessing

    # fork: the workers inherit the loaded fonts and code; made before any thread runs.
    return multiprocessing.get_context("fork").Pool(os.cpu_count() or 1)


def build(db_path, out, *, keys_dir=None, passphrase=None, site_url=None,
          datasette_url=DEFAULT_DATASETTE_URL, progress=None) -> dict:
    """Build the portal of registry ``db_path`` into ``out`` atomically; return a summary.

    ``passphrase`` unlocks the log key in ``keys_dir`` (default: ``SZZZ_PASSPHRASE``).
    ``progress(step)`` is called before each step (the CLI prints them).
    """
    say = progress or (lambda step: None)
    db_path = Path(db_path)
    if not db_path.is_file():
        raise ConfigError(f"{db_path}: no such registry database")
    keys_dir = Path(keys_dir) if keys_dir else db_path.parent / "keys"
    output = Output(out)
    with output.locked():
        output.clean_stale()
        stack = contextlib.ExitStack()
        validated = False
        build_dir = db = None
        try:
            # One truth: the registry is read exactly once, as one committed
            # state (an online backup into the unpublished build directory);
            # every step below reads that copy. A write committed meanwhile is
            # either wholly in this build or wholly absent from it.
            say("snapshot")
            build_dir = output.new_build_dir()
            snapshot_path = schema.snapshot_to(db_path, build_dir / REGISTRY_SNAPSHOT)
            db = schema.connect(snapshot_path, readonly=True)
            # Every published status is the replay of the signed events; a
            # cached status that disagrees stops the build before anything is signed.
            statuses = snapshot.replayed_statuses(db)
            snapshot.check_status_cache(db, statuses)

            # Validation runs in its own process while the public database and
            # the Pelican site are written into the (unpublished) build
            # directory; its result is awaited before any signing step, and a
            # registry with a problem stops the build with the validation error
            # whatever else failed meanwhile. Nothing is published unvalidated.
            import multiprocessing

            say("validate")
            validation = stack.enter_context(multiprocessing.get_context("fork").Pool(1))
            pending_validation = validation.apply_async(_validate_path, (str(snapshot_path),))
            if passphrase is None:
                passphrase = keys.passphrase_from_env()
            site_url = marks.site_url_for(db, site_url)
            moment = clock.build_time(snapshot.latest_event_date(db))
            build_time = clock.iso_z(moment)
            log_signer = snapshot.load_log_signer(db, keys_dir, passphrase, as_of=moment)
            site_dir, data_dir = build_dir / "site", build_dir / "data"
            site_dir.mkdir()
            data_dir.mkdir()

            # Marks render on a process pool while the public database and
            # the Pelican site (one core each, one after the other) are written.
            cached_marks = CachedMarks(db, output.cache / "marks", site_url, statuses)
            if len(cached_marks.missing) >= 8:
                pool = stack.enter_context(_mark_pool())
                cached_marks.start(pool)

            say("public database")
            public_db = data_dir / "registry.db"
            exported = export.export_public_db(db, public_db, statuses=statuses)
            (data_dir / "metadata.yml").write_text(
                opendata.metadata_yaml(site_url=site_url), encoding="utf-8")

            say("pelican")
            run_pelican(site_dir, public_db, site_url=site_url, datasette_url=datasette_url,
                        build_time=build_time)

            say("validation result")
            _raise_problems(pending_validation.get())
            validated = True

            say("verify page")
            from registry import webverifier

            # The log's origin is the registry's (meta), known before the log is written.
            log_names = tlog.names_for_db(db)
            root = snapshot.root_key_file(trust.envelope(db))
            webverifier.install_verifier(site_dir / "v", root_public_key=root["public_key"],
                                         log_origin=log_names.origin)

            say("api")
            snapshot.write_snapshot(db, site_dir, log_signer, as_of=moment)
            feed = changefeed.write_change_feed(db, site_dir, as_of=moment)

            say("log")
            # The transparency log (registry/tlog.py): refuses to sign a tree that
            # does not extend the published one or the state file's.
            current = output.current()
            log_info = tlog.publish_log(
                db, site_dir, log_signer, tlog.load_timestamp_signer(db, keys_dir, passphrase),
                names=log_names, previous_site=current / "site" if current else None,
                state_file=tlog.state_file_for(output.link), timestamp=moment)

            say("marks")
            mark_stats = cached_marks.finish(site_dir)

            say("downloads")
            export.write_downloads(public_db, site_dir / "downloads")

        except BaseException:
            # A failed build leaves OUT as it was; its directory is removed
            # now (or, after a kill, by the next build's clean_stale), once the
            # mark pool that writes into it is stopped. A registry
            # that fails validation reports that, not a later symptom.
            if (not validated and "pending_validation" in locals()
                    and isinstance(sys.exc_info()[1], Exception)):
                try:
                    problems = pending_validation.get()
                except Exception:  # noqa: BLE001 - the original error is raised below
                    problems = []
                if problems:
                    stack.close()
                    if build_dir is not None:
                        shutil.rmtree(build_dir, ignore_errors=True)
                    _raise_problems(problems)
            stack.close()
            if build_dir is not None:
                shutil.rmtree(build_dir, ignore_errors=True)
            raise
        finally:
            stack.close()
            if db is not None:
                db.conn.close()
        # The snapshot holds operator-only data: it never leaves with the build.
        (build_dir / REGISTRY_SNAPSHOT).unlink()
        say("switch")
        output.switch(build_dir)
        output.clean_stale()
    return {"out": str(output.link), "build_dir": str(build_dir), "build_time": build_time,
            "site_url": site_url, "tables": exported["tables"], "last_seq": feed["last_seq"],
            "log": {k: log_info[k] for k in ("origin", "size", "root", "reused")}, **mark_stats}


# ------------------------------------------------------------------- serve

class StaticHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
        ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
        ".json": "application/json", ".svg": "image/svg+xml", ".wasm": "application/wasm",
        ".xml": "application/xml", ".csv": "text/csv; charset=utf-8",
        ".txt": "text/plain; charset=utf-8", ".db": "application/vnd.sqlite3",
    }

    def log_message(self, format, *args):  # noqa: A002 - quiet by default
        if os.environ.get("SZZZ_SERVE_LOG"):
            super().log_message(format, *args)


def demo_registry():
    """``./demo/registry.db`` (created on first run with the demo passphrase)."""
    from registry import demo

    db_path, keys_dir = DEMO_DIR / "registry.db", DEMO_DIR / "keys"
    passphrase = demo.DEMO_PASSPHRASE.encode()
    if not db_path.exists():
        click.echo(f"creating the demo registry in {DEMO_DIR} …", err=True)
        DEMO_DIR.mkdir(parents=True, exist_ok=True)
        demo.build(db_path, keys_dir, passphrase=passphrase)
    return db_path, keys_dir, passphrase


def datasette_command(data_dir: Path, port: int) -> list:
    return [sys.executable, "-m", "datasette", "serve", "-i", str(data_dir / "registry.db"),
            "--metadata", str(data_dir / "metadata.yml"),
            "--plugins-dir", str(DATASETTE_PLUGINS),
            "--setting", "sql_time_limit_ms", "1000", "--setting", "suggest_facets", "off",
            "--cors", "--host", "127.0.0.1", "--port", str(port)]


def refresh_for_serving(out_link: Path, db_path, keys_dir, passphrase=None):
    """Cosign the served checkpoint with the wall clock (``publish.py refresh``),
    so an old registry served today verifies as current: its statements are
    dated by its last event, and a fresh checkpoint of the same tree size keeps
    them current (docs/verification.md §6). Skipped when the build's own
    cosignature is already newer than now (an event dated today); refused
    (FreshnessError) when registry ``db_path`` has events the build lacks."""
    import datetime
    import json
    import time

    now = int(time.time())
    site = out_link / "site"
    if not (site / tlog.LOG_DIR / tlog.CHECKPOINT).is_file():
        return None
    # The build cosigned at its build time, which is also the snapshot's as_of.
    envelope = json.loads((site / "api" / "status.json").read_text(encoding="utf-8"))
    as_of = json.loads(envelope["payload"])["as_of"]
    if datetime.datetime.fromisoformat(as_of.replace("Z", "+00:00")).timestamp() >= now:
        return None
    return refresh_published(site, db_path, keys_dir,
                             passphrase if passphrase is not None else keys.passphrase_from_env(),
                             state_file=tlog.state_file_for(out_link), timestamp=now)


def refresh_published(site_dir: Path, db_path, keys_dir, passphrase, *, state_file, timestamp=None):
    """:func:`registry.tlog.refresh_site` with the registry at ``db_path`` opened for it."""
    db = schema.connect(db_path)
    try:
        return tlog.refresh_site(site_dir, keys_dir, passphrase, registry_db=db, state_file=state_file,
                                 timestamp=timestamp)
    finally:
        db.conn.close()


WATCH_INTERVAL = 1.0  # seconds between looks at the registry and at OUT


class Portal:
    """What ``serve`` runs after its first build: the static site (served from
    ``OUT/site`` through the link, so each request sees the current build), a
    Datasette subprocess, and a watcher thread.

    The watcher keeps the two halves of the portal telling the same story. When
    the registry changes (an operator ran ``szzz cert revoke``: SQLite's
    ``PRAGMA data_version`` moves when another connection commits), it rebuilds
    with ``publish.py build`` in a subprocess, the same command an operator
    would run. When ``OUT`` points at a new build (that rebuild, or one run by
    hand), it re-cosigns the new checkpoint like the first build
    (:func:`refresh_for_serving`) and restarts Datasette: Datasette opens an
    immutable database once and would go on serving the old file. A failed
    rebuild prints its error and leaves the previous output served, as any
    failed build does.
    """

    def __init__(self, db_path, keys_dir, passphrase, *, out, port, site_url, datasette_url):
        # Absolute: the rebuild runs in the repository directory, not the caller's.
        self.db_path, self.keys_dir = Path(os.path.abspath(db_path)), Path(os.path.abspath(keys_dir))
        self.passphrase = passphrase
        self.output = Output(out)
        self.port, self.site_url, self.datasette_url = port, site_url, datasette_url
        self.stopping = threading.Event()
        self.lock = threading.Lock()  # guards datasette and rebuild against stop()
        self.datasette = None
        self.rebuild = None
        self.served_build = None
        self.watcher = threading.Thread(target=self._watch, name="szzz-serve-watch", daemon=True)

    def _child_env(self, *, passphrase: bool) -> dict:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        env.pop(keys.PASSPHRASE_ENV, None)  # Datasette needs no key
        if passphrase:
            env[keys.PASSPHRASE_ENV] = os.fsdecode(self.passphrase)
        return env

    def start(self):
        """Serve the first build; a failure to re-cosign it stops ``serve`` (RegistryError)."""
        self._serve_current_build(strict=True)
        self.watcher.start()

    def stop(self):
        self.stopping.set()
        with self.lock:
            if self.rebuild is not None and self.rebuild.poll() is None:
                self.rebuild.terminate()  # a killed build leaves the served output whole
            self._stop_datasette()
        if self.watcher.is_alive():
            self.watcher.join(timeout=30)

    def _stop_datasette(self):
        if self.datasette is None:
            return
        self.datasette.terminate()
        try:
            self.datasette.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.datasette.kill()
            self.datasette.wait()
        self.datasette = None

    def _serve_current_build(self, *, strict=False):
        """Refresh the checkpoint of the build ``OUT`` points at; (re)start Datasette on it.

        Under the output lock, so that no build switches ``OUT`` meanwhile;
        returns False (try again later) while a build holds the lock."""
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(self.output.locked())
            except BuildError:
                return False
            current = self.output.current()
            try:
                refresh_for_serving(self.output.link, self.db_path, self.keys_dir, self.passphrase)
            except RegistryError as e:
                if strict:
                    raise
                # Served all the same, as the build signed it: verifiers say
                # status_unknown if its checkpoint is too old, never valid.
                click.echo(f"Error: {e}", err=True)
        with self.lock:
            if self.stopping.is_set():
                return True
            self._stop_datasette()
            self.datasette = subprocess.Popen(
                datasette_command(self.output.link / "data", self.port + 1),
                cwd=ROOT, env=self._child_env(passphrase=False))
            self.served_build = current
        return True

    def _rebuild(self):
        click.echo("登记库已更改，重新构建 / registry changed, rebuilding …", err=True)
        command = [sys.executable, str(ROOT / "publish.py"), "build", "--db", str(self.db_path),
                   "--out", str(self.output.link), "--keys", str(self.keys_dir),
                   "--site-url", self.site_url, "--datasette-url", self.datasette_url]
        with self.lock:
            if self.stopping.is_set():
                return
            self.rebuild = subprocess.Popen(command, cwd=ROOT, env=self._child_env(passphrase=True),
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            text=True)
        stdout, stderr = self.rebuild.communicate()
        if self.stopping.is_set():
            return
        if self.rebuild.returncode == 0:
            click.echo(stdout.strip().splitlines()[-1], err=True)  # "built …" after Pelican's talk
        else:
            errors = [line for line in stderr.splitlines() if not line.startswith("  · ")]
            click.echo("重新构建失败，继续提供上一版本 / rebuild failed, the previous output "
                       "is still served:\n" + "\n".join(errors), err=True)

    def _watch(self):
        import sqlite3

        registry = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True,
                                   check_same_thread=False)
        try:
            version = registry.execute("pragma data_version").fetchone()[0]
            while not self.stopping.wait(WATCH_INTERVAL):
                seen = registry.execute("pragma data_version").fetchone()[0]
                if seen != version:
                    version = seen  # commits during the rebuild trigger one more
                    self._rebuild()
                if self.output.current() != self.served_build and self._serve_current_build():
                    click.echo(f"开放数据已更新 / Datasette now serves "
                               f"{self.served_build.name}", err=True)
        finally:
            registry.close()


def serve(db_path=None, *, port=8000, out="output", keys_dir=None, passphrase=None):
    """Build, then serve the site and Datasette until Ctrl-C or SIGTERM; rebuild when
    the registry changes (:class:`Portal`)."""
    if db_path is None:
        db_path, keys_dir, passphrase = demo_registry()
    keys_dir = Path(keys_dir) if keys_dir else Path(db_path).parent / "keys"
    if passphrase is None:
        passphrase = keys.passphrase_from_env()
    site_url = f"http://127.0.0.1:{port}"
    datasette_url = f"http://127.0.0.1:{port + 1}/"
    summary = build(db_path, out, keys_dir=keys_dir, passphrase=passphrase, site_url=site_url,
                    datasette_url=datasette_url,
                    progress=lambda step: click.echo(f"  · {step}", err=True))
    portal = Portal(db_path, keys_dir, passphrase, out=summary["out"], port=port,
                    site_url=site_url, datasette_url=datasette_url)
    handler = functools.partial(StaticHandler, directory=str(portal.output.link / "site"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        portal.start()
        click.echo(f"网站 site:        {site_url}/")
        click.echo(f"开放数据 Datasette: {datasette_url}")
        click.echo("登记库更改后自动重新构建 / rebuilt when the registry changes; Ctrl-C 停止 / to stop")
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        portal.stop()


# --------------------------------------------------------------------- CLI

def _fail(e):
    raise click.ClickException(str(e)) from None


_common = [
    click.option("--db", "db_path", type=click.Path(dir_okay=False), help="registry database"),
    click.option("--out", default="output", show_default=True, type=click.Path(file_okay=False),
                 help="output (a symlink to the current build)"),
    click.option("--keys", "keys_dir", type=click.Path(file_okay=False),
                 help="key directory holding the log key [default: keys/ next to --db]"),
]


def _with_common(f):
    for option in reversed(_common):
        f = option(f)
    return f


class DefaultBuild(click.Group):
    """``publish.py --db X`` means ``publish.py build --db X``: build is the default."""

    def parse_args(self, ctx, args):
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["build", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultBuild)
def cli():
    """苏州制造 portal: build (default) or serve the public site and open data."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@cli.command("build")
@_with_common
@click.option("--site-url", help="public URL of the site (marks, sitemap, feeds)")
@click.option("--datasette-url", default=DEFAULT_DATASETTE_URL, show_default=True,
              help="URL of the Datasette instance the site links to")
def build_cmd(db_path, out, keys_dir, site_url, datasette_url):
    """Build OUT/site and OUT/data from the registry, atomically."""
    if not db_path:
        _fail(ConfigError("--db is required: the registry database to publish"))
    try:
        summary = build(db_path, out, keys_dir=keys_dir, site_url=site_url,
                        datasette_url=datasette_url,
                        progress=lambda step: click.echo(f"  · {step}", err=True))
    except RegistryError as e:
        _fail(e)
    click.echo(f"built {summary['out']} (build time {summary['build_time']}, "
               f"{summary['tables']['certificates']} certificates, last seq {summary['last_seq']}, "
               f"{summary['rendered']} marks rendered)")


@cli.command("refresh")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help="the registry the output was built from (read only)")
@click.option("--out", default="output", show_default=True, type=click.Path(file_okay=False),
              help="published output (the symlink a build made)")
@click.option("--keys", "keys_dir", required=True, type=click.Path(file_okay=False),
              help="key directory holding the timestamp key")
def refresh_cmd(db_path, out, keys_dir):
    """Re-cosign the published log checkpoint with the current time (no new events, no rebuild).

    时间戳续签：仅更新检查点的时间戳副签名。Time: SOURCE_DATE_EPOCH when set, else now.
    Refused when the registry has events the published log lacks: rebuild then.
    """
    output = Output(out)
    try:
        with output.locked():
            current = output.current()
            if current is None:
                raise ConfigError(f"{out}: nothing published yet (run `publish.py build` first)")
            result = refresh_published(current / "site", db_path, keys_dir, keys.passphrase_from_env(),
                                       state_file=tlog.state_file_for(output.link))
    except RegistryError as e:
        _fail(e)
    click.echo(f"refreshed {out}/site/log/checkpoint: tree size {result['size']}, "
               f"cosigned at {result['timestamp']}")


@cli.command("serve")
@_with_common
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65534),
              help="site port; Datasette listens on PORT+1")
def serve_cmd(db_path, out, keys_dir, port):
    """Build and serve the site (PORT) and Datasette (PORT+1) on 127.0.0.1."""
    try:
        serve(db_path, port=port, out=out, keys_dir=keys_dir)
    except RegistryError as e:
        _fail(e)


if __name__ == "__main__":
    cli()
