"""publish.py build: real registries, real Pelican builds, real subprocesses.

One small demo registry per module (30 certificates, then one revoked and one
suspended through ``Registry``), built once; a second build of the same
registry into another directory checks reproducibility, and is reused as
the "previous output" of the failure and kill tests.
"""

import base64
import csv
import io
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from builders import PASSPHRASE, PORTAL_REGISTRY, TODAY, copy_registry
from cryptography.hazmat.primitives import serialization
from helpers import file_digests

import publish
from registry.core import keys
from registry.core.exceptions import BuildError
from registry.publish import changefeed, export, incremental, opendata
from registry.store import schema
from registry.store.operations import Registry

ROOT = Path(__file__).resolve().parents[2]
SITE_URL = "http://127.0.0.1:8000"


def build_dirs(out):
    out = Path(out)
    return sorted(p.name for p in out.parent.glob(f".{out.name}.build-*"))


@pytest.fixture(scope="module")
def registry(make_registry):
    return make_registry(**PORTAL_REGISTRY)


def run_build(registry, out, db=None, **kwargs):
    return publish.build(db or registry.db, out, keys_dir=registry.keys,
                         passphrase=PASSPHRASE, site_url=SITE_URL, **kwargs)


@pytest.fixture(scope="module")
def built(registry, tmp_path_factory):
    out = tmp_path_factory.mktemp("out1") / "output"
    summary = run_build(registry, out)
    return out, summary


@pytest.fixture(scope="module")
def built_again(registry, tmp_path_factory):
    out = tmp_path_factory.mktemp("out2") / "output"
    run_build(registry, out)
    return out


# ------------------------------------------------------------ layout / data

def test_layout_and_link(built):
    out, summary = built
    assert out.is_symlink() and summary["rendered"] == summary["marks"] > 0
    for rel in ("site/index.html", "site/api/status.json", "site/api/events/index.json",
                "site/v/index.html", "site/downloads/certificates.csv",
                "site/downloads/registry.db", "site/search/index/meta.json",
                "data/registry.db", "data/metadata.yml"):
        assert (out / rel).is_file(), rel
    assert build_dirs(out) == [os.readlink(out)]


def test_demo_build_says_so_on_the_verify_page(built, registry, tmp_path):
    """meta.demo (set by the demo registry) puts the "演示数据 demo data" banner
    on the verify page; a registry without it gets none."""
    banner = '<aside class="demo" aria-label="演示数据 Demo data"><p><strong>演示数据</strong>'
    assert banner in (built[0] / "site" / "v" / "index.html").read_text(encoding="utf-8")
    db_path = tmp_path / "registry.db"
    shutil.copyfile(registry.db, db_path)
    db = schema.connect(db_path)
    with schema.write_transaction(db):
        db.execute("delete from meta where key = 'demo'")
    db.conn.close()
    out = tmp_path / "output"
    run_build(registry, out, db=db_path)
    assert banner not in (out / "site" / "v" / "index.html").read_text(encoding="utf-8")


def test_a_demo_registry_is_labelled_demo_on_pages_and_marks(built, registry, tmp_path):
    """Issue 14: one signal, the registry's own ``meta.demo`` (set by ``szzz demo``,
    kept by the public export), puts the "演示数据 demo data" banner on every
    Pelican page and the demo band on every printed mark; a registry without it
    (the same registry, its meta.demo removed) gets neither."""
    out, _ = built
    conn = sqlite3.connect(out / "data" / "registry.db")
    assert conn.execute("select value from meta where key = 'demo'").fetchone()[0]
    conn.close()
    pages = sorted((out / "site").glob("*/index.html"))
    assert len(pages) > 5
    for page in [out / "site" / "index.html", *pages]:
        if page.parent.name == "v":
            continue   # the verify page shows it from its own files (site/verify/)
        assert 'id="demo-banner"' in page.read_text(encoding="utf-8"), page
    marks = sorted((out / "site" / "marks").glob("*.svg"))
    assert marks and all("演示数据 · DEMO DATA" in m.read_text(encoding="utf-8") for m in marks[:5])
    real = tmp_path / "real.db"
    copy_registry(registry.db, real)
    with sqlite3.connect(real) as c:
        c.execute("delete from meta where key = 'demo'")
    real_out = tmp_path / "output"
    run_build(registry, real_out, db=real)
    assert 'id="demo-banner"' not in (real_out / "site" / "index.html").read_text(encoding="utf-8")
    marks = sorted((real_out / "site" / "marks").glob("*.svg"))
    assert marks and not any("DEMO DATA" in m.read_text(encoding="utf-8") for m in marks[:5])


