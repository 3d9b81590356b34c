"""``szzz audit``: passes on a fresh publish; fails, naming the cause, on every attack.

Each attack is its own test. The registry and its first publish are built once
per module; each attack works on copies (of the registry db, or of the site).
Attacks on the history are made as an attacker would: on a copy of the db with
the append-only triggers dropped, events re-signed with the body's own key
where the attacker is an insider (then only the log can tell).
"""

from __future__ import annotations

import base64
import collections
import http.server
import json
import shutil
import threading

import builders
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.cli.audit import audit_command
from registry.core import canonical, keys, rules
from registry.log import checkpoint, note
from registry.publish import api
from registry.store import schema, trust
from registry.verify import audit

NOW = builders.NOW


@pytest.fixture(scope="module")
def world(make_registry, tmp_path_factory):
    base = tmp_path_factory.mktemp("audit")
    registry = make_registry(**builders.LOG_REGISTRY)
    db, keys_dir, certs = registry.db, registry.keys, builders.roles(registry)
    site = base / "site1"
    state = base / "state" / "checkpoint"
    builders.publish_api(db, keys_dir, site, state_file=state)
    saved = base / "saved-checkpoint"
    shutil.copyfile(site / "log" / "checkpoint", saved)
    root = json.loads((site / "api" / "root-key.json").read_text())["public_key"]
    origin = json.loads((site / "api" / "log.json").read_text())["origin"]
    return {"base": base, "db": db, "keys": keys_dir, "site": site, "state": state, "saved": saved,
            "root": root, "origin": origin, "certs": certs}


def run_audit(world, site, **kw):
    kw.setdefault("root_key", world["root"])
    kw.setdefault("origin", world["origin"])
    kw.setdefault("now", NOW)
    return audit.audit(site, **kw)


def failed(report):
    assert not report.ok, report.text()
    return "\n".join(str(f) for f in report.findings)


def republish_tampered(world, tmp_path, sql=None, params=(), resign=None):
    """Copy the registry, tamper with it, publish it into a fresh site (no previous state)."""
    db = tmp_path / "tampered.db"
    builders.copy_registry(world["db"], db)
    if sql:
        builders.tamper(db, sql, params)
    for seq, changes in resign or ():
        builders.resign_event(db, world["keys"], seq, changes)
    site = tmp_path / "site2"
    builders.publish_api(db, world["keys"], site)
    return db, site


def event_seqs(db, cert_no):
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("select seq from events where cert_no = ? order by seq", [cert_no])]
    finally:
        conn.close()


# ------------------------------------------------------------------ clean

def test_fresh_publish_passes_every_check(world):
    report = run_audit(world, world["site"], previous=world["saved"])
    assert report.ok, report.text()
    assert report.checks["every hash tile matches the entries"] is True
    assert report.checks["consistent with --previous (no rollback, no fork)"] is True
    assert report.checks["change feed api/events/ agrees with the log"] is True
    assert report.counts["certificates in the log"] == 3
    assert report.checkpoint["size"] == report.counts["log entries"] > 10


def test_cli_exit_codes_json_and_host_trust_note(world, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(audit_command, [str(world["site"]), "--now", str(NOW), "--json",
                                       "--save-checkpoint", str(tmp_path / "cp")])
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.output)
    assert doc["ok"] is True and doc["findings"] == []
    # No pinned root: the report says loudly that it trusted the host.
    assert any("trusts the host" in n for n in doc["notes"])
    assert (tmp_path / "cp").read_text() == (world["site"] / "log" / "checkpoint").read_text()
    stale = runner.invoke(audit_command, [str(world["site"]), "--root-key", world["root"],
                                          "--now", str(NOW + 30 * builders.DAY)])
    assert stale.exit_code == 1
    assert "log/checkpoint" in stale.output and "stale" in stale.output


# ---------------------------------------------------------------- attacks

