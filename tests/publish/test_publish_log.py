"""The log inside publishing: publish.py signs only extensions, refresh re-cosigns,
builds are reproducible, and incremental tile writing equals a fresh write.

publish.py runs for real (Pelican, api/, log/, ...) a few times per module;
the finer cases use the same library call publish.py makes (publish_log.publish_log).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import builders
import pytest

import publish
from registry.core import canonical
from registry.core.exceptions import ConfigError, LogForkError, RegistryError
from registry.log import checkpoint, merkle, note, tiles
from registry.publish import changefeed
from registry.publish import log as publish_log
from registry.store import schema
from registry.store.operations import Registry
from registry.verify import audit

SDE = builders.NOW


def tree_digest(root: Path, skip=()) -> dict:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not any(rel.startswith(s) for s in skip):
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def built(make_registry, tmp_path_factory):
    base = tmp_path_factory.mktemp("publish")
    registry = make_registry(**builders.LOG_REGISTRY)
    db, keys_dir, certs = registry.db, registry.keys, builders.roles(registry)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", str(SDE))
        summary = publish.build(db, base / "out", keys_dir=keys_dir, passphrase=builders.PASSPHRASE)
    site = base / "out" / "site"
    root = json.loads((site / "api" / "root-key.json").read_text())["public_key"]
    return {"base": base, "db": db, "keys": keys_dir, "out": base / "out", "site": site,
            "summary": summary, "root": root, "certs": certs}


def test_publish_writes_a_log_that_audits_clean_pages_included(built):
    site = built["site"]
    assert (site / "log" / "checkpoint").is_file() and (site / "api" / "log.json").is_file()
    info = json.loads((site / "api" / "log.json").read_text())
    assert info == {"format": "szzz/log/v1", "origin": "szzz.example.cn/log",
                    "log_key_name": "szzz.example.cn/log", "timestamp_key_name": "szzz.example.cn/timestamp",
                    "checkpoint": "log/checkpoint", "max_age_days": 7}
    report = audit.audit(site, root_key=built["root"], origin="szzz.example.cn/log", now=SDE + 3600)
    assert report.ok, report.text()
    assert report.checks["certificate pages show the replayed status"] is True
    # The state file beside OUT holds exactly the published checkpoint.
    state = publish_log.state_file_for(built["out"])
    assert state.read_text() == (site / "log" / "checkpoint").read_text()
    # The cosignature time is SOURCE_DATE_EPOCH (reproducible; no wall clock).
    assert report.checkpoint["timestamp"] == SDE


def test_two_builds_with_source_date_epoch_are_byte_identical(built, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(SDE))
    publish.build(built["db"], tmp_path / "out", keys_dir=built["keys"], passphrase=builders.PASSPHRASE)
    first, second = tree_digest(built["site"]), tree_digest(tmp_path / "out" / "site")
    assert first.keys() == second.keys()
    differing = sorted(k for k in first if first[k] != second[k])
    assert differing == []


def test_publish_refuses_a_registry_that_rewrote_history(built, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(SDE))
    out = copy_output(built, tmp_path)
    before = (out / "site" / "log" / "checkpoint").read_text()
    db = tmp_path / "tampered.db"
    builders.copy_registry(built["db"], db)
    seq = log_site_event(db, built["certs"]["revoked"])
    builders.resign_event(db, built["keys"], seq, {"reason": "已更正 corrected"})
    # An incremental build (no new event) that would publish the altered event
    # again: the change feed's last page, rewritten, holds it.
    with pytest.raises(LogForkError) as info:
        publish.build(db, out, keys_dir=built["keys"], passphrase=builders.PASSPHRASE)
    assert "refusing to sign a fork" in str(info.value) and f"seq {seq}" in str(info.value)
    # Nothing changed: OUT still serves the old build, the state file the old tree.
    assert (out / "site" / "log" / "checkpoint").read_text() == before
    assert publish_log.state_file_for(out).read_text() == before


def copy_output(built, tmp_path) -> Path:
    """A copy of publish.py's output: the OUT link, its build dir, cache and state."""
    out = tmp_path / "out"
    os.symlink(os.readlink(built["out"]), out)
    for path in built["base"].glob(".out.*"):
        if path.is_dir():
            shutil.copytree(path, tmp_path / path.name, symlinks=True)
    return out