def test_public_db_has_no_operator_data(built, registry):
    out, _ = built
    conn = sqlite3.connect(out / "data" / "registry.db")
    tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
    for t in schema.OPERATOR_ONLY_TABLES:
        assert t not in tables
    src = schema.connect(registry.db)
    contacts = [v for row in src.execute("select phone, email, contact_name from enterprise_contacts")
                for v in row if v]
    notes = [r[0] for r in src.execute("select product_name from applications") if r[0]]
    src.conn.close()
    assert contacts and notes  # the demo has operator-only data to leak
    blob = (out / "data" / "registry.db").read_bytes()
    for value in contacts + notes:
        assert value.encode("utf-8") not in blob, value
    meta = dict(conn.execute("select key, value from meta"))
    assert set(meta) <= set(export.PUBLIC_META_KEYS)


def _private_forms(keys_dir):
    """Every private key of the registry (the key files, decrypted as an attacker
    holding the passphrase would), raw and in the usual text encodings."""
    forms = []
    for pem in sorted(Path(keys_dir).glob("*.pem")):
        key = serialization.load_pem_private_key(pem.read_bytes(), password=PASSPHRASE)
        raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
        assert keys.key_id_of(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                            serialization.PublicFormat.Raw)) == pem.stem
        forms += [raw, raw.hex().encode(), base64.b64encode(raw).rstrip(b"="),
                  base64.urlsafe_b64encode(raw).rstrip(b"=")]
    return forms


def test_no_private_key_material_anywhere(built, registry):
    out, _ = built
    forms = _private_forms(registry.keys)
    assert len(forms) >= 4 * 5  # root, log, timestamp and body keys
    for rel in file_digests(out):
        data = (out / rel).read_bytes()
        assert b"PRIVATE KEY" not in data, rel
        for form in forms:
            assert form not in data, rel


def test_every_table_and_column_described(built):
    out, _ = built
    conn = sqlite3.connect(out / "data" / "registry.db")
    meta = opendata.metadata()["databases"]["registry"]["tables"]
    fts = {f"{t}_fts" for t in export.FTS_SOURCES}
    for (table,) in conn.execute("select name from sqlite_master where type = 'table' "
                                 "and name not like '%_fts%'"):
        assert table in meta, table
        cols = [r[1] for r in conn.execute(f"pragma table_info({table})")]
        assert set(cols) == set(meta[table]["columns"]), table
    assert fts <= {r[0] for r in conn.execute("select name from sqlite_master")}