def test_event_altered_without_resigning_is_named(world, tmp_path):
    seq = event_seqs(world["db"], world["certs"]["revoked"])[-1]
    _, site = republish_tampered(
        world, tmp_path, "update events set payload = replace(payload, '\"revoked\"', '\"suspended\"') "
        "where seq = ?", [seq])
    text = failed(run_audit(world, site))
    assert f"entry {seq - 1}, seq {seq}" in text and "does not verify" in text


def test_event_altered_and_resigned_breaks_consistency(world, tmp_path):
    seq = event_seqs(world["db"], world["certs"]["revoked"])[-1]
    _, site = republish_tampered(world, tmp_path, resign=[(seq, {"reason": "已更正 corrected"})])
    # Self-consistent on its own (the insider re-signed) ...
    assert run_audit(world, site).ok
    # ... but not an extension of what was published before.
    report = run_audit(world, site, previous=world["saved"])
    text = failed(report)
    assert report.checks["consistent with --previous (no rollback, no fork)"] is False
    assert "not an extension" in text and str(world["saved"]) in text


def test_event_removed_is_a_rollback(world, tmp_path):
    cert = world["certs"]["suspended"]
    last = event_seqs(world["db"], cert)[-1]
    db = tmp_path / "tampered.db"
    builders.copy_registry(world["db"], db)
    # Remove the suspension and every later event, and make the cache agree.
    builders.tamper(db, "delete from events where seq >= ?", [last])
    builders.tamper(db, "update certificates set status = 'valid', last_seq = ? where cert_no = ?",
                    [event_seqs(db, cert)[-1], cert])
    site = tmp_path / "site2"
    builders.publish_api(db, world["keys"], site)
    text = failed(run_audit(world, site, previous=world["saved"]))
    assert "rolled back" in text and "log/checkpoint" in text


def test_events_reordered_breaks_consistency(world, tmp_path):
    a = event_seqs(world["db"], world["certs"]["valid"])[-1]
    b = a + 1
    assert b not in event_seqs(world["db"], world["certs"]["valid"])
    # Swap two events of different certificates; both re-signed (seq is signed).
    _, site = republish_tampered(
        world, tmp_path, resign=[(a, {"seq": -1}), (b, {"seq": a}), (-1, {"seq": b})])
    text = failed(run_audit(world, site, previous=world["saved"]))
    assert "not an extension" in text


def test_events_reordered_without_resigning_is_named(world, tmp_path):
    site = builders.copy_site(world["site"], tmp_path / "site2")
    # Swap entries 0 and 1 inside the entry bundle and rebuild the tiles: the
    # tree no longer matches the signed checkpoint, and each entry's seq is wrong.
    from registry.log import tiles

    bundle = next(p for p in (site / "log" / "tile" / "entries").rglob("*") if p.is_file())
    entries = tiles.decode_bundle(bundle.read_bytes())
    entries[0], entries[1] = entries[1], entries[0]
    bundle.write_bytes(tiles.encode_bundle(entries))
    text = failed(run_audit(world, site))
    assert "entry 0, seq 1" in text and "payload seq 2, expected 1" in text
    assert "entry bundles hash to root" in text


def test_certificate_unrevoked_without_event_publishes_the_replay(world, tmp_path):
    cert = world["certs"]["revoked"]
    db = tmp_path / "tampered.db"
    builders.copy_registry(world["db"], db)
    builders.tamper(db, "update certificates set status = 'valid' where cert_no = ?", [cert])
    site = builders.copy_site(world["site"], tmp_path / "site2")
    # The operator republishes into the same site: the writers take every status
    # from the replay of the signed events, never from the cached column ...
    builders.publish_api(db, world["keys"], site, previous_site=site)
    doc = json.loads((site / "api" / "certificates" / f"{cert}.json").read_text())
    assert doc["status"] == "revoked"
    # ... so the output says what the events say, and the audit agrees.
    report = run_audit(world, site, previous=world["saved"])
    assert report.ok, report.text()


