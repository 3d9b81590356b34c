"""The published log, checked by an implementation we did not write: Go's
``golang.org/x/mod/sumdb/note`` and ``sumdb/tlog`` (Debian's
golang-golang-x-mod-dev, built offline with golang-go; both installed by
scripts/install-system-deps.sh). ``tests/tlog/gocheck/main.go`` fetches the
site over HTTP from 127.0.0.1 exactly as a C2SP tlog-tiles client does: the
checkpoint, then only the tiles of the size it trusts.

Three successive ``publish.py build``s of one registry: a small log (1), three
more events (2, the same level-0 tile) and 260 more (3, which fills tile 000).
Every checkpoint verifies against its own publish and every later one —
consistency and inclusion proofs — and against publish 2 strictly, without
the full-tile fallback (the partial tiles of checkpoint 1 must be served:
C2SP "Logs MUST serve partial tiles corresponding to tree sizes for which a
checkpoint was produced"). Go missing is a failure, not a skip: `make test`
installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import builders
import pytest

import publish

GOCHECK = Path(__file__).resolve().parent / "gocheck"
SITE = "https://example.org"
INSTALL = "apt-get install golang-go golang-golang-x-mod-dev (scripts/install-system-deps.sh, run by `make test`)"


@pytest.fixture(scope="session")
def tlogcheck(tmp_path_factory) -> Path:
    """The checker, built once per session, offline, into a temporary directory."""
    go = shutil.which("go")
    if go is None:
        pytest.fail(f"Go is not installed: {INSTALL}")
    mod = Path("/usr/share/gocode/src/golang.org/x/mod/sumdb/tlog")
    if not mod.is_dir():
        pytest.fail(f"{mod} is missing: {INSTALL}")
    out = tmp_path_factory.mktemp("gocheck")
    src = out / "src"
    shutil.copytree(GOCHECK, src)
    env = dict(os.environ, GOPROXY="off", GOFLAGS="-mod=mod", GOCACHE=str(out / "cache"),
               GOPATH=str(out / "gopath"), CGO_ENABLED="0", GOTOOLCHAIN="local")
    done = subprocess.run([go, "build", "-o", str(out / "tlogcheck"), "."], check=False, cwd=src, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return out / "tlogcheck"


def run(binary, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *map(str, args)], check=False, capture_output=True, text=True,
                          timeout=300)


def passed(result) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("OK")
    return result.stdout


@pytest.fixture(scope="module")
def publishes(make_registry, tmp_path_factory):
    """Three publishes; each site's files copied aside (as a web server would have
    served them then), each checkpoint saved as a client keeps it."""
    registry = make_registry(**builders.LOG_REGISTRY, site_url=SITE)
    base = tmp_path_factory.mktemp("go-publishes")
    cert = builders.roles(registry)["valid"]
    out = []
    for n, grow in enumerate((0, 3, 260)):
        if grow:
            builders.add_events(registry.db, registry.keys, cert, grow)
        summary = publish.build(registry.db, base / "out", keys_dir=registry.keys, passphrase=builders.PASSPHRASE)
        snapshot = base / f"site{n + 1}"
        shutil.copytree(base / "out" / "site", snapshot, symlinks=False)
        saved = base / f"checkpoint{n + 1}"
        shutil.copyfile(snapshot / "log" / "checkpoint", saved)
        out.append({"size": summary["log"]["size"], "site": snapshot, "checkpoint": saved})
    assert out[0]["size"] < out[1]["size"] < 256 < out[2]["size"] < 512, [p["size"] for p in out]
    record = json.loads(json.loads((out[0]["site"] / "api" / "trust-list.json").read_text())["payload"])
    log_key = next(e for e in record["keys"] if e["role"] == "log")
    return {"publishes": out, "vkey": log_key["vkey"], "log_key": log_key, "base": base}


def leaves(size):
    return ",".join(str(i) for i in sorted({0, size // 2, size - 1}))


def test_vkey_is_the_one_go_computes_and_is_served(publishes, tlogcheck, serve_dir):
    key = publishes["log_key"]
    made = run(tlogcheck, "-mkvkey", "example.org/log", "-pubkey", key["public_key"])
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == publishes["vkey"]
    url = serve_dir(publishes["publishes"][0]["site"])
    with urllib.request.urlopen(url + "/log/vkey") as response:
        assert response.read().decode() == publishes["vkey"] + "\n"


def test_every_checkpoint_verifies_against_its_publish(publishes, tlogcheck, serve_dir):
    for p in publishes["publishes"]:
        url = serve_dir(p["site"])
        out = passed(run(tlogcheck, "-url", url, "-vkey", publishes["vkey"], "-leaf", leaves(p["size"]), "-strict"))
        assert f"size {p['size']}" in out and "0 fallback(s)" in out


def test_older_checkpoints_verify_against_later_publishes(publishes, tlogcheck, serve_dir):
    one, two, three = publishes["publishes"]
    vkey = publishes["vkey"]
    # Publish 2 is still inside tile 000: checkpoint 1's partial tiles must be
    # there, so the strict client (no full-tile fallback) passes.
    url2 = serve_dir(two["site"])
    out = passed(run(tlogcheck, "-url", url2, "-vkey", vkey, "-checkpoint", one["checkpoint"],
                     "-leaf", leaves(one["size"]), "-strict"))
    assert f"size {one['size']}" in out
    passed(run(tlogcheck, "-url", url2, "-vkey", vkey, "-old", one["checkpoint"], "-leaf", leaves(two["size"]),
               "-strict"))
    # Publish 3 filled tile 000, so the partial tiles of 1 and 2 may go; the
    # client falls back to the full tile as C2SP allows; consistency 1→3, 2→3.
    url3 = serve_dir(three["site"])
    for old in (one, two):
        passed(run(tlogcheck, "-url", url3, "-vkey", vkey, "-checkpoint", old["checkpoint"],
                   "-leaf", leaves(old["size"])))
        out = passed(run(tlogcheck, "-url", url3, "-vkey", vkey, "-old", old["checkpoint"],
                         "-leaf", leaves(three["size"]), "-strict"))
        assert f"consistency: {old['checkpoint']} (size {old['size']}) -> size {three['size']}" in out
    # Partial tiles of the higher level stay: tile/1/000.p/1 (checkpoints 2 and 3's level 1).
    assert (three["site"] / "log" / "tile" / "1" / "000.p" / "1").is_file()


def test_the_checker_fails_on_what_a_client_must_reject(publishes, tlogcheck, serve_dir, tmp_path):
    """The checks can fail: a missing partial tile (strict), a flipped tile bit,
    a checkpoint of another key, an older checkpoint posing as the newer one."""
    one, two, _three = publishes["publishes"]
    vkey = publishes["vkey"]
    site = tmp_path / "site"
    shutil.copytree(two["site"], site)
    partial = next((site / "log" / "tile" / "0" / "000.p").iterdir())
    partial.unlink()  # the partial tile of checkpoint 1 or 2
    url = serve_dir(site)
    results = [run(tlogcheck, "-url", url, "-vkey", vkey, "-checkpoint", one["checkpoint"], "-strict"),
               run(tlogcheck, "-url", url, "-vkey", vkey, "-strict")]
    assert any(r.returncode == 1 and "404" in r.stderr for r in results), [r.stderr for r in results]

    shutil.rmtree(site)
    shutil.copytree(two["site"], site)
    tile = next(p for p in (site / "log" / "tile" / "0" / "000.p").iterdir())
    data = bytearray(tile.read_bytes())
    data[5] ^= 1
    tile.write_bytes(bytes(data))
    bad = run(tlogcheck, "-url", url, "-vkey", vkey, "-checkpoint", two["checkpoint"]
              if tile.name == str(two["size"]) else one["checkpoint"])
    assert bad.returncode == 1 and "FAIL" in bad.stderr

    other = "example.org/log+00000000+" + vkey.split("+", 2)[2]
    assert run(tlogcheck, "-url", url, "-vkey", other).returncode != 0
    rollback = run(tlogcheck, "-url", serve_dir(one["site"]), "-vkey", vkey, "-old", two["checkpoint"])
    assert rollback.returncode == 1 and "rolled back" in rollback.stderr