def log_site_event(db, cert_no):
    conn = sqlite3.connect(db)
    try:
        return conn.execute("select max(seq) from events where cert_no = ?", [cert_no]).fetchone()[0]
    finally:
        conn.close()


def test_state_file_alone_still_refuses_a_fork(make_registry, tmp_path):
    """Even when the published output is gone, the state file binds the next publish."""
    registry = make_registry(**builders.LOG_REGISTRY)
    db, keys_dir, certs = registry.db, registry.keys, builders.roles(registry)
    state = tmp_path / "state" / "checkpoint"
    builders.publish_api(db, keys_dir, tmp_path / "site1", state_file=state)
    builders.tamper(db, "delete from events where seq = (select max(seq) from events)")
    with pytest.raises(LogForkError) as info:
        builders.publish_api(db, keys_dir, tmp_path / "site2", state_file=state)
    assert "rolled-back log" in str(info.value) and str(state) in str(info.value)
    assert not (tmp_path / "site2" / "log" / "checkpoint").exists()
    assert certs  # the registry had certificates to lose


@pytest.fixture(scope="module")
def long_history(make_registry, tmp_path_factory):
    """A :data:`builders.LOG_REGISTRY` with 1,000 more events of its valid
    certificate, published by publish.py: the change feed's first page
    (seq 1..1000) is complete, so an incremental build links it and publishes
    anew, from the events the log already holds, only the histories of the
    certificates it changes (and the feed's last page, seq 1001 on)."""
    base = tmp_path_factory.mktemp("long")
    registry = make_registry(**builders.LOG_REGISTRY)
    certs = builders.roles(registry)
    builders.add_events(registry.db, registry.keys, certs["valid"], changefeed.PAGE_SIZE)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", str(SDE))
        publish.build(registry.db, base / "out", keys_dir=registry.keys, passphrase=builders.PASSPHRASE)
    return {"base": base, "db": registry.db, "keys": registry.keys, "out": base / "out", "certs": certs}


def _tampered_copy(long_history, tmp_path):
    """The output and a registry copy to attack: ``(out, db, published checkpoint)``."""
    out = copy_output(long_history, tmp_path)
    db = builders.copy_registry(long_history["db"], tmp_path / "tampered.db")
    return out, db, (out / "site" / "log" / "checkpoint").read_text()


def _rewrite_history(db, keys_dir, cert_no, seq, changes):
    """Alter event ``seq`` of ``cert_no`` and re-sign it and every later event of
    the certificate with the ``prev`` chain mended (an insider holding the
    body key): the registry validates, only the log can tell."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        later = [r[0] for r in conn.execute("select seq from events where cert_no = ? and seq > ? order by seq",
                                            [cert_no, seq])]
    builders.resign_event(db, keys_dir, seq, changes)
    for before, after in zip([seq, *later], later, strict=False):
        with contextlib.closing(sqlite3.connect(db)) as conn:
            key_id, payload, signature = conn.execute(
                "select key_id, payload, signature from events where seq = ?", [before]).fetchone()
        digest = canonical.envelope_digest(canonical.envelope(canonical.EVENT, payload, key_id, signature))
        builders.resign_event(db, keys_dir, after, {"prev": digest})


def _nothing_switched(out, link, checkpoint_text):
    assert os.readlink(out) == link
    assert (out / "site" / "log" / "checkpoint").read_text() == checkpoint_text
    assert publish_log.state_file_for(out).read_text() == checkpoint_text


def test_incremental_build_refuses_an_altered_event_of_a_changed_certificate(long_history, tmp_path,
                                                                               monkeypatch):
    """The incremental log step reads only the new events, but every older
    event it publishes again (here: the reinstated certificate's suspension,
    in its api/ file) must be the signed log's entry at its index."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(SDE))
    out, db, before = _tampered_copy(long_history, tmp_path)
    link = os.readlink(out)
    suspended = long_history["certs"]["suspended"]
    seq = log_site_event(db, suspended)
    assert seq <= changefeed.PAGE_SIZE  # on the feed's complete page: not rewritten by this build
    reg = Registry.open(db, long_history["keys"], builders.PASSPHRASE)
    reg.today_override = builders.TODAY
    with reg:
        reg.reinstate(suspended, "整改完成 corrected")
    _rewrite_history(db, long_history["keys"], suspended, seq, {"reason": "已更正 corrected"})
    with pytest.raises(LogForkError) as info:
        publish.build(db, out, keys_dir=long_history["keys"], passphrase=builders.PASSPHRASE)
    message = str(info.value)
    assert f"event seq {seq} is not the log's entry {seq - 1}" in message, message
    assert "observed entry SHA-256" in message and "refusing to sign a fork" in message
    _nothing_switched(out, link, before)


