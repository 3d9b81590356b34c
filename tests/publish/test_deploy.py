"""``publish.py deploy``: to a directory (atomic switch) and to an rclone remote.

The remote is a real WebDAV server, ``rclone serve webdav`` from Debian,
started on 127.0.0.1 by the test with ``-vv``: its log has one line per
request (``/path: PUT from …``), in the order the server finished them,
which is what the upload order is checked against. Each deploy is then
compared file by file with the build it came from, and the request headers
rclone sent (``--dump headers``, through ``--rclone-arg``) with the header
table.
"""

import os
import re
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest
from builders import LOG_REGISTRY, PASSPHRASE
from helpers import free_port, wait_for_http

import publish
from registry.core import keys
from registry.publish import deploy, headers

SITE_URL = "http://127.0.0.1:8000"

def tree(root: Path) -> dict:
    root = Path(root).resolve()
    return {rel: (root / rel).read_bytes() for rel in headers.site_files(root)}


def publish_py(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(publish.ROOT / "publish.py"), *args], capture_output=True,
                          text=True, check=False, env=env, cwd=publish.ROOT)


def revoke(registry, cert_no):
    env = dict(os.environ, **{keys.PASSPHRASE_ENV: PASSPHRASE.decode()})
    done = subprocess.run([sys.executable, "-m", "registry", "cert", "revoke", cert_no, "--db", str(registry.db),
                           "--keys", str(registry.keys), "--reason", "监督抽查不合格 failed surveillance"],
                          cwd=publish.ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def build(registry, out, site_url=SITE_URL):
    publish.build(registry.db, out, keys_dir=registry.keys, passphrase=PASSPHRASE, site_url=site_url)
    return Path(out).resolve() / "site"


@pytest.fixture
def registry(make_registry):
    return make_registry(**LOG_REGISTRY)


@pytest.fixture
def webdav(tmp_path):
    """``rclone serve webdav`` on 127.0.0.1; yields (remote, served directory, log file)."""
    served, log = tmp_path / "served", tmp_path / "webdav.log"
    served.mkdir()
    port = free_port()
    proc = subprocess.Popen(["rclone", "serve", "webdav", str(served), "--addr", f"127.0.0.1:{port}", "-vv",
                             "--log-file", str(log), "--log-format", "date,time,microseconds"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", timeout=30)
        yield f":webdav,url='http://127.0.0.1:{port}':site", served / "site", log
    finally:
        proc.terminate()
        proc.wait(timeout=10)


REQUEST = re.compile(r"INFO  : (/.*?): (PUT|DELETE) from ")


def requests(log: Path, start: int = 0) -> list[tuple[str, str]]:
    """(method, path below site/) of each PUT and DELETE the server logged, in order."""
    out = []
    for line in log.read_text(encoding="utf-8").splitlines()[start:]:
        m = REQUEST.search(line)
        if m:
            out.append((m[2], m[1].removeprefix("/site/")))
    return out


def sent_headers(dump: Path) -> dict[str, dict[str, str]]:
    """Path -> request headers of each PUT in rclone's ``--dump headers`` log."""
    sent, current = {}, None
    for line in dump.read_text(encoding="utf-8").splitlines():
        m = re.search(r"DEBUG : PUT (/\S+) HTTP/1\.1$", line)
        if m:
            current = sent[urllib.parse.unquote(m[1]).removeprefix("/site/")] = {}
        elif current is not None and ": " in line and not re.match(r"\d{4}/", line):
            name, _, value = line.partition(": ")
            current[name] = value
        elif current is not None and not line.strip():
            current = None
    return sent


def check_order(done: list[tuple[str, str]]):
    puts = [path for method, path in done if method == "PUT"]
    kinds = [headers.rule_for(path).name for path in puts]
    phases = [headers.rule_for(path).phase for path in puts]
    assert phases == sorted(phases), "an upload came before one of an earlier phase"
    assert puts[-1] == "log/checkpoint" and puts[-2] == "api/status.json"
    assert "tile" in kinds and kinds.index("tile") == 0
    # Deletions only once the new checkpoint is live.
    methods = [method for method, _ in done]
    if "DELETE" in methods:
        assert methods.index("DELETE") > max(i for i, m in enumerate(methods) if m == "PUT")


def test_deploy_to_webdav_in_the_safe_order_with_the_tables_headers(registry, webdav, tmp_path):
    remote, served, log = webdav
    out = tmp_path / "output"
    first = build(registry, out)
    dump = tmp_path / "rclone-client.log"
    done = publish_py("deploy", "--out", str(out), "--to", remote, "--rclone-arg=--dump=headers",
                      "--rclone-arg=-vv", f"--rclone-arg=--log-file={dump}")
    assert done.returncode == 0, done.stderr
    first = tree(first)  # the next build deletes this one's directory
    assert tree(served) == first
    first_requests = requests(log)
    check_order(first_requests)
    assert {path for _, path in first_requests} == set(first)
    for path, sent in sent_headers(dump).items():
        rule = headers.rule_for(path)
        assert sent.get("Content-Type") == headers.content_type(rule, path), path
        assert sent.get("Cache-Control") == rule.cache_control, path
    assert len(sent_headers(dump)) == len(first)

    # A revocation: the certificate's files change, its marks are gone, new
    # tiles and a new checkpoint appear.
    revoke(registry, registry.valid[0])
    second = tree(build(registry, out))
    gone = set(first) - set(second)
    assert f"marks/{registry.valid[0]}.svg" in gone
    seen = len(log.read_text(encoding="utf-8").splitlines())
    done = publish_py("deploy", "--out", str(out), "--to", remote)
    assert done.returncode == 0, done.stderr
    assert tree(served) == second
    second_requests = requests(log, seen)
    check_order(second_requests)
    assert {path for method, path in second_requests if method == "DELETE"} == gone
    # Tiles already there are not sent again (a tile never changes); every
    # file that may change is, since WebDAV gives no hash to compare.
    put = {path for method, path in second_requests if method == "PUT"}
    assert not (put & {p for p in first if headers.rule_for(p).name == "tile"})
    assert {p for p in second if headers.rule_for(p).name != "tile"} <= put


def test_deploy_to_a_directory_switches_atomically(registry, tmp_path):
    out, dest = tmp_path / "output", tmp_path / "www"
    first_site = build(registry, out)
    first = tree(first_site)
    done = publish_py("deploy", "--out", str(out), "--to", str(dest))
    assert done.returncode == 0, done.stderr
    current = dest / "current"
    assert current.is_symlink() and tree(current) == first
    # Published files are readable by the web server's user whatever the build's modes.
    assert all((current / rel).stat().st_mode & 0o777 == 0o644 for rel in first)
    etag_map = (dest / "etags.map").read_text(encoding="utf-8")
    assert f'"{os.path.realpath(current)}/log/checkpoint" \'{headers.etag(first_site / "log/checkpoint")}\';' \
        in etag_map
    again = publish_py("deploy", "--out", str(out), "--to", str(dest))
    assert again.returncode == 0 and "already up to date" in again.stdout

    revoke(registry, registry.valid[0])
    second = build(registry, out)
    checkpoints = {first["log/checkpoint"], (second / "log/checkpoint").read_bytes()}
    seen, stop = [], threading.Event()

    def read_while_deploying():
        while not stop.is_set():
            seen.append((current / "log" / "checkpoint").read_bytes())

    reader = threading.Thread(target=read_while_deploying)
    reader.start()
    try:
        result = deploy.deploy(second, str(dest))
    finally:
        stop.set()
        reader.join()
    assert set(seen) <= checkpoints and seen  # the old tree or the new one, never a gap
    assert tree(current) == tree(second) and result["release"] == os.path.basename(os.path.realpath(current))
    releases = sorted(p.name for p in (dest / "releases").iterdir())
    assert len(releases) == 2  # the previous release stays for requests in flight

    third = build(registry, out, site_url="https://szzz.example.org")  # a third, different site
    deploy.deploy(third, str(dest))
    assert len(list((dest / "releases").iterdir())) == 2 and tree(current) == tree(third)


def test_deploy_refuses_a_file_the_table_does_not_classify(registry, tmp_path):
    out, dest = tmp_path / "output", tmp_path / "www"
    site = build(registry, out)
    (site / "stray.bin").write_bytes(b"?")
    done = publish_py("deploy", "--out", str(out), "--to", str(dest))
    assert done.returncode == 1 and done.stderr.startswith("Error: stray.bin: no rule"), done.stderr
    assert not dest.exists()


def test_deploy_without_a_build(tmp_path):
    done = publish_py("deploy", "--out", str(tmp_path / "output"), "--to", str(tmp_path / "www"))
    assert done.returncode == 1 and "nothing published yet" in done.stderr


def test_a_remote_that_lists_hashes_gets_only_what_changed(registry, tmp_path):
    """rclone's local backend lists MD5s, as S3, OSS and COS do: a file is
    skipped only when the remote's hash proves it unchanged."""
    out, target = tmp_path / "output", tmp_path / "bucket"
    remote = f":local:{target}"
    first = tree(build(registry, out))
    assert deploy.deploy(out.resolve() / "site", remote)["uploaded"] == len(first)
    again = deploy.deploy(out.resolve() / "site", remote)
    assert again["uploaded"] == 0 and again["unchanged"]
    revoke(registry, registry.valid[0])
    second = tree(build(registry, out))
    result = deploy.deploy(out.resolve() / "site", remote)
    changed = {rel for rel in second if first.get(rel) != second[rel]}
    assert result["uploaded"] == len(changed) and result["deleted"] == len(set(first) - set(second))
    assert tree(target) == second
