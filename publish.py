"""publish.py — turn a registry database into the deployable public portal.

    python publish.py [build] --db registry.db --out output [--keys DIR]
                      [--site-url URL] [--datasette-url URL]
    python publish.py serve [--db registry.db] [--port 8000]

``build`` (the default action) writes ``OUT/site/`` (Pelican site + ``api/``,
``v/``, ``marks/``, ``downloads/``, ``log/``) and ``OUT/data/``
(``registry.db`` for Datasette, ``metadata.yml``); the layout is in
``docs/publishing.md``.

The build itself is the library's (:mod:`registry.publish.build`: one
snapshot of the registry, validated, atomic, reproducible); this application
gives it Pelican as the site generator and this checkout's verifier assets,
and runs the servers: the static site and Datasette.

``serve`` builds (from the embedded demo registry under ``./demo/`` when no
``--db`` is given, created on first run) and serves the static site on
127.0.0.1:PORT and Datasette on 127.0.0.1:PORT+1 until Ctrl-C or SIGTERM,
rebuilding when the registry changes (:class:`Portal`).
"""

import contextlib
import functools
import http.server
import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from http import HTTPStatus
from pathlib import Path

import click
import jinja2

from registry.cli.options import RegistryGroup, UsageFailure
from registry.core import keys
from registry.core.exceptions import BuildError, ConfigError, HeaderPolicyError, RegistryError
from registry.core.fs import write_atomic
from registry.publish import build as building
from registry.publish import dbrows, headers, incremental, livedb, site
from registry.publish import deploy as deploying
from registry.publish import log as publish_log
from registry.publish import watch as watching
from registry.publish.incremental import SITE_FIGURES
from registry.publish.output import Output
from registry.publish.webverifier import VerifierAssets
from registry.store import demo

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("publish")

PELICAN_CONF = ROOT / "pelicanconf.py"
DATASETTE_PLUGINS = ROOT / "plugins" / "datasette"
DATASETTE_SERVER = ROOT / "datasette_server.py"
DEMO_DIR = ROOT / "demo"
DEFAULT_DATASETTE_URL = building.DEFAULT_DATASETTE_URL
ASSETS = VerifierAssets.in_checkout(ROOT)


def run_pelican(site_dir: Path, public_db: Path, *, site_url, datasette_url, build_time,
                incremental=None, cache_dir=None):
    """Render the Pelican site into ``site_dir`` (the staging site dir) from the public database
    (only the pages the changes feed when ``incremental``: the generator's ``Dirty``); the
    site's registry-wide figures go beside it (``incremental.SITE_FIGURES``, not deployed).

    ``cache_dir`` keeps the compiled templates across builds (Jinja's bytecode
    cache checks each template's source checksum): compiling them is ~0.5 s of
    every build, most of a small incremental one."""
    from pelican import Pelican
    from pelican.settings import read_settings

    settings = read_settings(str(PELICAN_CONF))
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        settings["JINJA_ENVIRONMENT"] = {**settings["JINJA_ENVIRONMENT"],
                                         "bytecode_cache": jinja2.FileSystemBytecodeCache(str(cache_dir))}
    settings = read_settings(str(PELICAN_CONF), override={
        "JINJA_ENVIRONMENT": settings["JINJA_ENVIRONMENT"],
        "OUTPUT_PATH": str(site_dir),
        "SZZZ": {"db": str(public_db), "site_url": site_url, "datasette_url": datasette_url,
                 "build_time": build_time, "incremental": incremental,
                 "figures": str(Path(site_dir).parent / SITE_FIGURES)},
    })
    Pelican(settings).run()


def code_digest() -> str:
    """What every page depends on besides the records: the library, the plugins,
    the theme and verifier assets, the content pages and the settings. A change
    to any of them makes the next build a full one (:mod:`registry.publish.incremental`)."""
    return incremental.code_digest([ROOT / "registry", ROOT / "plugins", ROOT / "site",
                                    ROOT / "content", PELICAN_CONF, Path(__file__).resolve()])


