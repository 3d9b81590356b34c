"""The header policy (registry/publish/headers.py) against every file of a real build,
and ``publish.py serve``'s static handler, which applies it.

The classes a file *should* get are written here independently of the
table's regular expressions (by directory and suffix, as docs/publishing.md
describes them), and every file of a real build must land in the class
intended for it; every rule must classify at least one file (none shadowed).
The ETag is the content hash: a file given other bytes with the same size
and the same mtime (what a reproducible build can do) gets a new ETag and a
200, where the standard library's handler answers 304 to the browser's
``If-Modified-Since``.
"""

import functools
import html as htmllib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from builders import PASSPHRASE, PORTAL_REGISTRY

import publish
from registry.core.exceptions import HeaderPolicyError
from registry.publish import headers

SITE_URL = "http://127.0.0.1:8000"
DATASETTE_URL = "http://127.0.0.1:8001/"


@pytest.fixture(scope="module")
def built(make_registry, tmp_path_factory):
    registry = make_registry(**PORTAL_REGISTRY)
    out = tmp_path_factory.mktemp("headers") / "output"
    publish.build(registry.db, out, keys_dir=registry.keys, passphrase=PASSPHRASE, site_url=SITE_URL,
                  datasette_url=DATASETTE_URL)
    return out


@pytest.fixture(scope="module")
def site(built):
    return built.resolve() / "site"


def intended(rel: str) -> str:
    """The class docs/publishing.md gives a file, by directory and suffix."""
    top, _, rest = rel.partition("/")
    suffix = os.path.splitext(rel)[1]
    if top == "log":
        return {"log/checkpoint": "checkpoint", "log/vkey": "vkey"}.get(rel, "tile")
    if top == "api":
        if rel == "api/status.json":
            return "status"
        if rest.startswith("status/"):
            return "status-statement"
        return "certificate" if rest.startswith("certificates/") else "api"
    if suffix == ".html":
        return "certificate-page" if top == "certificates" else "page"
    if rel.endswith(".atom.xml"):
        return "feed"
    if top.startswith("sitemap"):
        return "sitemap"
    if rel == "robots.txt":
        return "robots"
    if top == "downloads":
        return {".csv": "download-csv", ".db": "download-db"}[suffix]
    if top == "search" and suffix == ".json":
        return "search-index"
    if top == "marks":
        return "mark"
    return {".js": "script", ".css": "style", ".svg": "image", ".png": "image", ".ico": "image"}[suffix]


def test_every_published_file_gets_the_class_intended_for_it(site):
    files = list(headers.site_files(site))
    assert len(files) > 500
    got = {rel: headers.rule_for(rel).name for rel in files}
    wrong = {rel: (name, intended(rel)) for rel, name in got.items() if name != intended(rel)}
    assert wrong == {}
    # Every rule classifies something in a real build: none is dead or shadowed.
    assert set(got.values()) == {rule.name for rule in headers.RULES}


def test_the_classes_that_matter_to_a_verifier(site):
    rule = headers.rule_for
    assert headers.content_type(rule("log/checkpoint"), "log/checkpoint") == "text/plain; charset=utf-8"
    tiles = [rel for rel in headers.site_files(site) if rel.startswith("log/tile/")]
    assert tiles and all(rule(rel).cache_control == headers.IMMUTABLE for rel in tiles)
    # A full tile and a full entry bundle, as tlog-tiles names them, are immutable too.
    for name in ("log/tile/0/000", "log/tile/2/x001/234", "log/tile/entries/x001/x234/067",
                 "log/tile/entries/000.p/5"):
        assert rule(name).name == "tile", name
    for rel in ("log/checkpoint", "api/status.json", "api/certificates/SZZZ-2021-CQC-00001.json", "api/status/0a3.json",
                "certificates/SZZZ-2021-CQC-00001/index.html", "api/trust-list.json"):
        assert rule(rel).cache_control == headers.NO_CACHE, rel
    assert rule("feeds/all.atom.xml").content_type == "application/atom+xml"
    assert re.fullmatch(r"public, max-age=\d+", rule("index.html").cache_control)
    with pytest.raises(HeaderPolicyError, match=r"stray\.bin: no rule"):
        rule("stray.bin")


def test_upload_plan_order(site):
    plan = headers.upload_plan(site)
    names = [u.rule.name for u in plan]
    assert names[-1] == "checkpoint" and names[-2] == "status"
    last_tile = max(i for i, n in enumerate(names) if n == "tile")
    assert last_tile < min(i for i, n in enumerate(names) if n not in ("tile",))
    assert all(u.etag == headers.etag(site / u.path) for u in plan)


# ------------------------------------------------------- serve's handler