def test_downloads_open_in_excel_with_chinese(built):
    out, _ = built
    raw = (out / "site" / "downloads" / "certificates.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    conn = sqlite3.connect(out / "data" / "registry.db")
    expected = dict(conn.execute("select cert_no, product_name_zh from certificates"))
    assert {r["cert_no"]: r["product_name_zh"] for r in rows} == expected
    assert any("\u4e00" <= ch <= "\u9fff" for r in rows for ch in r["enterprise_name_zh"])
    assert (out / "site/downloads/registry.db").read_bytes() == (out / "data/registry.db").read_bytes()


def test_api_reflects_revocation_and_mark_urls(built, registry):
    out, _ = built
    doc = json.loads((out / "site/api/certificates" / f"{registry.revoked}.json").read_text())
    assert doc["status"] == "revoked"
    svg = (out / "site/marks" / f"{registry.valid[0]}.svg").read_text()
    assert "<script" not in svg
    index = json.loads((out / "site/api/events/index.json").read_text())
    conn = sqlite3.connect(out / "data/registry.db")
    assert index["last_seq"] == conn.execute("select max(seq) from events").fetchone()[0]


# ----------------------------------------------------------- reproducibility

def test_two_builds_are_byte_identical_but_for_the_cosignature_time(built, built_again):
    """Without SOURCE_DATE_EPOCH the timestamp cosignature carries the time it
    was made (C2SP tlog-cosignature), so only that line of log/checkpoint may
    differ; with it, nothing does (test_publish_log.py)."""
    first, second = file_digests(built[0]), file_digests(built_again)
    assert first.keys() == second.keys()
    differ = [k for k in first if first[k] != second[k]]
    assert differ in ([], ["site/log/checkpoint"])
    a, b = ((out / "site/log/checkpoint").read_text().split("\n") for out in (built[0], built_again))
    assert a[:-2] == b[:-2] and a[-2].startswith("— szzz.example.cn/timestamp ") and a[-1] == b[-1] == ""


def test_source_date_epoch_is_honoured(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # 2026-01-01T00:00:00Z
    summary = run_build(registry, tmp_path / "out")
    assert summary["build_time"] == "2026-01-01T00:00:00Z"
    index = json.loads((tmp_path / "out/site/api/events/index.json").read_text())
    assert index["as_of"] == "2026-01-01T00:00:00Z"


# --------------------------------------------------------- failure & atomicity

def test_registry_failing_validation_stops_build(registry, built_again, tmp_path):
    before = file_digests(built_again)
    link_before = os.readlink(built_again)
    db = tmp_path / "tampered.db"
    shutil.copyfile(registry.db, db)
    conn = sqlite3.connect(db)
    conn.execute("update certificates set status = 'valid' where cert_no = ?", [registry.revoked])
    conn.commit()
    conn.close()
    with pytest.raises(BuildError) as err:
        run_build(registry, built_again, db=db)
    assert registry.revoked in str(err.value)
    assert os.readlink(built_again) == link_before
    assert file_digests(built_again) == before
    assert build_dirs(built_again) == [link_before]


def test_unclassified_table_stops_export(registry, tmp_path):
    db = tmp_path / "extra.db"
    shutil.copyfile(registry.db, db)
    src = schema.connect(db)
    src.execute("create table secret_notes (id integer primary key, note text)")
    with pytest.raises(BuildError, match="secret_notes"):
        export.export_public_db(src, tmp_path / "public.db")
    src.conn.close()
    assert not list(tmp_path.glob("*public.db*"))


def _cli_build(registry, db, out):
    # Reproducible (the cosignature would carry each build's own time otherwise),
    # so a finished build equals the reference byte for byte.
    env = dict(os.environ, SZZZ_PASSPHRASE=PASSPHRASE.decode(), SOURCE_DATE_EPOCH="1767225600")
    return subprocess.Popen(
        [sys.executable, str(ROOT / "publish.py"), "build", "--db", str(db), "--out", str(out),
         "--keys", str(registry.keys), "--site-url", SITE_URL],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def whole_tree(out) -> dict:
    """:func:`file_digests` of ``out``, the build state by what the build was made
    from: its ``public_db`` record names the build it was made from, so a build
    that finds the registry unchanged (after a killed build that had already
    switched) records another predecessor for the same output."""
    tree = file_digests(out)
    state = incremental.read_state(Path(os.path.realpath(out)))
    if state is not None:
        tree[incremental.STATE_FILE] = incremental.state_id(state)
    return tree


def test_killed_build_leaves_previous_output_whole(registry, built_again, tmp_path):
    old_tree = whole_tree(built_again)
    # A registry that differs (one more revocation), so old and new outputs differ.
    db = tmp_path / "changed.db"
    shutil.copyfile(registry.db, db)
    reg = Registry.open(db, registry.keys, PASSPHRASE)
    try:
        reg.today_override = TODAY
        reg.revoke(registry.valid[1], "撤销", date=TODAY)
    finally:
        reg.close()
    # A reference build of the changed registry elsewhere: what a finished build gives.
    # It starts from a copy of the same output (link, build directory, state
    # file), since the log keeps the partial tiles of every checkpointed size
    # (docs/transparency-log.md §2): the new output depends on the previous one.
    shutil.copytree(built_again.parent, tmp_path / "reference-parent", symlinks=True)
    reference = tmp_path / "reference-parent" / built_again.name
    start = time.monotonic()
    proc = _cli_build(registry, db, reference)
    assert proc.wait() == 0, proc.stderr.read().decode()
    duration = time.monotonic() - start
    new_tree = whole_tree(reference)
    assert new_tree != old_tree
    rng = random.Random(20250601)
    moments = sorted(rng.uniform(0.05, 1.0) * duration for _ in range(4))
    print("kill moments (s):", [round(m, 2) for m in moments], "of", round(duration, 2))
    for moment in moments:
        proc = _cli_build(registry, db, built_again)
        time.sleep(moment)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        now = whole_tree(built_again)
        # Whole: exactly the previous output, or (killed after the switch) the new one.
        assert now in (old_tree, new_tree), f"partial output after a kill at {moment:.2f}s"
    proc = _cli_build(registry, db, built_again)
    assert proc.wait() == 0, proc.stderr.read().decode()
    final = whole_tree(built_again)
    # Registry-derived files are exactly the reference build's (templates may be
    # edited by other engineers between the two builds while tests run).
    assert final.keys() == new_tree.keys()
    assert {k: v for k, v in final.items() if k.startswith(("data/", "site/api/"))} == \
        {k: v for k, v in new_tree.items() if k.startswith(("data/", "site/api/"))}
    assert build_dirs(built_again) == [os.readlink(built_again)]  # stale dirs cleaned


# ---------------------------------------------------------------- change feed

def test_change_feed_pages_cover_every_event_once(registry, tmp_path, monkeypatch):
    monkeypatch.setattr(changefeed, "PAGE_SIZE", 7)
    db = tmp_path / "feed.db"
    shutil.copyfile(registry.db, db)
    src = schema.connect(db)
    n_events = src.execute("select count(*) from events").fetchone()[0]
    index = changefeed.write_change_feed(src, tmp_path / "a", as_of="2025-06-01T15:59:59Z")
    src.conn.close()
    feed = tmp_path / "a/api/events"
    seen, page_name = [], "0.json"
    while page_name:  # follow next links from page 0, as a platform would
        page = json.loads((feed / page_name).read_text())
        for env in page["events"]:
            record = json.loads(env["payload"])
            assert env["type"] == "szzz/event/v1" and record["seq"] == len(seen) + 1
            seen.append(record["seq"])
        assert page["complete"] == (len(page["events"]) == 7)
        page_name = page["next"]
    assert seen == list(range(1, n_events + 1)) and index["last_seq"] == n_events
    assert len(index["pages"]) == n_events // 7 + 1
    # A platform that saw seq s fetches page s // 7 and finds s + 1 there.
    for s in (0, 6, 7, 8, n_events - 1):
        page = json.loads((feed / changefeed.page_name(s // 7)).read_text())
        assert s + 1 in [json.loads(e["payload"])["seq"] for e in page["events"]]
    # Full pages never change when events are added.
    full = {p["href"]: (feed / p["href"]).read_bytes() for p in index["pages"] if p["complete"]}
    reg = Registry.open(db, registry.keys, PASSPHRASE)
    try:
        reg.today_override = TODAY
        for cert_no in registry.valid[2:12]:
            reg.suspend(cert_no, "暂停", date=TODAY)
    finally:
        reg.close()
    src = schema.connect(db)
    changefeed.write_change_feed(src, tmp_path / "a", as_of="2025-06-02T15:59:59Z")
    src.conn.close()
    for name, data in full.items():
        assert (feed / name).read_bytes() == data, name


def test_warm_build_renders_only_changed_marks(registry, built, tmp_path):
    # Last in the module: it moves the module's output (and its log) forward.
    out, _ = built
    db = tmp_path / "registry.db"
    shutil.copyfile(registry.db, db)
    reg = Registry.open(db, registry.keys, PASSPHRASE)
    try:
        reg.today_override = TODAY
        reg.revoke(registry.valid[0], "撤销 revoked for the test", date=TODAY)
        reg.renew(registry.valid[1], "2030-01-31", date=TODAY)
    finally:
        reg.close()
    summary = run_build(registry, out, db=db)
    assert summary["rendered"] == 1  # the renewed certificate's new mark only
    # Only a valid certificate may carry a mark: the revoked one's is no longer published.
    assert not (out / "site/marks" / f"{registry.valid[0]}.svg").exists()
    assert (out / "site/marks" / f"{registry.valid[1]}.png").is_file()
    doc = json.loads((out / "site/api/certificates" / f"{registry.valid[0]}.json").read_text())
    assert doc["status"] == "revoked"