def build(db_path, out, *, keys_dir=None, passphrase=None, site_url=None,
          datasette_url=DEFAULT_DATASETTE_URL, progress=None, full=False) -> dict:
    """Build the portal of registry ``db_path`` into ``out`` (:func:`registry.publish.build.build`,
    with Pelican and this checkout's verifier assets): incrementally on an existing
    output built from the same code and settings, unless ``full``."""
    return building.build(db_path, out, render_site=run_pelican, assets=ASSETS, keys_dir=keys_dir,
                          passphrase=passphrase, site_url=site_url, datasette_url=datasette_url,
                          progress=progress, code_digest=code_digest(), full=full)


# ------------------------------------------------------------------- serve

class StaticHandler(http.server.SimpleHTTPRequestHandler):
    """The site's files with the headers of :mod:`registry.publish.headers` (the
    table nginx, ``_headers`` and ``deploy`` use too): its Content-Type and
    Cache-Control, the security headers and the CSP, and a strong ETag from
    the bytes, so that ``If-None-Match`` gets 304 only for the same content.
    ``If-Modified-Since`` is ignored: two reproducible builds can give a file
    new bytes and an old mtime."""

    def __init__(self, *args, datasette_url=None, **kwargs):
        self.datasette_url = datasette_url
        super().__init__(*args, **kwargs)

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir() and urllib.parse.urlsplit(self.path).path.endswith("/"):
            path = path / "index.html"
        if not path.is_file():
            return super().send_head()  # redirects to the slash, 404
        rel = path.relative_to(self.directory).as_posix()
        try:
            policy = headers.headers_for(rel, datasette_url=self.datasette_url)
        except HeaderPolicyError:
            policy = [("Content-Type", self.guess_type(str(path))), ("Cache-Control", headers.NO_CACHE)]
        data = path.read_bytes()
        tag = headers.etag_of(data)
        wanted = {t.strip().removeprefix("W/") for t in self.headers.get("If-None-Match", "").split(",")}
        self.send_response(HTTPStatus.NOT_MODIFIED if tag in wanted else HTTPStatus.OK)
        for name, value in policy:
            self.send_header(name, value)
        self.send_header("ETag", tag)
        if tag in wanted:
            self.end_headers()
            return None
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        return io.BytesIO(data)

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        if os.environ.get("SZZZ_SERVE_LOG"):
            super().log_message(format, *args)


def demo_registry():
    """``./demo/registry.db`` (created on first run with the demo passphrase)."""


    db_path, keys_dir = DEMO_DIR / "registry.db", DEMO_DIR / "keys"
    passphrase = demo.DEMO_PASSPHRASE.encode()
    if not db_path.exists():
        click.echo(f"creating the demo registry in {DEMO_DIR} …", err=True)
        DEMO_DIR.mkdir(parents=True, exist_ok=True)
        demo.build(db_path, keys_dir, passphrase=passphrase)
    return db_path, keys_dir, passphrase


def datasette_command(data_dir: Path, port: int, *, immutable=False, workers=None) -> list:
    """The command serving ``data_dir``'s ``registry.db`` and ``metadata.yml`` on 127.0.0.1:``port``
    (``datasette_server.py``: Datasette with the plugin and the public settings, ``workers``
    processes, default one per core).

    ``serve`` gives it the live directory (:mod:`registry.publish.livedb`): the
    database is mutable (no ``-i``), in WAL mode, updated in place by each
    publish. ``immutable=True`` serves a build's own ``data/`` read once
    (``-i``), for a deployment that never changes it (and the bench)."""
    return [sys.executable, str(DATASETTE_SERVER), str(data_dir), "--port", str(port),
            *(["--workers", str(workers)] if workers else []), *(["--immutable"] if immutable else [])]


# Between looks at the registry's data_version and at OUT (registry.publish.watch).
WATCH_INTERVAL = watching.POLL_SECONDS