def test_a_build_taking_the_spare_refuses_an_altered_event_of_a_certificate_changed_since_the_spare(
        long_history, tmp_path, monkeypatch):
    """A build that takes the spare's pages and api/ files rewrites those of
    every certificate changed since the spare's state, not only since the
    current build (docs/publishing.md, "Incremental builds"): a certificate
    changed in the build before has its history published anew, from the
    registry's events, so those events too must be the signed log's entries."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(SDE))
    out, db, _ = _tampered_copy(long_history, tmp_path)
    suspended = long_history["certs"]["suspended"]
    seq = log_site_event(db, suspended)
    assert seq <= changefeed.PAGE_SIZE  # on the feed's complete page: not rewritten by the builds below
    reg = Registry.open(db, long_history["keys"], builders.PASSPHRASE)
    reg.today_override = builders.TODAY
    with reg:
        reg.reinstate(suspended, "整改完成 corrected")
    # Not the reinstatement last: the build's recorded last event stays the registry's.
    builders.add_events(db, long_history["keys"], long_history["certs"]["valid"], 1)
    summary = publish.build(db, out, keys_dir=long_history["keys"], passphrase=builders.PASSPHRASE)
    # It took the full build's copy of itself; the fixture's build is now the spare.
    assert summary["incremental"] and summary["api_from"] == "spare"
    link, published = os.readlink(out), (out / "site" / "log" / "checkpoint").read_text()
    # This build changes another certificate only; the reinstated one changed
    # since the spare. Its suspension is altered alone (the re-signed
    # reinstatement would sit on the feed's rewritten last page, which is
    # checked anyway): only the certificate's own files show it.
    builders.add_events(db, long_history["keys"], long_history["certs"]["valid"], 1)
    builders.resign_event(db, long_history["keys"], seq, {"reason": "已更正 corrected"})
    with pytest.raises(LogForkError) as info:
        publish.build(db, out, keys_dir=long_history["keys"], passphrase=builders.PASSPHRASE)
    message = str(info.value)
    assert f"event seq {seq} is not the log's entry {seq - 1}" in message, message
    _nothing_switched(out, link, published)


def test_incremental_build_refuses_a_removed_old_event(long_history, tmp_path, monkeypatch):
    """An event of an unchanged certificate deleted below the szzz commands: the
    count of events no longer equals the last seq, and nothing is signed."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(SDE))
    out, db, before = _tampered_copy(long_history, tmp_path)
    link = os.readlink(out)
    builders.add_events(db, long_history["keys"], long_history["certs"]["valid"], 1)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        first_of_revoked = conn.execute("select min(seq) from events where cert_no = ?",
                                        [long_history["certs"]["revoked"]]).fetchone()[0]
    builders.tamper(db, "delete from events where seq = ?", [first_of_revoked])
    with pytest.raises(LogForkError) as info:
        publish.build(db, out, keys_dir=long_history["keys"], passphrase=builders.PASSPHRASE)
    message = str(info.value)
    last = changefeed.PAGE_SIZE + 13  # LOG_REGISTRY's 12 events, 1,000 added, one more
    assert f"observed {last - 1} events with seq 1..{last}, expected {last}" in message, message
    assert "removed or inserted" in message and "refusing to sign a fork" in message
    _nothing_switched(out, link, before)


