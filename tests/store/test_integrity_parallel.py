"""Validation on every core finds exactly what the one-process check finds.

publish.py validates the registry before building; ``integrity.verify_registry``
runs its signature checks on a process pool when there are many of them
(``PARALLEL_MIN``). A small tampered registry is checked both ways: the
parallel path must report every problem, in the same order, with the same text.
"""

import sqlite3

import pytest
from builders import copy_registry

from registry.store import integrity, schema


@pytest.fixture(scope="module")
def tampered(make_registry):
    built = make_registry(demo=12)
    db = built.db
    bad = copy_registry(db, built.base / "tampered.db")
    conn = sqlite3.connect(bad)
    # An attacker with the file drops the append-only triggers first.
    for (name,) in conn.execute("select name from sqlite_master where type = 'trigger'").fetchall():
        conn.execute(f"drop trigger {name}")
    # A forged event signature, a revision record edited after signing, a mark
    # payload with one digit changed, a cached status that events do not give.
    conn.execute("update events set signature = substr(signature, 2) || 'A' where seq = 3")
    rev = conn.execute("select cert_no, revision from certificate_revisions "
                       "order by cert_no limit 1 offset 4").fetchone()
    conn.execute("update certificate_revisions set record = replace(record, '\"revision\"', "
                 "'\"revision\" ') where cert_no = ? and revision = ?", rev)
    cert = conn.execute("select cert_no, mark_payload from certificate_revisions "
                        "where mark_payload is not null order by cert_no limit 1 offset 7").fetchone()
    digits = cert[1][:-1] + ("1" if cert[1][-1] != "1" else "2")
    conn.execute("update certificate_revisions set mark_payload = ? where cert_no = ?",
                 [digits, cert[0]])
    conn.execute("update certificates set status = 'revoked' where cert_no = "
                 "(select cert_no from certificates where status = 'valid' order by cert_no limit 1)")
    conn.commit()
    conn.close()
    return db, bad


def problems(path, monkeypatch, parallel_min):
    monkeypatch.setattr(integrity, "PARALLEL_MIN", parallel_min)
    db = schema.connect(path)
    try:
        return integrity.verify_registry(db)
    finally:
        db.conn.close()


def test_parallel_and_serial_agree_on_a_sound_registry(tampered, monkeypatch):
    sound, _bad = tampered
    assert problems(sound, monkeypatch, 1) == [] == problems(sound, monkeypatch, 10**9)


def test_parallel_finds_every_problem_the_serial_check_finds(tampered, monkeypatch):
    _sound, bad = tampered
    serial = problems(bad, monkeypatch, 10**9)
    parallel = problems(bad, monkeypatch, 1)
    assert parallel == serial
    text = "\n".join(parallel)
    assert "event 3:" in text and "does not verify" in text
    assert "mark payload" in text
    assert "cached status revoked" in text
    assert len(parallel) >= 4
