"""The verify page's log step in Chromium (site/verify/logcheck.js).

A small registry is published (api/ + log/ with the library calls publish.py
makes) and the verify page installed with the log origin pinned; the page is
served from loopback. The page must show the log checks for a genuine mark,
refuse a rolled-back checkpoint once it has seen a newer one (localStorage),
and say status_unknown for a stale checkpoint or a flipped bit in a tile.
"""

from __future__ import annotations

import datetime
import json
import shutil
import sqlite3
from pathlib import Path

import builders
import pytest
from helpers import VERIFIER_ASSETS, assert_no_js_errors

from registry.log import checkpoint, note
from registry.publish import webverifier

pytestmark = pytest.mark.browser

NOW = builders.NOW
TODAY = datetime.datetime.fromtimestamp(NOW, checkpoint.clock.CST).date().isoformat()
ORIGIN = "szzz.example.cn/log"
DONE = "document.documentElement.dataset.state === 'done'"


def install(site: Path, root_key: str):
    webverifier.install_verifier(site / "v", assets=VERIFIER_ASSETS, root_public_key=root_key, today=TODAY,
                                 log_origin=ORIGIN)


@pytest.fixture(scope="module")
def world(make_registry, tmp_path_factory):
    base = tmp_path_factory.mktemp("logbrowser")
    registry = make_registry(**builders.LOG_REGISTRY)
    db, keys_dir, certs = registry.db, registry.keys, builders.roles(registry)
    # Version 1 of the site, then a grown registry published as version 2.
    old = base / "old"
    builders.publish_api(db, keys_dir, old)
    builders.add_events(db, keys_dir, certs["valid"], 3)
    new = base / "new"
    builders.publish_api(db, keys_dir, new, previous_site=old, timestamp=NOW + 60)
    root = json.loads((new / "api" / "root-key.json").read_text())["public_key"]
    conn = sqlite3.connect(db)
    mark = conn.execute("select mark_payload from certificates where cert_no = ?", [certs["valid"]]).fetchone()[0]
    conn.close()
    # One served directory: /site/ is what the host serves; tests swap its content.
    for site in (old, new):
        install(site, root)
    return {"base": base, "old": old, "new": new, "mark": mark, "root": root, "db": db, "keys": keys_dir}


def serve_copy(world, serve_dir, tmp_path, version="new"):
    site = tmp_path / "site"
    shutil.copytree(world[version], site)
    return site, serve_dir(tmp_path) + "/site"


def open_mark(page, url, mark):
    page.goto(f"{url}/v/#{mark}")
    page.wait_for_function("() => " + DONE)
    page.evaluate("() => { document.getElementById('checks-section').open = true; }")  # the details, collapsed
    return page.evaluate("""() => ({
        verdict: document.getElementById('verdict').dataset.verdict,
        reason: document.getElementById('v-reason').innerText,
        checks: Object.fromEntries([...document.querySelectorAll('[data-check]')]
            .map((li) => [li.dataset.check, li.dataset.ok])),
        text: document.getElementById('checks').innerText,
    })""")


def test_genuine_mark_shows_inclusion_and_freshness(world, page, serve_dir, tmp_path):
    _, url = serve_copy(world, serve_dir, tmp_path)
    got = open_mark(page, url, world["mark"])
    assert got["verdict"] == "valid", got
    assert got["checks"] == {"log-signature": "true", "log-fresh": "true", "inclusion": "true",
                             "consistency": "true"}
    assert "最新事件已记入透明日志" in got["text"] and "Latest event included in the log" in got["text"]
    assert "timestamped" in got["text"] and "Beijing time" in got["text"]
    stored = page.evaluate(f"() => localStorage.getItem('szzz-log:{ORIGIN}')")
    size = checkpoint.open_checkpoint((world["new"] / "log" / "checkpoint").read_text(), *_trust(world)).size
    assert json.loads(stored)["size"] == str(size)
    assert_no_js_errors(page)


def _trust(world):
    env = json.loads((world["new"] / "api" / "trust-list.json").read_text())
    return json.loads(env["payload"]), checkpoint.names_for(origin=ORIGIN)