@pytest.fixture
def static(tmp_path):
    """publish.py serve's static handler on a directory; yields (base URL, directory)."""
    servers = []

    def start(directory, handler=None):
        handler = handler or functools.partial(publish.StaticHandler, directory=str(directory),
                                               datasette_url=DATASETTE_URL)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def get(url, **request_headers):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=request_headers), timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def meta_csp(html: bytes) -> str:
    return htmllib.unescape(
        re.search(rb'<meta http-equiv="Content-Security-Policy" content="([^"]+)"', html)[1].decode())


def test_serve_sends_the_table_for_every_class(site, static):
    base = static(site)
    examples = {}
    for rel in headers.site_files(site):
        examples.setdefault(headers.rule_for(rel).name, rel)
    assert set(examples) == {rule.name for rule in headers.RULES}
    for rel in examples.values():
        url = f"{base}/{rel[: -len('index.html')] if rel.endswith('index.html') else rel}"
        status, got, body = get(urllib.parse.quote(url, safe=":/"))
        assert status == 200, rel
        rule = headers.rule_for(rel)
        assert got["Content-Type"] == headers.content_type(rule, rel), rel
        assert got["Cache-Control"] == rule.cache_control, rel
        assert got["ETag"] == headers.etag(site / rel) and body == (site / rel).read_bytes(), rel
        assert got["X-Content-Type-Options"] == "nosniff"
        if rel.endswith(".html"):
            # The header and the page's own <meta> must agree: a browser enforces both.
            assert got["Content-Security-Policy"] == meta_csp(body) + "; frame-ancestors 'none'", rel
        else:
            assert got["Content-Security-Policy"] is None, rel
        status, again, body = get(urllib.parse.quote(url, safe=":/"), **{"If-None-Match": got["ETag"]})
        assert status == 304 and body == b"" and again["ETag"] == got["ETag"], rel


def same_size_other_bytes(path: Path) -> bytes:
    """Rewrite ``path`` with other bytes of the same length and the same mtime."""
    old = path.read_bytes()
    stat = path.stat()
    new = old.replace(b"1", b"2", 1) if b"1" in old else b"x" + old[1:]
    assert new != old and len(new) == len(old)
    path.write_bytes(new)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return new


def test_etag_follows_the_bytes_not_the_mtime(site, static, tmp_path):
    copy = tmp_path / "site"
    shutil.copytree(site, copy, symlinks=True)
    base = static(copy)
    stdlib = static(copy, functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(copy)))
    url = "/log/checkpoint"
    status, first, _ = get(base + url)
    _, plain, _ = get(stdlib + url)
    new = same_size_other_bytes(copy / "log" / "checkpoint")
    # What a browser's fetch(…, {cache: "no-cache"}) sends for the copy it holds.
    conditional = {"If-None-Match": first["ETag"], "If-Modified-Since": plain["Last-Modified"]}
    status, got, body = get(base + url, **conditional)
    assert (status, body) == (200, new) and got["ETag"] == headers.etag_of(new) != first["ETag"]
    # Without content-hash validators the old copy is confirmed: the hazard.
    status, _, _ = get(stdlib + url, **{"If-Modified-Since": plain["Last-Modified"]})
    assert status == 304


def test_serve_answers_a_list_and_weak_validators(site, static):
    base = static(site)
    tag = headers.etag(site / "api" / "status.json")
    for sent in (tag, f'"0000", {tag}', f"W/{tag}"):
        assert get(base + "/api/status.json", **{"If-None-Match": sent})[0] == 304, sent
    assert get(base + "/api/status.json", **{"If-None-Match": '"0000"'})[0] == 200


# ------------------------------------------------------------- generators

def test_netlify_headers_file_lists_every_file_once(site):
    text = headers.netlify_headers(site, datasette_url=DATASETTE_URL)
    blocks, current = {}, None
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        if line.startswith("/"):
            assert line not in blocks, line
            current = blocks[line] = {}
        else:
            name, _, value = line.strip().partition(": ")
            current[name] = value
    files = list(headers.site_files(site))
    assert {f"/{rel}" for rel in files} <= set(blocks)
    assert blocks["/log/checkpoint"]["Content-Type"] == "text/plain; charset=utf-8"
    assert blocks["/"]["Cache-Control"] == headers.SHORT == blocks["/index.html"]["Cache-Control"]
    some_certificate = next(rel for rel in files if rel.startswith("certificates/") and rel.count("/") == 2)
    page_url = "/" + some_certificate[: -len("index.html")]
    assert blocks[page_url] == blocks["/" + some_certificate]
    assert blocks[page_url]["Cache-Control"] == "no-cache"


def test_headers_command_prints_upload_metadata(built):
    done = subprocess.run([sys.executable, str(publish.ROOT / "publish.py"), "headers", "--out", str(built),
                           "--format", "json"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert rows[-1]["path"] == "log/checkpoint" and rows[-1]["Content-Type"] == "text/plain; charset=utf-8"
    assert rows[0]["class"] == "tile" and rows[0]["Cache-Control"] == headers.IMMUTABLE
    site = built.resolve() / "site"
    assert len(rows) == sum(1 for _ in headers.site_files(site))
