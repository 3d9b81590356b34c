"""Validation of an incremental build: what changed since the previous build.

``integrity.verify_registry(db, since=(seq, certificates))`` checks the events
after ``seq`` and each of their certificates whole (revisions, every event,
cached status); a problem there is found exactly as the whole-registry check
finds it.
"""

import sqlite3

import pytest
from builders import PASSPHRASE, copy_registry, tamper

from registry.publish import incremental
from registry.store import integrity, schema
from registry.store.operations import Registry


@pytest.fixture(scope="module")
def grown(make_registry):
    """A registry, the last seq of its first state, and one revocation after it."""
    built = make_registry(demo=12)
    conn = schema.connect(built.db)
    since = conn.execute("select max(seq) from events").fetchone()[0]
    cert_no = conn.execute("select cert_no from certificates where status = 'valid' order by cert_no").fetchone()[0]
    conn.conn.close()
    reg = Registry.open(built.db, built.keys, PASSPHRASE)
    try:
        reg.revoke(cert_no, "抽查不合格")
    finally:
        reg.close()
    return built, since, cert_no


def check(path, since):
    db = schema.connect(path, readonly=True)
    try:
        scope = (since, incremental.changed_certificates(db, since)) if since is not None else None
        return integrity.verify_registry(db, since=scope)
    finally:
        db.conn.close()


def test_a_sound_change_passes_and_names_only_its_certificate(grown):
    built, since, cert_no = grown
    db = schema.connect(built.db, readonly=True)
    assert incremental.changed_certificates(db, since) == [cert_no]
    db.conn.close()
    assert check(built.db, since) == [] == check(built.db, None)


@pytest.mark.parametrize("attack", ["new event", "old event of the changed certificate", "revision",
                                    "cached status", "gap"])
def test_a_problem_in_what_changed_is_found_as_the_whole_check_finds_it(grown, tmp_path, attack):
    built, since, cert_no = grown
    bad = copy_registry(built.db, tmp_path / "bad.db")
    first = sqlite3.connect(bad).execute("select min(seq) from events where cert_no = ?", [cert_no]).fetchone()[0]
    if attack == "new event":
        tamper(bad, "update events set signature = substr(signature, 2) || 'A' where seq = ?", [since + 1])
    elif attack == "old event of the changed certificate":
        tamper(bad, "update events set signature = substr(signature, 2) || 'A' where seq = ?", [first])
    elif attack == "revision":
        tamper(bad, "update certificate_revisions set record = replace(record, '\"revision\"', '\"revision\" ') "
                    "where cert_no = ?", [cert_no])
    elif attack == "cached status":
        tamper(bad, "update certificates set status = 'valid' where cert_no = ?", [cert_no])
    else:  # the new event moved on: seq since + 1 is missing
        tamper(bad, "update events set seq = seq + 1 where seq = ?", [since + 1])
    scoped, whole = check(bad, since), check(bad, None)
    assert scoped, attack
    assert set(scoped) <= set(whole), (scoped, whole)
