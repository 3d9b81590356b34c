"""``publish.py serve`` end to end: the README's run command, as a user runs it.

A real ``publish.py serve`` process (static site and a Datasette subprocess on
127.0.0.1) on a small registry. In Chromium, a mark URL shows 有效 / valid; an
operator then runs ``szzz cert revoke`` in another process, and without
restarting anything the same mark URL shows 撤销 / revoked and Datasette's
JSON says revoked (issue 4's first acceptance point); Datasette, polled all
along, answers every request (issue 13: it is no longer restarted). A registry changed
behind the CLI's back fails the rebuild and leaves the revoked output served.
SIGINT stops both servers.
"""

import contextlib
import json
import os
import queue
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import pytest
from builders import PORTAL_REGISTRY
from helpers import free_port, wait_for_http

import publish
from registry.core import keys

pytestmark = pytest.mark.browser

DONE = "document.documentElement.dataset.state === 'done'"


def two_free_ports() -> int:
    """P such that P and P+1 were both free a moment ago (serve takes both)."""
    for _ in range(50):
        port = free_port()
        if port + 1 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two adjacent free ports on 127.0.0.1")


class ServeProcess:
    """``publish.py serve`` in its own process; its stderr and stdout lines in one queue."""

    def __init__(self, args, env, cwd):
        self.proc = subprocess.Popen([sys.executable, str(publish.ROOT / "publish.py"), "serve", *args],
                                     cwd=cwd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines, self.seen = queue.Queue(), []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, needle: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if needle in line:
                return line
        pytest.fail(f"serve never printed {needle!r}; it printed:\n" + "\n".join(self.seen))


def datasette_status(base: str, cert_no: str) -> str:
    query = urllib.parse.urlencode({"sql": "select status from certificates where cert_no = :n",
                                    "n": cert_no, "_shape": "array"})
    with urllib.request.urlopen(f"{base}registry.json?{query}", timeout=10) as response:
        return json.load(response)[0]["status"]


class Polling:
    """A thread asking Datasette for ``cert_no``'s status, each time on a new connection."""

    def __init__(self, base: str, cert_no: str):
        self.base, self.cert_no = base, cert_no
        self.stop, self.answers, self.failures = threading.Event(), [], []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.wait(0.05):
            try:
                self.answers.append(datasette_status(self.base, self.cert_no))
            except Exception as e:  # noqa: BLE001 - every failure is recorded and asserted on
                self.failures.append(repr(e))

    def finish(self):
        self.stop.set()
        self.thread.join(timeout=30)
        return self.answers, self.failures


def szzz(env, *args) -> str:
    """Run the operators' CLI in its own process; its stdout."""
    done = subprocess.run([sys.executable, "-m", "registry", *args], cwd=publish.ROOT, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def verdict_at(page, url: str) -> dict:
    """Open ``url`` as a fresh scan does (from another page: the same URL twice in
    a row would be a same-document fragment navigation)."""
    page.goto("about:blank")
    page.goto(url)
    page.wait_for_function(f"() => {DONE}", timeout=20_000)
    return page.evaluate("""() => ({verdict: document.getElementById('verdict').dataset.verdict,
                                     text: document.getElementById('verdict').innerText})""")


def test_serve_shows_a_revocation_without_a_restart(make_registry, tmp_path, page):
    registry = make_registry(**PORTAL_REGISTRY)
    cert_no = registry.valid[0]
    port = two_free_ports()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env[keys.PASSPHRASE_ENV] = registry.passphrase.decode()
    # Paths relative to the operator's directory, which is not the repository.
    serve = ServeProcess(["--db", "registry.db", "--keys", "keys", "--out", "output", "--port", str(port)],
                         env, cwd=registry.base)
    try:
        site = serve.wait_for("网站 site:").split()[-1].rstrip("/")
        datasette = serve.wait_for("开放数据 Datasette:").split()[-1]
        assert site == f"http://127.0.0.1:{port}" and datasette == f"http://127.0.0.1:{port + 1}/"
        wait_for_http(datasette, timeout=60)
        # Datasette is never restarted (issue 13): polled from here to the end,
        # it answers every request, through the rebuilds.
        polling = Polling(datasette, cert_no)

        # The mark as the README makes it: `szzz mark NO --db … --site-url … --out …`.
        mark = szzz(env, "mark", cert_no, "--db", str(registry.db), "--site-url", site,
                    "--out", str(tmp_path / "marks"))
        mark_url = next(word for word in mark.split() if word.startswith(f"{site}/v/#"))
        shown = verdict_at(page, mark_url)
        assert shown["verdict"] == "valid" and "有效" in shown["text"], shown
        assert datasette_status(datasette, cert_no) == "valid"

        # The operator revokes in another process; serve notices and rebuilds.
        szzz(env, "cert", "revoke", cert_no, "--db", str(registry.db), "--keys", str(registry.keys),
             "--reason", "监督抽查不合格 failed market surveillance")
        serve.wait_for("registry changed, rebuilding")
        serve.wait_for("Datasette now serves")

        shown = verdict_at(page, mark_url)
        assert shown["verdict"] == "revoked" and "撤销" in shown["text"], shown
        assert datasette_status(datasette, cert_no) == "revoked"

        # Someone un-revokes it in the database, without a signed event: the
        # rebuild fails validation, says why, and the revoked output stays served.
        with contextlib.closing(sqlite3.connect(registry.db)) as conn, conn:
            conn.execute("update certificates set status = 'valid' where cert_no = ?", (cert_no,))
        serve.wait_for("registry changed, rebuilding")
        serve.wait_for("rebuild failed, the previous output is still served")
        error = serve.wait_for(cert_no)
        assert "revoked" in error, error
        shown = verdict_at(page, mark_url)
        assert shown["verdict"] == "revoked", shown
        assert datasette_status(datasette, cert_no) == "revoked"
        assert not page.page_errors
        answers, failures = polling.finish()
        assert not failures, failures[:5]
        assert answers.count("valid") and answers.count("revoked") and answers[-1] == "revoked"
        assert answers == sorted(answers, key=lambda s: s == "revoked")  # valid, then revoked, never back
    finally:
        serve.proc.send_signal(signal.SIGINT)
        try:
            code = serve.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.proc.kill()
            raise
    assert code == 0
    for port_in_use in (port, port + 1):  # both servers stopped
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port_in_use)) != 0, port_in_use