def test_host_that_unrevokes_a_certificate_file_is_named(world, tmp_path):
    cert = world["certs"]["revoked"]
    site = builders.copy_site(world["site"], tmp_path / "site2")
    path = site / "api" / "certificates" / f"{cert}.json"
    doc = json.loads(path.read_text())
    doc["status"] = "valid"
    path.write_text(json.dumps(doc))
    text = failed(run_audit(world, site, previous=world["saved"]))
    assert f"api/certificates/{cert}.json [status]: status 'valid', but its events replay to 'revoked'" in text


def test_host_serving_a_statement_from_before_the_revocation_is_named(world, tmp_path):
    """A genuine, log-signed bucket statement of an earlier build (the revoked
    certificate still valid) served with the current files: named, bucket and certificate."""
    cert = world["certs"]["revoked"]
    site = builders.copy_site(world["site"], tmp_path / "site2")
    bucket = rules.status_bucket(cert)
    path = site / "api" / "status" / f"{bucket}.json"
    stmt = json.loads(json.loads(path.read_text())["payload"])
    members = {no: (said["status"], None, said["last_seq"]) for no, said in stmt["certificates"].items()}
    members[cert] = ("valid", None, members[cert][2] - 1)
    log_signer, _ = builders.signers(world["db"], world["keys"])
    path.write_text(api.dumps(api.status_statement(bucket, members, log_signer, stmt["as_of"], stmt["log_size"] - 1)))
    text = failed(run_audit(world, site, previous=world["saved"]))
    assert f"api/status/{bucket}.json: bucket '{bucket}' signed at log size {stmt['log_size'] - 1}" in text
    assert f"api/status/{bucket}.json [{cert}]: says ('valid', {members[cert][2]}), the log gives ('revoked', " in text


def test_rolled_back_checkpoint(world, tmp_path):
    db = tmp_path / "grown.db"
    builders.copy_registry(world["db"], db)
    builders.add_events(db, world["keys"], world["certs"]["valid"], 2)
    newer = tmp_path / "site-newer"
    builders.publish_api(db, world["keys"], newer, previous_site=world["site"])
    assert run_audit(world, newer, previous=world["saved"]).ok
    # The host goes back to serving the older site: an auditor who kept the
    # newer checkpoint sees the rollback.
    report = run_audit(world, world["site"], previous=newer / "log" / "checkpoint")
    text = failed(report)
    size_new = checkpoint.open_checkpoint((newer / "log" / "checkpoint").read_text(), *_trust(world)).size
    assert f"already has {size_new}" in text and "rolled back" in text


def _trust(world):
    env = json.loads((world["site"] / "api" / "trust-list.json").read_text())
    return json.loads(env["payload"]), checkpoint.names_for(origin=world["origin"])


def test_stale_and_future_checkpoints(world):
    text = failed(run_audit(world, world["site"], now=NOW + 8 * builders.DAY))
    assert "log/checkpoint: checkpoint cosigned at" in text and "is stale" in text
    assert run_audit(world, world["site"], now=NOW + 6 * builders.DAY).ok
    text = failed(run_audit(world, world["site"], now=NOW - 2 * builders.DAY))
    assert "in the future" in text


@pytest.mark.parametrize("target", ["tile/0/000.p/", "tile/entries/000.p/"])
def test_tile_with_a_flipped_bit(world, tmp_path, target):
    site = builders.copy_site(world["site"], tmp_path / "site2")
    path = next(p for p in (site / "log").rglob("*") if p.is_file() and
                p.relative_to(site / "log").as_posix().startswith(target))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    rel = "log/" + path.relative_to(site / "log").as_posix()
    text = failed(run_audit(world, site))
    if "entries" in target:
        # The altered entry fails its signature (named) and the tree its root.
        assert "entry bundles hash to root" in text
        assert "log/tile/0/000.p/" in text  # the hash tile no longer matches the bundle
    else:
        assert f"{rel}: observed" in text and "differing from the hashes of the entry bundles" in text