class Portal:
    """What ``serve`` runs after its first build: the static site (served from
    ``OUT/site`` through the link, so each request sees the current build), a
    Datasette subprocess, and a watcher thread.

    The watcher keeps the two halves of the portal telling the same story. When
    the registry changes (an operator ran ``szzz cert revoke``: SQLite's
    ``PRAGMA data_version`` moves when another connection commits), it rebuilds
    with ``publish.py build`` in a subprocess, the same command an operator
    would run (started ahead, ``--standby``: Python and the build's modules
    are loaded before the commit, ~0.7 s off every rebuild). When ``OUT``
    points at a new build (that rebuild, or one run by hand), it re-cosigns the new checkpoint like the first build
    (:func:`refresh_for_serving`) and brings Datasette's live database to the
    new build's public database in one write transaction
    (:func:`registry.publish.livedb.publish`): Datasette keeps running and
    each of its queries sees the old rows or the new ones. It is restarted
    only when the schema or the metadata changed (a new version of the code).
    A failed rebuild prints its error and leaves the previous output served,
    as any failed build does.
    """

    def __init__(self, db_path, keys_dir, passphrase, *, out, port, site_url, datasette_url):
        # Absolute: the rebuild runs in the repository directory, not the caller's.
        self.db_path, self.keys_dir = Path(os.path.abspath(db_path)), Path(os.path.abspath(keys_dir))
        self.passphrase = passphrase
        self.output = Output(out)
        self.live_dir = livedb.live_dir_for(self.output.link)
        self.port, self.site_url, self.datasette_url = port, site_url, datasette_url
        self.stopping = threading.Event()
        self.lock = threading.Lock()  # guards datasette and rebuild against stop()
        self.datasette = None
        self.rebuild = None
        self.standby = None
        self.served_build = None
        self.change_seen = time.monotonic()  # when the watcher last saw a commit
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
        with self.lock:
            self._ready_standby()
        self.watcher.start()

    def stop(self):
        self.stopping.set()
        with self.lock:
            if self.rebuild is not None and self.rebuild.poll() is None:
                self.rebuild.terminate()  # a killed build leaves the served output whole
            if self.standby is not None and self.standby.poll() is None:
                self.standby.communicate("")  # end of input: it exits without building
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
        """Refresh the checkpoint of the build ``OUT`` points at; bring Datasette's live database to it.

        Under the output lock, so that no build switches ``OUT`` meanwhile;
        returns False (try again later) while a build holds the lock."""
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(self.output.locked())
            except BuildError:
                return False
            current = self.output.current()
            try:
                publish_log.refresh_served(self.output.link, self.db_path, self.keys_dir, self.passphrase)
            except RegistryError as e:
                if strict:
                    raise
                # Served all the same, as the build signed it: verifiers say
                # status_unknown if its checkpoint is too old, never valid.
                click.echo(f"Error: {e}", err=True)
            with self.lock:
                if self.stopping.is_set():
                    return True
                # Still under the output lock: no build switches OUT or
                # removes this build's data/ meanwhile.
                try:
                    live = livedb.publish(current / "data", self.live_dir, stop_readers=self._stop_datasette,
                                          state=incremental.read_state(current))
                except RegistryError as e:
                    if strict:
                        raise
                    click.echo(f"Error: {e}", err=True)  # the previous state stays served
                    live = {"restart": False}
                if live["restart"] or self.datasette is None:
                    self._stop_datasette()
                    self.datasette = subprocess.Popen(
                        datasette_command(self.live_dir, self.port + 1),
                        cwd=ROOT, env=self._child_env(passphrase=False))
                self.served_build = current
        return True

    def _build_command(self) -> list[str]:
        return [sys.executable, str(ROOT / "publish.py"), "build", "--db", str(self.db_path),
                "--out", str(self.output.link), "--keys", str(self.keys_dir),
                *(["--site-url", self.site_url] if self.site_url else []),
                "--datasette-url", self.datasette_url, "--standby"]

    def _ready_standby(self):
        """Start the next rebuild's process now (``publish.py build --standby``): it
        loads Python and the build's modules while the registry is quiet, and
        builds when told, so a revocation's rebuild starts at once. Under
        ``self.lock``."""
        if self.standby is None or self.standby.poll() is not None:
            self.standby = subprocess.Popen(self._build_command(), cwd=ROOT, env=self._child_env(passphrase=True),
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True)

    def _rebuild(self):
        click.echo("登记库已更改，重新构建 / registry changed, rebuilding …", err=True)
        with self.lock:
            if self.stopping.is_set():
                return
            self._ready_standby()
            self.rebuild, self.standby = self.standby, None
        stdout, stderr = self.rebuild.communicate("build\n")
        if self.stopping.is_set():
            return
        if self.rebuild.returncode == 0:
            # "built …" after Pelican's talk, and how long since the commit was seen.
            click.echo(f"{stdout.strip().splitlines()[-1]} "
                       f"[{time.monotonic() - self.change_seen:.2f} s / 秒]", err=True)
        else:
            # No progress lines on a pipe: stderr is the build's one line "Error: …".
            click.echo("重新构建失败，继续提供上一版本 / rebuild failed, the previous output "
                       "is still served:\n" + stderr.strip(), err=True)

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
                    self.change_seen = time.monotonic()
                    self._rebuild()
                if self.output.current() != self.served_build and self._serve_current_build():
                    click.echo(f"开放数据已更新 / Datasette now serves {self.served_build.name} "
                               f"[{time.monotonic() - self.change_seen:.2f} s / 秒]", err=True)
                # The next rebuild's process, started once the new build is
                # served: its start-up would take the CPU that the first
                # readers of the new build (and Datasette's update) need.
                with self.lock:
                    if not self.stopping.is_set():
                        self._ready_standby()
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
    local_url = f"http://127.0.0.1:{port}"
    # A registry with its own site URL is built for it (one URL); the demo for here.
    site_url = site.preview_site_url(db_path, local_url)
    datasette_url = f"http://127.0.0.1:{port + 1}/"
    summary = build(db_path, out, keys_dir=keys_dir, passphrase=passphrase, site_url=site_url,
                    datasette_url=datasette_url,
                    progress=lambda step: click.echo(f"  · {step}", err=True))
    portal = Portal(db_path, keys_dir, passphrase, out=summary["out"], port=port,
                    site_url=site_url, datasette_url=datasette_url)
    handler = functools.partial(StaticHandler, directory=str(portal.output.link / "site"),
                                datasette_url=datasette_url)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        portal.start()
        click.echo(f"网站 site:        {local_url}/")
        click.echo(f"开放数据 Datasette: {datasette_url}")
        click.echo("登记库更改后自动重新构建 / rebuilt when the registry changes; Ctrl-C 停止 / to stop")
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        portal.stop()