def test_incremental_build_refuses_a_previous_log_that_is_not_the_signed_one(long_history, tmp_path,
                                                                           monkeypatch):
    """The previous log's entries an incremental build compares with are first
    proved part of its signed tree: a damaged entry bundle is named as such."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(SDE))
    out, db, before = _tampered_copy(long_history, tmp_path)
    link = os.readlink(out)
    bundle = out / "site" / "log" / "tile" / "entries" / "000"
    data = bytearray(bundle.read_bytes())
    data[10] ^= 0x20
    bundle.unlink()  # a copy of the fixture's build; its own file, not a link shared with another
    bundle.write_bytes(bytes(data))
    builders.add_events(db, long_history["keys"], long_history["certs"]["valid"], 1)
    with pytest.raises(RegistryError) as info:
        publish.build(db, out, keys_dir=long_history["keys"], passphrase=builders.PASSPHRASE)
    assert "tile/entries/000 is not part of the signed tree of 1012 entries" in str(info.value), info.value
    _nothing_switched(out, link, before)


def test_an_altered_event_of_an_unchanged_certificate_is_refused_by_the_next_full_build(
        long_history, tmp_path, monkeypatch):
    """The incremental check covers what the build publishes: an event of a
    certificate it does not touch, altered and re-signed by an insider, is
    not read (nothing published derives from it: the certificate's api/ file
    stays the signed one); a full build reads every event and refuses."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(SDE))
    out, db, before = _tampered_copy(long_history, tmp_path)
    revoked = long_history["certs"]["revoked"]
    api_file = f"api/certificates/{revoked}.json"
    published = (out / "site" / api_file).read_bytes()
    seq = log_site_event(db, revoked)
    assert seq <= changefeed.PAGE_SIZE
    builders.add_events(db, long_history["keys"], long_history["certs"]["valid"], 1)
    builders.resign_event(db, long_history["keys"], seq, {"reason": "已更正 corrected"})
    summary = publish.build(db, out, keys_dir=long_history["keys"], passphrase=builders.PASSPHRASE)
    assert summary["incremental"] and (out / "site" / api_file).read_bytes() == published
    checkpoint_text = (out / "site" / "log" / "checkpoint").read_text()
    with pytest.raises(LogForkError) as info:
        publish.build(db, out, keys_dir=long_history["keys"], passphrase=builders.PASSPHRASE, full=True)
    assert "refusing to sign a fork" in str(info.value) and f"seq {seq}" in str(info.value)
    assert (out / "site" / "log" / "checkpoint").read_text() == checkpoint_text != before


def test_refresh_updates_only_the_cosignature(built, tmp_path, monkeypatch):
    out = copy_output(built, tmp_path)
    site = out / "site"
    before = tree_digest(site)
    old = (site / "log" / "checkpoint").read_text()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(SDE + 5 * builders.DAY))
    monkeypatch.setenv("SZZZ_PASSPHRASE", builders.PASSPHRASE.decode())
    from click.testing import CliRunner

    refresh = ["refresh", "--db", str(built["db"]), "--out", str(out), "--keys", str(built["keys"])]
    result = CliRunner().invoke(publish.cli, refresh)
    assert result.exit_code == 0, result.output
    new = (site / "log" / "checkpoint").read_text()
    after = tree_digest(site)
    assert {k for k in before if before[k] != after[k]} == {"log/checkpoint"}
    old_lines, new_lines = old.splitlines(), new.splitlines()
    # Same body, same log signature; only the timestamp key's line changed.
    assert old_lines[:5] == new_lines[:5] and len(new_lines) == len(old_lines)
    assert old_lines[5] != new_lines[5] and new_lines[5].startswith("— szzz.example.cn/timestamp ")
    assert publish_log.state_file_for(out).read_text() == new
    # A checkpoint that was stale by the old cosignature is fresh by the new one.
    now = SDE + 10 * builders.DAY
    assert audit.audit(site, root_key=built["root"], now=now).ok
    assert not audit.audit(built["site"], root_key=built["root"], now=now).ok
    # The log's time never goes backwards.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(SDE))
    back = CliRunner().invoke(publish.cli, refresh)
    assert back.exit_code != 0 and "backwards" in back.output


