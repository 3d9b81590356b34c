"""The reference deployment on one machine: Debian's nginx, configured by
``publish.py nginx``, serving a site deployed with ``publish.py deploy --to
DIR``, in front of two Datasette processes (read-only public database).

nginx runs as an ordinary process with its own prefix and configuration on
a 127.0.0.1 port (as root, its workers run as ``nobody``, so the site is
deployed into a world-readable temporary directory). The tests check:

* every class of the header table, as nginx sends it (type, cache policy,
  content-hash ETag and 304 for it, CSP equal to the page's own, gzip);
* in Chromium, through nginx, a mark's verify page says valid, then revoked
  after ``szzz cert revoke`` + ``publish.py build`` + deploy: in the same tab
  after a reload and in a new tab, before nginx reloads its ETag map (files
  go out without ETags, never with stale ones) and after;
* a load loop through nginx to Datasette loses no request when one of the
  two Datasette processes is killed in the middle of it.
"""

import gzip
import html
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from builders import PASSPHRASE, PORTAL_REGISTRY
from helpers import Nginx, free_port, wait_for_http

import publish
from registry.core import keys
from registry.publish import deploy, headers
from registry.publish import log as publish_log

pytestmark = pytest.mark.browser

DONE = "document.documentElement.dataset.state === 'done'"


def get(url, **request_headers):
    request = urllib.request.Request(urllib.parse.quote(url, safe=":/?&=%"), headers=request_headers)
    try:
        with urllib.request.urlopen(request, timeout=15) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class Stack:
    """A registry, its build, a deployed copy, two Datasettes and nginx."""

    def __init__(self, registry, base: Path, out: Path):
        self.registry, self.base, self.out = registry, base, out
        self.www, self.prefix = base / "www", base / "nginx"
        self.prefix.mkdir()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, **{keys.PASSPHRASE_ENV: PASSPHRASE.decode()})
        self.datasettes: list[subprocess.Popen] = []
        self.nginx = Nginx(self.prefix, self.prefix / "szzz.conf")

    def publish(self):
        """Build (the site URL is nginx's), re-cosign with the wall clock as serve does, deploy."""
        publish.build(self.registry.db, self.out, keys_dir=self.registry.keys, passphrase=PASSPHRASE,
                      site_url=self.url)
        publish_log.refresh_served(self.out, self.registry.db, self.registry.keys, PASSPHRASE)
        return deploy.deploy(self.out.resolve() / "site", str(self.www))

    @property
    def site(self) -> Path:
        return (self.www / "current").resolve()

    def start_datasettes(self, n=2):
        for _ in range(n):
            port = free_port()
            # Two single-process replicas of a build's own file (-i), as the
            # reference deployment runs them behind nginx's upstream.
            command = [*publish.datasette_command(self.out / "data", port, immutable=True, workers=1),
                       "--base-url", "/datasette/"]
            proc = subprocess.Popen(command, cwd=publish.ROOT, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            proc.port = port
            self.datasettes.append(proc)
        for proc in self.datasettes:
            wait_for_http(f"http://127.0.0.1:{proc.port}/datasette/", timeout=60)

    def configure(self):
        """``publish.py nginx``: the server block and the ETag map of the live release."""
        args = ["nginx", "--root", str(self.www / "current"), "--etag-map", str(self.www / "etags.map"),
                "--listen", f"127.0.0.1:{self.port}", "--conf", str(self.prefix / "szzz.conf")]
        for proc in self.datasettes:
            args += ["--datasette", f"127.0.0.1:{proc.port}"]
        done = subprocess.run([sys.executable, str(publish.ROOT / "publish.py"), *args], capture_output=True,
                              text=True, check=False)
        assert done.returncode == 0, done.stderr

    def start_nginx(self):
        self.configure()
        self.nginx.start(self.url + "/")

    def reload_nginx(self):
        """Regenerate the ETag map of the live release and reload nginx; wait until it answers with it."""
        self.configure()
        before = set(self.workers())
        self.nginx.reload()
        wanted = headers.etag(self.site / "log" / "checkpoint")
        deadline = time.monotonic() + 60
        # Reloading is asynchronous: new workers start, the old ones finish
        # what they hold and exit. Done when none of the workers from before
        # the reload is left (an old worker may not have retitled itself
        # "shutting down" yet when a new one already answers).
        while get(self.url + "/log/checkpoint")[1]["ETag"] != wanted or before & set(self.workers()):
            assert time.monotonic() < deadline, "nginx never served the new ETag map"
            time.sleep(0.1)

    def workers(self) -> list[str]:
        """The process ids of nginx's workers (the master's children)."""
        assert self.nginx.process is not None
        pid = self.nginx.process.pid
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()

    def stop(self):
        self.nginx.stop()
        for proc in self.datasettes:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=15)


