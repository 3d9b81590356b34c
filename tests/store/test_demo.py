"""The demo registry: deterministic, realistic, sound, and free of private keys."""

import base64
import sqlite3

import pytest
from cryptography.hazmat.primitives import serialization
from stdnum import ean
from stdnum.cn import uscc

from registry.core import reference
from registry.store import demo, schema
from registry.store.integrity import verify_registry

TODAY = "2025-06-01"
N = 200


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    summary = demo.build(tmp / "r.db", tmp / "keys", certificates=N, seed=7, today=TODAY)
    return tmp, summary


def _content(path):
    db = schema.connect(path)
    return {
        "events": db.execute(
            "select seq, type, cert_no, date, actor, reason, notice from events "
            "where type not like 'key%' order by seq").fetchall(),
        "certs": db.execute("select cert_no, product, status, status_date, scope, issued, "
                            "expires, revision, evaluation from certificates order by cert_no")
        .fetchall(),
        "enterprises": db.execute("select * from enterprises order by uscc").fetchall(),
        "products": db.execute("select * from products order by id").fetchall(),
        "notices": db.execute("select id, date, kind, title_zh, text_zh, cert_no from notices")
        .fetchall(),
    }


def test_demo_is_realistic_and_sound(built):
    tmp, summary = built
    assert summary["certificates"] == N and summary["bodies"] == 8
    assert summary["standards"] == 25 and summary["enterprises"] == 300
    db = schema.connect(tmp / "r.db")
    assert verify_registry(db) == []
    types = dict(db.execute("select type, count(*) from events group by type").fetchall())
    for t in ("issued", "surveillance_passed", "suspended", "reinstated", "revoked",
              "renewed", "expired", "key_retired", "notice_published"):
        assert types.get(t, 0) > 0, f"demo history has no {t} event: {types}"
    assert set(summary["by_status"]) >= {"valid", "expired", "revoked"}
    programmes = dict(db.execute("select programme, count(*) from certificates group by 1"))
    assert programmes["SZZZ"] > N // 2 and len(programmes) == 4
    districts = {r[0] for r in db.execute("select district from enterprises")}
    assert districts == set(reference.DISTRICTS)
    assert all(uscc.is_valid(r[0]) for r in db.execute("select uscc from enterprises"))
    gtins = [r[0] for r in db.execute("select gtin from products where gtin is not null")]
    assert gtins and all(ean.is_valid(g) for g in gtins)
    kinds = {r[0] for r in db.execute("select kind from notices")}
    assert "counterfeit_alert" in kinds
    assert db.execute("select count(*) from applications where status in "
                      "('received', 'under_evaluation')").fetchone()[0] >= 2
    assert "demo data" in schema.get_meta(db, "demo")
    assert db.execute("select max(date) from events").fetchone()[0] <= TODAY


def test_same_seed_and_today_give_the_same_registry(built, tmp_path):
    tmp, _ = built
    demo.build(tmp_path / "again.db", tmp_path / "keys", certificates=N, seed=7, today=TODAY)
    assert _content(tmp_path / "again.db") == _content(tmp / "r.db")


def test_no_private_key_bytes_anywhere_in_the_database(built):
    tmp, _ = built
    secrets = []
    for pem in sorted((tmp / "keys").glob("*.pem")):
        key = serialization.load_pem_private_key(pem.read_bytes(),
                                                 password=demo.DEMO_PASSPHRASE.encode())
        raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        for blob in (raw, der):
            secrets += [blob, blob.hex().encode(), blob.hex().upper().encode(),
                        base64.b64encode(blob).rstrip(b"="),
                        base64.urlsafe_b64encode(blob).rstrip(b"=")]
    assert len(secrets) == 12 * 10  # 12 keys: root, log, timestamp, 8 bodies + 1 rollover
    secrets.append(b"PRIVATE KEY")
    # Every cell of every table, as text and as bytes.
    conn = sqlite3.connect(tmp / "r.db")
    tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
    cells = 0
    for table in tables:
        for row in conn.execute(f"select * from [{table}]"):
            for cell in row:
                cells += 1
                data = cell if isinstance(cell, bytes) else str(cell).encode("utf-8")
                for secret in secrets:
                    assert secret not in data, f"private key material in table {table}"
    conn.close()
    assert cells > 10000
    # And the raw database files (pages, free pages, WAL).
    for path in tmp.glob("r.db*"):
        data = path.read_bytes()
        for secret in secrets:
            assert secret not in data, f"private key material in {path.name}"