# --------------------------------------------------------------------- CLI

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


class DefaultBuild(RegistryGroup):
    """``publish.py --db X`` means ``publish.py build --db X``: build is the default.

    Errors follow ``szzz``'s one policy (:class:`registry.cli.options.RegistryGroup`,
    ``docs/cli.md`` "Exit status"): one line ``Error: …`` on stderr, exit 1, or 2
    for a usage error."""

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
@click.option("--site-url", help="public URL of the site (marks, sitemap, feeds); a registry made by "
                                 "`szzz init --site-url` has its own, which this may only repeat")
@click.option("--datasette-url", default=DEFAULT_DATASETTE_URL, show_default=True,
              help="URL of the Datasette instance the site links to (default: none, and the "
                   "pages link to no Datasette)")
@click.option("--progress/--no-progress", default=None,
              help="name each step on stderr (default: when stderr is a terminal, so that a "
                   "script reads a failure as its one line)")
@click.option("--full", is_flag=True,
              help="render everything again, even where an incremental build would do")
@click.option("--standby", is_flag=True, hidden=True,
              help="start, then wait for a line on stdin before building (end of input: exit "
                   "without building). publish.py serve keeps one such process ready, so that "
                   "a rebuild starts without Python's start-up and imports.")
def build_cmd(db_path, out, keys_dir, site_url, datasette_url, progress, full, standby):
    """Build OUT/site and OUT/data from the registry, atomically."""
    if not db_path:
        raise UsageFailure("--db is required: the registry database to publish "
                           "(see publish.py build --help)")
    if progress is None:
        progress = sys.stderr.isatty()
    if standby:
        from pelican import Pelican  # noqa: F401  (what run_pelican imports: loaded before the wait)

        if not sys.stdin.readline():
            return
    summary = build(db_path, out, keys_dir=keys_dir, site_url=site_url, datasette_url=datasette_url,
                    progress=(lambda step: click.echo(f"  · {step}", err=True)) if progress else None,
                    full=full)
    click.echo(f"built {summary['out']} (build time {summary['build_time']}, "
               f"{summary['tables']['certificates']} certificates, last seq {summary['last_seq']}, "
               f"{summary['rendered']} marks rendered, {building.kind_of(summary)})")


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
    # Nothing published: said before the lock, which would make OUT's directory.
    if output.current() is None:
        raise ConfigError(f"{out}: nothing published yet (run `publish.py build` first)")
    with output.locked():
        current = output.current()
        if current is None:
            raise ConfigError(f"{out}: nothing published yet (run `publish.py build` first)")
        result = publish_log.refresh_output(current / "site", db_path, keys_dir, keys.passphrase_from_env(),
                                            state_file=publish_log.state_file_for(output.link))
    click.echo(f"refreshed {out}/site/log/checkpoint: tree size {result['size']}, "
               f"cosigned at {result['timestamp']}")


