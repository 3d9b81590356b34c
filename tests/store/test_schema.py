"""The store's migrations: sqlite-utils' table changes run inside the
migration's own transaction, so a migration is applied whole or not at all
(docs/design.md, "Transactions")."""

import sqlite3

import pytest

from registry.store import schema


def columns(path, table):
    conn = sqlite3.connect(path)
    try:
        return [r[1] for r in conn.execute(f"pragma table_info({table})")]
    finally:
        conn.close()


def version(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute("select value from meta where key = 'schema_version'").fetchone()[0]
    finally:
        conn.close()


def _add_cnas_no(db):
    db.table("bodies").add_column("cnas_no", str)
    db.table("bodies").transform(column_order=("code", "cnas_no"))


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "r.db"
    schema.connect(path, create=True).conn.close()
    before = columns(path, "bodies")

    def broken(db):
        _add_cnas_no(db)
        raise sqlite3.IntegrityError("the second half of the migration failed")

    current = schema.SCHEMA_VERSION
    monkeypatch.setattr(schema, "SCHEMA_VERSION", current + 1)
    monkeypatch.setitem(schema.MIGRATIONS, current + 1, broken)
    with pytest.raises(sqlite3.IntegrityError):
        schema.connect(path)
    assert columns(path, "bodies") == before
    assert version(path) == str(current)


def test_a_migration_with_transform_is_applied_once(tmp_path, monkeypatch):
    path = tmp_path / "r.db"
    schema.connect(path, create=True).conn.close()
    following = schema.SCHEMA_VERSION + 1
    monkeypatch.setattr(schema, "SCHEMA_VERSION", following)
    monkeypatch.setitem(schema.MIGRATIONS, following, _add_cnas_no)
    schema.connect(path).conn.close()
    assert columns(path, "bodies")[:2] == ["code", "cnas_no"]
    assert version(path) == str(following)
    schema.connect(path).conn.close()           # already at that version: nothing runs again
    assert version(path) == str(following)


def test_a_version_1_registry_gets_the_row_journal_and_it_records_every_write(tmp_path, monkeypatch):
    """Schema 2: products and enterprises written without an event (an operator
    corrects a name, even with sqlite3 below szzz) are journaled by triggers,
    which is how an incremental build knows which pages they feed."""
    path = tmp_path / "r.db"
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 1)
    db = schema.connect(path, create=True)
    with schema.write_transaction(db):
        db["enterprises"].insert({"uscc": "91320500MA1XXXXXX1", "name_zh": "苏州甲有限公司",
                                  "district": "320505", "industry": "C17"})
        db["products"].insert({"id": 7, "enterprise": "91320500MA1XXXXXX1", "name_zh": "围巾"})
    db.conn.close()
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 2)
    schema.connect(path).conn.close()  # any writable open migrates
    assert version(path) == "2"
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("select count(*) from row_changes").fetchone()[0] == 0
        conn.execute("update products set name_zh = '丝巾' where id = 7")
        conn.execute("insert into enterprises (uscc, name_zh, district, industry) "
                     "values ('91320500MA1XXXXXX2', '苏州乙有限公司', '320505', 'C17')")
        conn.execute("update enterprises set uscc = '91320500MA1XXXXXX3' where uscc = '91320500MA1XXXXXX2'")
        conn.execute("delete from products where id = 7")
        conn.commit()
        journal = conn.execute("select tbl, key, op from row_changes order by id").fetchall()
    finally:
        conn.close()
    assert journal == [("products", 7, "update"),
                       ("enterprises", "91320500MA1XXXXXX2", "insert"),
                       ("enterprises", "91320500MA1XXXXXX3", "update"),
                       ("enterprises", "91320500MA1XXXXXX2", "delete"),
                       ("products", 7, "delete")]
    assert "row_changes" in schema.OPERATOR_ONLY_TABLES