def test_checkpoint_signed_by_unknown_key(world, tmp_path):
    site = builders.copy_site(world["site"], tmp_path / "site2")
    cp_path = site / "log" / "checkpoint"
    body = cp_path.read_text().split("\n\n")[0] + "\n"
    rogue = note.Signer(world["origin"], Ed25519PrivateKey.generate())
    cp_path.write_text(note.sign_note(body, [rogue]))
    text = failed(run_audit(world, site))
    assert "log/checkpoint: note has no verifiable signatures" in text


def test_checkpoint_for_another_tree_is_refused(world, tmp_path):
    """A checkpoint genuinely signed for a different root (e.g. from a fork) fails the tree check."""
    site = builders.copy_site(world["site"], tmp_path / "site2")
    cp = (site / "log" / "checkpoint").read_text()
    lines = cp.split("\n")
    lines[2] = base64.b64encode(bytes(32)).decode()
    (site / "log" / "checkpoint").write_text("\n".join(lines))
    text = failed(run_audit(world, site))
    assert "log/checkpoint" in text and "invalid signature" in text


def test_change_feed_and_certificate_file_disagreeing_with_log(world, tmp_path):
    site = builders.copy_site(world["site"], tmp_path / "site2")
    cert = world["certs"]["valid"]
    path = site / "api" / "certificates" / f"{cert}.json"
    doc = json.loads(path.read_text())
    doc["events"] = doc["events"][:-1]  # hide the latest event
    path.write_text(json.dumps(doc, ensure_ascii=False))
    page = site / "api" / "events" / "0.json"
    feed = json.loads(page.read_text())
    feed["events"] = feed["events"][1:]
    page.write_text(json.dumps(feed))
    text = failed(run_audit(world, site))
    assert f"api/certificates/{cert}.json [events[{len(doc['events'])}]]: event differs from the log" in text
    assert "api/events/0.json" in text


def test_audit_over_http(world, serve_dir):
    """The same audit from a web server (loopback), as a journalist would run it."""
    url = serve_dir(world["site"])
    report = run_audit(world, url, previous=world["saved"])
    assert report.ok, report.text()
    assert report.counts["log entries"] == report.checkpoint["size"]


def test_a_host_that_answers_a_second_read_of_the_log_differently_is_named(world, tmp_path):
    """The audit streams the log (it reads each entry bundle once for the tree and
    again for the events, never holding them all): a host that serves the tree's
    bytes first and others after must not get the second bytes checked as if they
    were the first."""
    site = builders.copy_site(world["site"], tmp_path / "site2")
    reads: collections.Counter[str] = collections.Counter()

    class TwoFaced(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(site), **kwargs)

        def do_GET(self):
            reads[self.path] += 1
            if "/tile/entries/" in self.path and reads[self.path] > 1:
                data = bytearray((site / self.path.lstrip("/")).read_bytes())
                data[len(data) // 2] ^= 0x01
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(bytes(data))
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TwoFaced)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        text = failed(run_audit(world, f"http://127.0.0.1:{server.server_address[1]}"))
    finally:
        server.shutdown()
        server.server_close()
    assert "changed between two reads of its bundle" in text


@pytest.mark.parametrize("entries", [["not an entry"], [{"key_id": 7}], "keys", None])
def test_root_signed_trust_list_of_the_wrong_shape_is_a_finding_not_a_crash(world, tmp_path, entries):
    # Even a list the root key signed is read as untrusted input: audit()
    # promises a report, never an exception, whatever the files hold.
    site = builders.copy_site(world["site"], tmp_path / "site2")
    db = schema.connect(world["db"])
    try:
        root = keys.load(world["keys"], trust.root_key_id(db), builders.PASSPHRASE)
    finally:
        db.conn.close()
    path = site / "api" / "trust-list.json"
    record = canonical.decode(json.loads(path.read_text())["payload"].encode())
    record["keys"] = entries
    path.write_text(json.dumps(canonical.make_envelope(canonical.TRUST_LIST, record, root)))
    text = failed(run_audit(world, site))
    assert "api/trust-list.json" in text
    assert "observed a record without a list of key entries" in text