def test_refresh_refuses_a_log_that_lacks_registry_events(built, tmp_path, monkeypatch):
    """A fresh cosignature vouches that the log has not grown (it keeps older
    status statements current): refresh refuses when the registry has an event
    the published log lacks, e.g. a revocation whose rebuild failed, and when
    an event differs; the published checkpoint is left as it was."""
    from click.testing import CliRunner

    out = copy_output(built, tmp_path)
    checkpoint = (out / "site" / "log" / "checkpoint").read_text()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(SDE + 5 * builders.DAY))
    monkeypatch.setenv("SZZZ_PASSPHRASE", builders.PASSPHRASE.decode())
    size = int(checkpoint.splitlines()[1])  # C2SP checkpoint: origin, tree size, root

    grown = builders.copy_registry(built["db"], tmp_path / "grown.db")
    builders.add_events(grown, built["keys"], built["certs"]["valid"], 1)
    result = CliRunner().invoke(publish.cli, ["refresh", "--db", str(grown), "--out", str(out),
                                              "--keys", str(built["keys"])])
    assert result.exit_code != 0
    assert (f"the published log has {size} entries, the registry has {size + 1} events" in result.output
            and "rebuild" in result.output), result.output

    altered = builders.copy_registry(built["db"], tmp_path / "altered.db")
    builders.tamper(altered, "update events set signature = (case when substr(signature, 1, 1) = 'A' "
                             "then 'B' else 'A' end) || substr(signature, 2) where seq = 1")
    result = CliRunner().invoke(publish.cli, ["refresh", "--db", str(altered), "--out", str(out),
                                              "--keys", str(built["keys"])])
    assert result.exit_code != 0 and "the published checkpoint has" in result.output, result.output
    assert (out / "site" / "log" / "checkpoint").read_text() == checkpoint
    assert publish_log.state_file_for(out).read_text() == checkpoint


def test_incremental_log_equals_a_fresh_one_and_reuses_tiles(make_registry, tmp_path):
    """Growing past full tiles: reusing the previous tiles gives the bytes a fresh write gives."""
    registry = make_registry(**builders.LOG_REGISTRY)
    db, keys_dir, certs = registry.db, registry.keys, builders.roles(registry)
    state = tmp_path / "state" / "checkpoint"
    builders.add_events(db, keys_dir, certs["valid"], 290)
    first = builders.publish_api(db, keys_dir, tmp_path / "site1", state_file=state)
    builders.add_events(db, keys_dir, certs["valid"], 300)
    second = builders.publish_api(db, keys_dir, tmp_path / "site2", previous_site=tmp_path / "site1",
                                  state_file=state, timestamp=builders.NOW + 60)
    fresh = builders.publish_api(db, keys_dir, tmp_path / "site3", timestamp=builders.NOW + 60)
    assert 256 < first["size"] < 512 < second["size"] and second["reused"] > 0 and fresh["reused"] == 0
    # The tiles of the new size are a fresh write's; beside them stays the one
    # partial tile of the first size whose full tile does not exist yet
    # (tile/1/000.p/1: level 1 had 1 hash then, 2 now, 256 when full).
    incremental, fresh_log = tree_digest(tmp_path / "site2" / "log"), tree_digest(tmp_path / "site3" / "log")
    assert {k: v for k, v in incremental.items() if k != "tile/1/000.p/1"} == fresh_log
    assert incremental["tile/1/000.p/1"] == tree_digest(tmp_path / "site1" / "log")["tile/1/000.p/1"]
    # Partial tiles whose full tile now exists may go (C2SP tlog-tiles), and do.
    assert not any(".p/" in k and k.startswith(("tile/0/001.p", "tile/entries/001.p")) for k in incremental)