@cli.command("deploy")
@click.option("--out", default="output", show_default=True, type=click.Path(file_okay=False),
              help="published output (the symlink a build made)")
@click.option("--to", "dest", required=True,
              help="a directory (switched atomically: DEST/current) or an rclone remote (remote:path)")
@click.option("--rclone-arg", "rclone_args", multiple=True,
              help="an extra argument for every rclone run (repeat), e.g. --rclone-arg=--transfers=16")
@click.option("--progress/--no-progress", default=None,
              help="name each step on stderr (default: when stderr is a terminal)")
def deploy_cmd(out, dest, rclone_args, progress):
    """Copy OUT/site to DEST with the header table's headers, in the safe order.

    部署：先上传瓦片，再上传页面与 api，检查点最后；删除在新检查点生效之后。
    Tiles first, then pages and api/, api/status.json and the checkpoint last;
    deletions only after the new checkpoint is live (docs/publishing.md "Deploy").
    """
    output = Output(out)
    if output.current() is None:
        raise ConfigError(f"{out}: nothing published yet (run `publish.py build` first)")
    # Held while copying: a build would otherwise switch OUT and delete the
    # directory being uploaded.
    if progress is None:
        progress = sys.stderr.isatty()
    with output.locked():
        result = deploying.deploy(output.current() / "site", dest, rclone_args=rclone_args,
                                  progress=(lambda line: click.echo(f"  · {line}", err=True)) if progress else None)
    if result["unchanged"]:
        click.echo(f"deployed {dest}: already up to date")
    else:
        click.echo(f"deployed {dest}: {result['uploaded']} files uploaded, {result['deleted']} deleted")


@cli.command("nginx")
@click.option("--root", required=True, type=click.Path(file_okay=False),
              help="the site directory nginx serves (OUT/site, or DEST/current of a directory deploy)")
@click.option("--etag-map", required=True, type=click.Path(dir_okay=False),
              help="where to write the ETag map of ROOT (included by the configuration)")
@click.option("--listen", default="80", show_default=True, help="nginx `listen` value")
@click.option("--server-name", default="_", show_default=True)
@click.option("--datasette", "backends", multiple=True, metavar="HOST:PORT",
              help="a Datasette process (repeat for each replica)")
@click.option("--datasette-url", default=DEFAULT_DATASETTE_URL, show_default=True,
              help="the --datasette-url the site was built with (its path is proxied; its origin is in the CSP)")
@click.option("--brotli/--no-brotli", default=None,
              help="brotli compression [default: when Debian's brotli module is installed]")