def test_rolled_back_checkpoint_is_refused_after_a_newer_one(world, page, serve_dir, tmp_path):
    site, url = serve_copy(world, serve_dir, tmp_path)
    assert open_mark(page, url, world["mark"])["verdict"] == "valid"
    # The host now serves the older site (its own files are all genuine).
    shutil.rmtree(site)
    shutil.copytree(world["old"], site)
    page.goto("about:blank")
    got = open_mark(page, url, world["mark"])
    assert got["verdict"] == "status_unknown", got
    assert got["checks"]["consistency"] == "false" and got["checks"]["log-signature"] == "true"
    assert "log rolled back / inconsistent" in got["reason"]
    # A fresh browser (nothing remembered) accepts the old site: the memory is what refuses.
    other = page.context.browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        p2 = other.new_page()
        assert open_mark(p2, url, world["mark"])["verdict"] == "valid"
    finally:
        other.close()


def test_forked_checkpoint_is_refused(world, page, serve_dir, tmp_path):
    site, url = serve_copy(world, serve_dir, tmp_path, "old")
    assert open_mark(page, url, world["mark"])["verdict"] == "valid"
    # A same-size tree with a different root, genuinely signed by the log key (a fork).
    log_signer, ts_signer = builders.signers(world["db"], world["keys"])
    cp_text = (site / "log" / "checkpoint").read_text()
    lines = cp_text.split("\n")
    body = f"{lines[0]}\n{lines[1]}\n{'A' * 43}=\n"
    forged = note.sign_note(body, [checkpoint.note_signer(log_signer, ORIGIN, note.KEY_TYPE_ED25519),
                                   checkpoint.note_signer(ts_signer, "szzz.example.cn/timestamp",
                                                    note.KEY_TYPE_COSIGNATURE)], timestamp=NOW)
    (site / "log" / "checkpoint").write_text(forged)
    page.goto("about:blank")
    got = open_mark(page, url, world["mark"])
    assert got["verdict"] == "status_unknown" and got["checks"]["consistency"] == "false", got


def test_stale_checkpoint_is_status_unknown(world, page, serve_dir, tmp_path):
    site, url = serve_copy(world, serve_dir, tmp_path)
    _, ts_signer = builders.signers(world["db"], world["keys"])
    path = site / "log" / "checkpoint"
    path.write_text(note.add_signatures(path.read_text(), [
        checkpoint.note_signer(ts_signer, "szzz.example.cn/timestamp", note.KEY_TYPE_COSIGNATURE)],
        timestamp=NOW - 9 * builders.DAY))
    got = open_mark(page, url, world["mark"])
    assert got["verdict"] == "status_unknown", got
    assert got["checks"]["log-fresh"] == "false" and "stale" in got["reason"]


def test_flipped_tile_bit_and_unknown_key(world, page, serve_dir, tmp_path):
    site, url = serve_copy(world, serve_dir, tmp_path)
    tile = next(p for p in (site / "log" / "tile" / "0").rglob("*") if p.is_file())
    data = bytearray(tile.read_bytes())
    data[5] ^= 0x04
    tile.write_bytes(bytes(data))
    got = open_mark(page, url, world["mark"])
    assert got["verdict"] == "status_unknown" and got["checks"]["inclusion"] == "false", got
    # A checkpoint signed by a key that is not in the trust list.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    cp = site / "log" / "checkpoint"
    body = cp.read_text().split("\n\n")[0] + "\n"
    cp.write_text(note.sign_note(body, [note.Signer(ORIGIN, Ed25519PrivateKey.generate())]))
    got = verify_again(page, world["mark"])
    assert got["verdict"] == "status_unknown" and got["checks"]["log-signature"] == "false", got


def verify_again(page, mark):
    page.reload()
    page.wait_for_function("() => " + DONE)
    page.evaluate("() => { document.getElementById('checks-section').open = true; }")  # the details, collapsed
    return page.evaluate("""() => ({
        verdict: document.getElementById('verdict').dataset.verdict,
        checks: Object.fromEntries([...document.querySelectorAll('[data-check]')]
            .map((li) => [li.dataset.check, li.dataset.ok])),
    })""")