def _client_of(size: int, root: bytes, log_dir: Path) -> None:
    """What a client holding checkpoint (size, root) does against a log served
    from ``log_dir``: fetch exactly the tiles of ``size`` (C2SP tlog-tiles),
    recompute the root, prove the first and last entry included."""
    reader = tiles.TileHashReader(size, log_dir)
    assert reader.tree_hash() == root
    for i in (0, size - 1):
        merkle.verify_inclusion(i, size, merkle.leaf_hash(reader.entry(i)), reader.inclusion_proof(i), root)


def test_partial_tiles_of_every_checkpointed_size_stay_until_full(make_registry, tmp_path):
    """C2SP tlog-tiles: "Logs MUST serve partial tiles corresponding to tree sizes
    for which a checkpoint was produced, but MAY delete any partial tile once
    the corresponding full tile is either available". Three publishes inside
    one level-0 tile: a client holding the first or second checkpoint still
    finds its tiles in the third publish."""
    registry = make_registry(**builders.LOG_REGISTRY)
    db, keys_dir, certs = registry.db, registry.keys, builders.roles(registry)
    state = tmp_path / "state" / "checkpoint"
    sites, results = [], []
    for n in range(3):
        if n:
            builders.add_events(db, keys_dir, certs["valid"], 3)
        sites.append(tmp_path / f"site{n}")
        results.append(builders.publish_api(db, keys_dir, sites[-1], state_file=state,
                                            previous_site=sites[-2] if n else None,
                                            timestamp=builders.NOW + n))
    sizes = [r["size"] for r in results]
    assert sizes[0] < sizes[1] < sizes[2] < 256, sizes
    last_log = sites[-1] / "log"
    for site, result in zip(sites, results, strict=True):
        for t in tiles.tiles_for_size(result["size"]):
            paths = [t.path] + ([t.entries_path] if t.level == 0 else [])
            for rel in paths:
                assert (last_log / rel).read_bytes() == (site / "log" / rel).read_bytes(), rel
        _client_of(result["size"], bytes.fromhex(result["root"]), last_log)


def test_partial_tiles_of_a_signed_but_unpublished_checkpoint_are_served(make_registry, tmp_path):
    """A publish that failed after the log key signed (the state file holds its
    checkpoint, the output still the one before): that checkpoint was produced,
    so the next publish serves its partial tiles too, rebuilt from the new tiles."""
    registry = make_registry(**builders.LOG_REGISTRY)
    db, keys_dir, certs = registry.db, registry.keys, builders.roles(registry)
    state = tmp_path / "state" / "checkpoint"
    builders.publish_api(db, keys_dir, tmp_path / "site1", state_file=state)
    builders.add_events(db, keys_dir, certs["valid"], 2)
    failed = builders.publish_api(db, keys_dir, tmp_path / "failed", previous_site=tmp_path / "site1",
                                  state_file=state, timestamp=builders.NOW + 1)
    builders.add_events(db, keys_dir, certs["valid"], 2)
    builders.publish_api(db, keys_dir, tmp_path / "site3", previous_site=tmp_path / "site1",
                         state_file=state, timestamp=builders.NOW + 2)
    for t in tiles.tiles_for_size(failed["size"]):
        for rel in [t.path] + ([t.entries_path] if t.level == 0 else []):
            assert (tmp_path / "site3" / "log" / rel).read_bytes() == (tmp_path / "failed" / "log" / rel).read_bytes()
    _client_of(failed["size"], bytes.fromhex(failed["root"]), tmp_path / "site3" / "log")


