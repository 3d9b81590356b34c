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

    monkeypatch.setattr(schema, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(schema.MIGRATIONS, 2, broken)
    with pytest.raises(sqlite3.IntegrityError):
        schema.connect(path)
    assert columns(path, "bodies") == before
    assert version(path) == "1"


def test_a_migration_with_transform_is_applied_once(tmp_path, monkeypatch):
    path = tmp_path / "r.db"
    schema.connect(path, create=True).conn.close()
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(schema.MIGRATIONS, 2, _add_cnas_no)
    schema.connect(path).conn.close()
    assert columns(path, "bodies")[:2] == ["code", "cnas_no"]
    assert version(path) == "2"
    schema.connect(path).conn.close()           # already at version 2: nothing runs again
    assert version(path) == "2"