@pytest.fixture(scope="module")
def stack(make_registry, tmp_path_factory):
    registry = make_registry(**PORTAL_REGISTRY)
    base = Path(tempfile.mkdtemp(prefix="szzz-nginx-", dir="/tmp"))
    os.chmod(base, 0o755)  # nginx's workers (nobody, when the tests run as root) read the site
    stack = Stack(registry, base, tmp_path_factory.mktemp("nginx-build") / "output")
    try:
        stack.publish()
        stack.start_datasettes(2)
        stack.start_nginx()
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(base, ignore_errors=True)


def meta_csp(body: bytes) -> str:
    return html.unescape(re.search(rb'<meta http-equiv="Content-Security-Policy" content="([^"]+)"', body)[1]
                         .decode())


def test_nginx_sends_the_header_table(stack):
    site = stack.site
    examples = {}
    for rel in headers.site_files(site):
        examples.setdefault(headers.rule_for(rel).name, rel)
    assert set(examples) == {rule.name for rule in headers.RULES}
    for rel in examples.values():
        rule = headers.rule_for(rel)
        url = stack.url + "/" + (rel.removesuffix("index.html"))
        status, got, body = get(url)
        assert status == 200 and body == (site / rel).read_bytes(), rel
        assert got["Content-Type"] == headers.content_type(rule, rel), rel
        assert got["Cache-Control"] == rule.cache_control, rel
        assert got["ETag"] == headers.etag(site / rel), rel
        assert got["X-Content-Type-Options"] == "nosniff" and got["X-Frame-Options"] == "DENY", rel
        if rel.endswith(".html"):
            assert got["Content-Security-Policy"] == meta_csp(body) + "; frame-ancestors 'none'", rel
        else:
            assert got["Content-Security-Policy"] is None, rel
        status, again, body = get(url, **{"If-None-Match": got["ETag"]})
        assert (status, body, again["ETag"]) == (304, b"", got["ETag"]), rel
        # An old validator, or a date, never gets a 304.
        assert get(url, **{"If-None-Match": '"00000000000000000000000000000000"'})[0] == 200, rel
        assert get(url, **{"If-Modified-Since": "Sat, 01 Jan 2950 00:00:00 GMT"})[0] == 200, rel
    assert get(stack.url + "/log/checkpoint")[1]["Content-Type"] == "text/plain; charset=utf-8"
    status, got, body = get(stack.url + "/api/status.json", **{"Accept-Encoding": "gzip"})
    assert got["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == (site / "api" / "status.json").read_bytes()
    # The verify page (its bundle inside) at gzip level 6, not nginx's default 1 (issue 14's byte budget).
    status, got, body = get(stack.url + "/v/", **{"Accept-Encoding": "gzip"})
    raw = (site / "v" / "index.html").read_bytes()
    assert got["Content-Encoding"] == "gzip" and gzip.decompress(body) == raw
    assert len(body) < len(gzip.compress(raw, 1)) - 1000, (len(body), len(gzip.compress(raw, 6)))
    # Pages too, the verify page and a certificate's page: their Content-Type
    # carries a charset, which nginx's gzip_types must list whole.
    certificate_page = next((site / "certificates").glob("*/index.html")).relative_to(site).as_posix()
    for rel in ("v/index.html", certificate_page):
        status, got, body = get(stack.url + "/" + rel.removesuffix("index.html"), **{"Accept-Encoding": "gzip"})
        assert (status, got["Content-Encoding"]) == (200, "gzip"), rel
        assert gzip.decompress(body) == (site / rel).read_bytes(), rel
    # Datasette, through nginx, from either process.
    status, got, body = get(stack.url + "/datasette/registry/certificates.json?_size=1&_shape=array")
    assert status == 200 and body.startswith(b"[{")
    # Datasette's own style sheet is Datasette's, not a file of the site.
    page = get(stack.url + "/datasette/")[2].decode()
    css = re.search(r'href="(/datasette/-/static/[^"?]+\.css)', page)[1]
    status, got, _ = get(stack.url + css)
    assert status == 200 and got["Content-Type"].startswith("text/css")


def verdict(page) -> dict:
    page.wait_for_function(f"() => {DONE}", timeout=30_000)
    return page.evaluate("""() => ({verdict: document.getElementById('verdict').dataset.verdict,
                                     text: document.getElementById('verdict').innerText})""")


def szzz(stack, *args) -> str:
    done = subprocess.run([sys.executable, "-m", "registry", *args], cwd=publish.ROOT, env=stack.env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def mark_url(stack, cert_no, tmp_path) -> str:
    mark = szzz(stack, "mark", cert_no, "--db", str(stack.registry.db), "--site-url", stack.url,
                "--out", str(tmp_path / "marks"))
    return next(word for word in mark.split() if word.startswith(f"{stack.url}/v/#"))


def statuses(stack, path) -> list[int]:
    """The status of each request for ``path`` in nginx's access log, in order."""
    log = (stack.prefix / "access.log").read_text(encoding="utf-8", errors="replace")
    return [int(m[1]) for m in re.finditer(rf'"GET {re.escape(path)} HTTP/[0-9.]+" (\d{{3}})', log)]


def test_a_revocation_reaches_the_browser_through_nginx(stack, page, tmp_path):
    cert_no = stack.registry.valid[0]
    url = mark_url(stack, cert_no, tmp_path)
    page.goto(url)
    shown = verdict(page)
    assert shown["verdict"] == "valid" and "有效" in shown["text"], shown
    old_tag = get(stack.url + f"/api/certificates/{cert_no}.json")[1]["ETag"]

    szzz(stack, "cert", "revoke", cert_no, "--db", str(stack.registry.db), "--keys", str(stack.registry.keys),
         "--reason", "监督抽查不合格 failed market surveillance")
    stack.publish()
    # nginx still holds the previous release's ETag map: the new files go out
    # without an ETag, so nothing can be confirmed stale.
    status, got, _ = get(stack.url + f"/api/certificates/{cert_no}.json", **{"If-None-Match": old_tag})
    assert status == 200 and got["ETag"] is None
    page.reload()
    shown = verdict(page)
    assert shown["verdict"] == "revoked" and "撤销" in shown["text"], shown
    tab = page.context.new_page()
    tab.goto(url)
    assert verdict(tab)["verdict"] == "revoked"

    stack.reload_nginx()
    status, got, _ = get(stack.url + f"/api/certificates/{cert_no}.json", **{"If-None-Match": old_tag})
    assert status == 200 and got["ETag"] == headers.etag(stack.site / "api" / "certificates" / f"{cert_no}.json")
    page.reload()
    assert verdict(page)["verdict"] == "revoked"
    tab = page.context.new_page()
    tab.goto(url)
    assert verdict(tab)["verdict"] == "revoked"
    assert not page.page_errors


def test_the_browsers_validators_never_keep_an_old_status(stack, page, tmp_path):
    """The browser holds a certificate file with its ETag and revalidates it
    (``cache: "no-cache"``): 304 while it is the same, 200 with the new bytes
    once a suspension is deployed and nginx reloaded its map."""
    cert_no = stack.registry.valid[1]
    path = f"/api/certificates/{cert_no}.json"
    url = mark_url(stack, cert_no, tmp_path)
    page.goto(url)
    assert verdict(page)["verdict"] == "valid"
    page.reload()
    assert verdict(page)["verdict"] == "valid"
    assert statuses(stack, path)[-2:] == [200, 304]  # the validator is used

    szzz(stack, "cert", "suspend", cert_no, "--db", str(stack.registry.db), "--keys", str(stack.registry.keys),
         "--reason", "暂停 suspended for the test")
    stack.publish()
    stack.reload_nginx()
    page.reload()
    shown = verdict(page)
    assert shown["verdict"] == "suspended", shown
    assert statuses(stack, path)[-1] == 200
    tab = page.context.new_page()
    tab.goto(url)
    assert verdict(tab)["verdict"] == "suspended"
    assert statuses(stack, path)[-1] == 304
    assert not page.page_errors


def test_killing_one_datasette_loses_no_request(stack):
    n, failures, lock = 600, [], threading.Lock()
    victim = stack.datasettes[0]
    url = stack.url + "/datasette/registry/certificates.json?_size=5&_shape=array"

    def one(i):
        if i == n // 4:
            victim.send_signal(signal.SIGKILL)
        status, _, body = get(url)
        if status != 200 or not body.startswith(b"[{"):
            with lock:
                failures.append((i, status, body[:80]))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(n)))
    assert victim.wait(timeout=10) == -signal.SIGKILL
    assert failures == []
    # The kill was felt: nginx saw the dead process and went on to the other.
    log = (stack.prefix / "error.log").read_text(encoding="utf-8", errors="replace")
    assert f"127.0.0.1:{victim.port}" in log
