"""A damaged registry file is refused before anything is written (issue 10).

Every write transaction first runs ``PRAGMA quick_check`` on the file
(``schema.check_intact``, read ahead sequentially first); so does ``szzz
check``. The damage is real: 8 KiB of random bytes written over the middle
(or elsewhere) of a real registry file, a truncated file. Each act an
operator can do is tried on the damaged file and must leave it byte for byte
as it was.
"""

import hashlib
import shutil
import sqlite3

import pytest
import sqlite_utils
from builders import EVALUATION, GENERAL, PORTAL_REGISTRY, damage, make_uscc

from registry.core.exceptions import SchemaError
from registry.store import importer, schema
from registry.store.integrity import verify_registry


@pytest.fixture
def registry(make_registry):
    return make_registry(**PORTAL_REGISTRY)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check(path):
    """check_intact on a plain connection (connect() itself may refuse a file damaged where the schema is)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        schema.check_intact(sqlite_utils.Database(conn))
    finally:
        conn.close()


@pytest.mark.parametrize("at", [0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.99])
def test_quick_check_finds_8_kib_of_random_bytes_anywhere_in_the_file(registry, tmp_path, at):
    conn = sqlite3.connect(registry.db)
    # A free page holds nothing, so damage there harms nothing and is not found:
    # this registry has none, so every page hit is one that holds data.
    assert conn.execute("pragma freelist_count").fetchone()[0] == 0
    conn.close()
    path = tmp_path / "damaged.db"
    shutil.copyfile(registry.db, path)
    check(path)  # the intact copy passes
    damage(path, at=at, seed=int(at * 100))
    with pytest.raises(SchemaError, match=r"damaged\.db: the registry database is damaged \(SQLite "
                                          r"quick_check: observed '.+', expected 'ok'\)"):
        check(path)


def test_quick_check_finds_a_truncated_file(registry, tmp_path):
    path = tmp_path / "truncated.db"
    data = registry.db.read_bytes()
    path.write_bytes(data[:len(data) * 2 // 3])
    with pytest.raises(SchemaError, match="damaged"):
        check(path)


def _revoke(reg, built):
    reg.revoke(built.valid[0], "监督抽查不合格")


def _issue(reg, built):
    product = reg.db.execute("select id from products where id not in (select product from certificates "
                             "where status in ('valid', 'suspended')) order by id").fetchone()[0]
    reg.issue(product=product, body="CQC", standards=[GENERAL], scope="数控机床的设计和制造",
              expires="2027-02-28", evaluation=EVALUATION)


def _import(reg, built):
    csv = built.base / "enterprises.csv"
    csv.write_text(f"uscc,name_zh,district,industry\n{make_uscc(990)},苏州损坏测试有限公司,吴中区,C3421\n",
                   encoding="utf-8")
    importer.import_file(reg, "enterprises", csv)


def _add_body(reg, built):
    reg.add_body({"code": "DMG", "name_zh": "损坏测试认证", "name_en": "Damage test",
                  "approval_no": "CNCA-R-2099-001", "joined": "2024-01-01"})


def _generate_key(reg, built):
    reg.generate_key("body", body="CQC")


def _suspend_in_a_batch(reg, built):
    with reg.batch():
        reg.suspend(built.valid[0], "监督审核未通过")


@pytest.mark.parametrize("act", [_revoke, _issue, _import, _add_body, _generate_key, _suspend_in_a_batch])
def test_no_write_into_a_damaged_registry(registry, act):
    damage(registry.db, at=0.5)
    before = digest(registry.db)
    key_files = sorted(registry.keys.iterdir())
    with registry.open() as reg:
        with pytest.raises(SchemaError, match=r"registry\.db: the registry database is damaged .*; "
                                              r"nothing was written: restore it from a backup"):
            act(reg, registry)
        assert not reg.db.conn.in_transaction  # rolled back: the connection is usable, holds no lock
    assert digest(registry.db) == before
    assert sorted(registry.keys.iterdir()) == key_files  # no key file for a key never recorded


def test_the_same_acts_pass_on_the_intact_registry(registry):
    """The check refuses damage, not registries: every act above works on the undamaged copy."""
    with registry.open() as reg:
        _suspend_in_a_batch(reg, registry)
        _issue(reg, registry)
        _import(reg, registry)
        _add_body(reg, registry)
        _generate_key(reg, registry)
        reg.revoke(registry.valid[1], "监督抽查不合格")
        assert verify_registry(reg.db) == []


def test_check_reports_the_damage_first(registry):
    damage(registry.db, at=0.5)
    db = schema.connect(registry.db)
    try:
        problems = verify_registry(db)
    finally:
        db.conn.close()
    assert len(problems) == 1
    assert "registry.db: the registry database is damaged" in problems[0]
    assert "nothing else was checked" in problems[0]

