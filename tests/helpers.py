"""Small helpers shared by the test suites (import as ``from helpers import ...``;
``tests/`` is on ``sys.path`` through ``pythonpath`` in pyproject.toml's pytest settings)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import publish
from registry.publish import headers
from registry.publish.webverifier import VerifierAssets

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The verify page's source and QR decoder in this checkout (install_verifier(assets=...)).
VERIFIER_ASSETS = VerifierAssets.in_checkout(REPO_ROOT)

#: Flags Chromium needs on this workplace's machines (root, no GPU, closed network).
#: Playwright adds its own fresh ``--user-data-dir`` for every ``launch()``.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

DEFAULT_CHROMIUM = "/usr/bin/chromium"
NGINX = "/usr/sbin/nginx"


def file_digests(path) -> dict[str, str]:
    """{relative path: sha256 hex} of every file under ``path`` (an OUT link followed):
    two builds compared byte for byte."""
    out = {}
    root = Path(path).resolve()
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def chromium_executable() -> str:
    """Path of the Chromium that Playwright drives (``$SZZZ_CHROMIUM`` or Debian's).

    Fails the calling test (never skips) when it is missing: a skipped browser
    test would hide a broken verifier.
    """
    path = os.environ.get("SZZZ_CHROMIUM", DEFAULT_CHROMIUM)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {path!r}. Run `make system-deps` (installs Debian's "
            "`chromium`), or point SZZZ_CHROMIUM at a Chromium binary. "
            "`playwright install` cannot download browsers on this network.",
            pytrace=False,
        )
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago.

    Prefer binding to port 0 yourself where you can (``serve_dir`` does): another
    process may take the port between this call and your bind.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_http(url: str, timeout: float = 30.0, interval: float = 0.1) -> int:
    """Poll ``url`` until it answers with an HTTP status below 500; return the status.

    A 4xx counts as "up" (the server answers). Raises ``TimeoutError`` with the
    last error after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            with urllib.request.urlopen(url, timeout=max(0.5, min(5.0, timeout))) as resp:
                return resp.status
        except urllib.error.HTTPError as e:
            if e.code < 500:
                return e.code
            last = f"HTTP {e.code}"
        except (OSError, urllib.error.URLError) as e:  # refused, reset, timed out
            last = e
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:.1f}s (last error: {last})")
        time.sleep(interval)


def js_errors(page) -> list[str]:
    """Uncaught page errors plus ``console.error`` messages collected by the ``page`` fixture."""
    out = [f"pageerror: {e}" for e in page.page_errors]
    out += [f"console.error: {m.text}" for m in page.console_messages if m.type == "error"]
    return out


def assert_no_js_errors(page) -> None:
    """Assert the page raised no uncaught error and logged no ``console.error``."""
    errors = js_errors(page)
    assert not errors, "JavaScript errors in the page:\n" + "\n".join(errors)


#: Datasette settings of ``publish.py serve`` (``publish.datasette_command``).
DATASETTE_SETTINGS = {"suggest_facets": False, "sql_time_limit_ms": 1000}


def datasette_for(data_dir: Path):
    """A Datasette (use its ``.client``) serving a build's ``data/registry.db`` with its
    ``metadata.yml`` and the plugin in ``plugins/datasette``, as ``publish.py serve`` runs it."""
    from datasette.app import Datasette

    metadata = yaml.safe_load((data_dir / "metadata.yml").read_text(encoding="utf-8"))
    return Datasette(immutables=[str(data_dir / "registry.db")], metadata=metadata,
                     plugins_dir=str(publish.DATASETTE_PLUGINS), settings=DATASETTE_SETTINGS)


@contextlib.contextmanager
def running_datasette(data_dir: Path) -> Iterator[str]:
    """A real ``datasette serve`` of a build's ``data/`` on 127.0.0.1, exactly as
    ``publish.py serve`` runs it (``publish.datasette_command``); its base URL."""
    port = free_port()
    proc = subprocess.Popen(publish.datasette_command(data_dir, port), cwd=publish.ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/-/versions.json", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_async(coro, timeout: float | None = 60.0):
    """Run a coroutine to completion in a fresh thread with its own event loop.

    Use it in *browser* tests, where ``asyncio.run()`` fails because Playwright's
    sync API keeps its loop marked as running in the test's thread. (Non-browser
    tests can simply be ``async def``.)
    """
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as e:  # noqa: BLE001 - raised again in the caller's thread below
            result["error"] = e

    t = threading.Thread(target=target, name="run_async", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise TimeoutError(f"coroutine did not finish within {timeout}s")
    if "error" in result:
        raise result["error"]
    return result["value"]


def soffice_to_xlsx(csv_paths, work):
    """Convert CSV files with LibreOffice Calc headless (comma, double quote,
    UTF-8, from line 1) in a profile of its own; the xlsx paths."""
    soffice = shutil.which("soffice")
    assert soffice, "soffice is missing: scripts/install-system-deps.sh installs libreoffice-calc"
    out = work / "xlsx"
    proc = subprocess.run(
        [soffice, f"-env:UserInstallation={(work / 'profile').as_uri()}", "--headless",
         "--convert-to", "xlsx", "--infilter=CSV:44,34,76,1", "--outdir", str(out),
         *map(str, csv_paths)],
        capture_output=True, text=True, timeout=300, cwd=work, check=False)
    converted = [out / (Path(p).stem + ".xlsx") for p in csv_paths]
    missing = [p.name for p in converted if not p.is_file()]
    assert proc.returncode == 0 and not missing, (proc.returncode, missing, proc.stdout, proc.stderr)
    return converted


class Nginx:
    """Debian's nginx as an ordinary process: its own prefix, a main configuration
    that includes ``include_conf`` (what ``publish.py nginx`` writes) at http level.
    Used by the serving tests and by the benches that measure a page as served."""

    def __init__(self, prefix: Path, include_conf: Path):
        self.prefix, self.include_conf = Path(prefix), Path(include_conf)
        self.process: subprocess.Popen | None = None

    def command(self, *args) -> list[str]:
        return [NGINX, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"),
                "-e", str(self.prefix / "error.log"), *args]

    def start(self, url: str) -> None:
        """Write the main configuration, check it (``nginx -t``), start, wait until ``url`` answers."""
        self.prefix.mkdir(parents=True, exist_ok=True)
        main = []
        if headers.BROTLI_MODULE.exists():
            main.append(f"load_module {headers.BROTLI_MODULE};")
        if os.geteuid() == 0:
            main.append("user nobody nogroup;")  # unprivileged workers
        temp = " ".join(f"{kind}_temp_path {self.prefix}/{kind};"
                        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        main += ["worker_processes 2;", f"pid {self.prefix}/nginx.pid;", "events { worker_connections 512; }",
                 "http {", f"    access_log {self.prefix}/access.log;", f"    {temp}",
                 f"    include {self.include_conf};", "}"]
        (self.prefix / "nginx.conf").write_text("\n".join(main) + "\n", encoding="utf-8")
        check = subprocess.run(self.command("-t"), capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t: {check.stderr}")
        self.process = subprocess.Popen(self.command("-g", "daemon off;"))
        wait_for_http(url, timeout=30)

    def reload(self) -> None:
        subprocess.run(self.command("-s", "reload"), check=True)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