def test_reused_tiles_are_checked_against_the_database(make_registry, tmp_path):
    registry = make_registry(**builders.LOG_REGISTRY)
    db, keys_dir = registry.db, registry.keys
    state = tmp_path / "state" / "checkpoint"
    builders.publish_api(db, keys_dir, tmp_path / "site1", state_file=state)
    bundle = next(p for p in (tmp_path / "site1" / "log" / "tile" / "entries").rglob("*") if p.is_file())
    data = bytearray(bundle.read_bytes())
    data[10] ^= 0x20
    bundle.write_bytes(bytes(data))
    with pytest.raises(RegistryError) as info:
        builders.publish_api(db, keys_dir, tmp_path / "site2", previous_site=tmp_path / "site1",
                             state_file=state)
    assert "differs from the database's events" in str(info.value)


def test_checkpoint_format_is_c2sp(built):
    text = (built["site"] / "log" / "checkpoint").read_text()
    env = json.loads((built["site"] / "api" / "trust-list.json").read_text())
    record = json.loads(env["payload"])
    names = checkpoint.names_for(origin="szzz.example.cn/log")
    checked = checkpoint.open_checkpoint(text, record, names)
    origin, size, _root, blank, log_line, ts_line = text.split("\n")[:6]
    assert (origin, int(size), blank) == ("szzz.example.cn/log", checked.size, "")
    assert log_line.startswith("— szzz.example.cn/log ") and ts_line.startswith("— szzz.example.cn/timestamp ")
    # Opened with the C2SP verifier keys derived from the trust list (vkey form works too).
    vkeys = [v.vkey for v in checkpoint.trust_verifiers(record, names)]
    opened = note.open_note(text, vkeys)
    assert {s.kind for s in opened.verified} == {"ed25519", "cosignature"}
    assert os.path.basename(publish_log.state_file_for(built["out"]).parent) == ".out.state"


def test_audit_names_a_page_that_shows_another_status(built, tmp_path):
    site = tmp_path / "site"
    shutil.copytree(built["site"], site)
    cert = built["certs"]["revoked"]
    page = site / "certificates" / cert / "index.html"
    html = page.read_text()
    assert "https://schema.org/CertificationInactive" in html
    page.write_text(html.replace("https://schema.org/CertificationInactive", "https://schema.org/CertificationActive"))
    report = audit.audit(site, root_key=built["root"], now=SDE + 3600)
    assert not report.ok
    text = "\n".join(str(f) for f in report.findings)
    assert f"certificates/{cert}/index.html: JSON-LD certificationStatus" in text and "(revoked)" in text


def test_cosignature_is_dated_when_it_is_signed_never_ahead(make_registry, tmp_path, monkeypatch):
    """C2SP tlog-cosignature: the timestamp is "the time at which the cosignature
    was generated" — the wall clock, or SOURCE_DATE_EPOCH for a reproducible
    build, and never the future (it used to carry the end of the latest
    event's day in Suzhou, hours ahead when that day was today)."""
    registry = make_registry(**builders.LOG_REGISTRY)
    log_signer, ts_signer = builders.signers(registry.db, registry.keys)
    db = schema.connect(registry.db)
    try:
        monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
        before = int(time.time())
        signed = publish_log.publish_log(db, tmp_path / "a", log_signer, ts_signer)["timestamp"]
        assert before <= signed <= int(time.time())
        monkeypatch.setenv("SOURCE_DATE_EPOCH", str(builders.NOW))
        assert publish_log.publish_log(db, tmp_path / "b", log_signer, ts_signer)["timestamp"] == builders.NOW
        monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(time.time()) + 3600))
        with pytest.raises(ConfigError, match="after the wall clock"):
            publish_log.publish_log(db, tmp_path / "c", log_signer, ts_signer)
        assert not (tmp_path / "c").exists()
    finally:
        db.conn.close()