@click.option("--conf", type=click.Path(dir_okay=False), help="write the configuration here [default: stdout]")
def nginx_cmd(root, etag_map, listen, server_name, backends, datasette_url, brotli, conf):
    """An nginx configuration (http level) from the header table, and ROOT's ETag map.

    Reload nginx after every build or deploy: the map holds content hashes of
    the files it was made from; until the reload the new files go out without
    an ETag (never with a stale one)."""
    if not (Path(root) / "log" / "checkpoint").is_file():
        raise ConfigError(f"{root}: observed no log/checkpoint, expected a built site directory")
    if brotli is None:
        brotli = headers.BROTLI_MODULE.exists()
    # Both made before either is written: a bad value writes nothing.
    text = headers.nginx_config(root=Path(os.path.abspath(root)), listen=listen, datasette=backends,
                                etag_map_file=Path(os.path.abspath(etag_map)),
                                datasette_url=datasette_url, server_name=server_name, brotli=brotli)
    etags = headers.etag_map(Path(root))
    previous = Path(etag_map).read_bytes() if Path(etag_map).is_file() else None
    write_atomic(etag_map, etags)
    if not conf:
        click.echo(text, nl=False)
        return
    try:
        write_atomic(conf, text)
    except OSError:
        # Nothing written by a failed command: the map goes back as it was.
        if previous is None:
            Path(etag_map).unlink()
        else:
            write_atomic(etag_map, previous)
        raise


@cli.command("headers")
@click.option("--out", default="output", show_default=True, type=click.Path(file_okay=False),
              help="published output (the symlink a build made)")
@click.option("--format", "fmt", type=click.Choice(["netlify", "json"]), default="netlify",
              show_default=True, help="netlify: a _headers file (Netlify, Cloudflare Pages); "
                                      "json: each file's upload metadata, in upload order")
@click.option("--datasette-url", default=DEFAULT_DATASETTE_URL, show_default=True,
              help="the --datasette-url the site was built with (its origin is in the CSP)")
def headers_cmd(out, fmt, datasette_url):
    """Print the header table applied to every file of OUT/site."""
    current = Output(out).current()
    if current is None:
        raise ConfigError(f"{out}: nothing published yet (run `publish.py build` first)")
    site = current / "site"
    if fmt == "netlify":
        click.echo(headers.netlify_headers(site, datasette_url=datasette_url), nl=False)
        return
    for upload in headers.upload_plan(site):
        click.echo(json.dumps({"path": upload.path, "class": upload.rule.name, "phase": upload.rule.phase,
                               "Content-Type": upload.content_type, "Cache-Control": upload.cache_control,
                               "ETag": upload.etag}, ensure_ascii=False))


@cli.command("db-digest")
@click.argument("databases", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def db_digest_cmd(databases):
    """Print the SHA-256 of each public database's content (schema, rows, search index).

    公开数据库内容摘要：内容相同则摘要相同，与文件的页面布局无关。Equal digests: equal
    content, whatever the bytes (an incremental build's registry.db against a full one's).
    """
    for path in databases:
        click.echo(f"{dbrows.content_digest(path)}  {path}")


@cli.command("watch")
@_with_common
@click.option("--site-url", help="public URL of the site (marks, sitemap, feeds)")
@click.option("--datasette-url", default=DEFAULT_DATASETTE_URL, show_default=True,
              help="URL of the Datasette instance the site links to (default: none)")
def watch_cmd(db_path, out, keys_dir, site_url, datasette_url):
    """Build, then build again (incrementally) on every commit to the registry, until Ctrl-C.

    监视登记库：每次提交后增量发布。A commit is seen within 50 ms (PRAGMA data_version)."""
    if not db_path:
        raise UsageFailure("--db is required: the registry database to watch")
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())

    def report(summary, seconds, error):
        click.echo(f"Error: {error} (the previous output is still served)" if error else
                   f"built {summary['out']} in {seconds:.2f} s: last seq {summary['last_seq']}, "
                   f"{building.kind_of(summary)}", err=True)

    with contextlib.suppress(KeyboardInterrupt):
        watching.watch(db_path, functools.partial(
            build, db_path, out, keys_dir=keys_dir, site_url=site_url, datasette_url=datasette_url),
            stopping=stopping, report=report)


@cli.command("serve")
@_with_common
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65534),
              help="site port; Datasette listens on PORT+1")
def serve_cmd(db_path, out, keys_dir, port):
    """Build and serve the site (PORT) and Datasette (PORT+1) on 127.0.0.1."""
    serve(db_path, port=port, out=out, keys_dir=keys_dir)


if __name__ == "__main__":
    cli()
