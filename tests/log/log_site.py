"""A small registry and its published files, for the transparency-log tests.

The registry is made with the real operations (tests/registry/registry_testkit.py:
keys generated at run time); :func:`publish_api` runs the publishing steps the
log depends on — the same library calls publish.py makes (snapshot, change
feed, log) — without Pelican, so attack tests stay fast. Tests that need the
HTML pages or publish.py itself run ``publish.py build`` (see test_publish_log.py).
"""

from __future__ import annotations

import datetime
import json
import shutil
import sqlite3
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "registry"))

import registry_testkit as kit

from registry.core import keys
from registry.publish import api, changefeed
from registry.publish import log as publish_log
from registry.store.operations import Registry

PASSPHRASE = kit.PASSPHRASE
NOW = int(datetime.datetime(2025, 6, 2, 12, tzinfo=datetime.UTC).timestamp())
DAY = 86400


def make_registry(db_path, keys_dir):
    """Three certificates: one revoked, one suspended, one valid; plus a notice.
    Returns ``{"valid", "revoked", "suspended"}`` certificate numbers."""
    reg, ids = kit.build(db_path, keys_dir, products=3)
    valid = kit.issue(reg, ids[0], expires="2027-02-28")
    revoked = kit.issue(reg, ids[1], expires="2027-02-28")
    suspended = kit.issue(reg, ids[2], body="TUVSUD", expires="2027-02-28")
    reg.record_surveillance(valid, True, date="2023-03-01")
    reg.revoke(revoked, "监督抽查不合格 failed market surveillance", date="2024-05-06")
    reg.suspend(suspended, "整改中 under corrective action", date="2025-01-10")
    reg.publish_notice("notice", "关于撤销证书的通报", "证书已撤销。", cert_no=revoked, date="2024-05-07")
    reg.close()
    return {"valid": valid, "revoked": revoked, "suspended": suspended}


def add_events(db_path, keys_dir, cert_no, n=1):
    """Append ``n`` signed surveillance events to ``cert_no`` (a registry growing)."""
    reg = Registry.open(db_path, keys_dir, PASSPHRASE)
    reg.today_override = kit.TODAY
    with reg.batch():  # one transaction: the same code path, fewer commits
        for _ in range(n):
            reg.record_surveillance(cert_no, True, date="2025-05-01")
    reg.close()


def signers(db_path, keys_dir):
    db = sqlite_db(db_path)
    try:
        return (api.load_log_signer(db, keys_dir, PASSPHRASE),
                publish_log.load_timestamp_signer(db, keys_dir, PASSPHRASE))
    finally:
        db.conn.close()


def sqlite_db(db_path):
    from registry.store import schema

    return schema.connect(db_path)


def publish_api(db_path, keys_dir, site_dir, *, previous_site=None, state_file=None, timestamp=NOW):
    """Write api/ (snapshot, change feed) and log/ for the registry into ``site_dir``."""
    log_signer, ts_signer = signers(db_path, keys_dir)
    db = sqlite_db(db_path)
    try:
        as_of = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
        api.write_snapshot(db, site_dir, log_signer, as_of=as_of)
        changefeed.write_change_feed(db, site_dir, as_of=as_of)
        return publish_log.publish_log(db, site_dir, log_signer, ts_signer, previous_site=previous_site,
                                state_file=state_file, timestamp=timestamp)
    finally:
        db.conn.close()


def published(base):
    """A registry under ``base`` with its api/ and log published (see :func:`publish_api`).

    Returns ``{"base", "db", "keys", "site", "certs", "mark", "root"}``: ``mark`` is
    the valid certificate's payload text, ``root`` the root public key (base64url).
    """
    db, keys_dir = base / "registry.db", base / "keys"
    certs = make_registry(db, keys_dir)
    site = base / "site"
    publish_api(db, keys_dir, site)
    conn = sqlite3.connect(db)
    mark = conn.execute("select mark_payload from certificates where cert_no = ?",
                        [certs["valid"]]).fetchone()[0]
    conn.close()
    root = json.loads((site / "api" / "root-key.json").read_text())["public_key"]
    return {"base": base, "db": db, "keys": keys_dir, "site": site, "certs": certs,
            "mark": mark, "root": root}


def tamper(db_path, sql, params=()):
    """Run ``sql`` on a registry copy as an attacker would: append-only triggers dropped."""
    conn = sqlite3.connect(db_path)
    conn.executescript("DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete;"
                       "DROP TRIGGER IF EXISTS revisions_no_update; DROP TRIGGER IF EXISTS revisions_no_delete;")
    conn.execute(sql, params)
    conn.commit()
    conn.close()


def resign_event(db_path, keys_dir, seq, changes):
    """Rewrite event ``seq``'s payload with ``changes`` and re-sign it with its own key
    (an insider holding the body key), so only the log can tell."""
    import json

    from registry.core import canonical

    conn = sqlite3.connect(db_path)
    key_id, payload = conn.execute("select key_id, payload from events where seq = ?", [seq]).fetchone()
    conn.close()
    record = json.loads(payload)
    record.update(changes)
    signer = keys.load(keys_dir, key_id, PASSPHRASE)
    env = canonical.make_envelope(canonical.EVENT, record, signer)
    tamper(db_path, "update events set seq = ?, payload = ?, signature = ? where seq = ?",
           [record["seq"], env["payload"], env["signature"], seq])


def copy_registry(src_db, dst_db):
    """A byte copy of the registry (WAL checkpointed first)."""
    conn = sqlite3.connect(src_db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    shutil.copyfile(src_db, dst_db)


def copy_site(src, dst):
    shutil.copytree(src, dst)
    return Path(dst)
