"""The content of a public database (``registry.publish.dbrows.content_digest``):
the equality an incremental build and the live database are held to
(docs/publishing.md, "Incremental builds"). It must see every difference a
reader of the rows can see, and none of the page layout they cannot."""

import shutil
import sqlite3
import subprocess
import sys

import builders
import pytest

import publish
from registry.publish import dbrows, export


@pytest.fixture(scope="module")
def public(make_registry, tmp_path_factory):
    built = make_registry(certificates=3)
    return builders.export_public(built.db, tmp_path_factory.mktemp("public") / "registry.db")


def changed_copy(public, tmp_path, sql):
    copy = tmp_path / "copy.db"
    shutil.copyfile(public, copy)
    conn = sqlite3.connect(copy)
    conn.execute(sql)
    conn.commit()
    conn.close()
    return copy


def test_same_rows_in_another_layout_are_the_same_content(public, tmp_path):
    """A certificate row moved to a new rowid, with its search row: other bytes, same content."""
    copy = tmp_path / "copy.db"
    shutil.copyfile(public, copy)
    conn = sqlite3.connect(copy)
    export.fts_function(conn)
    cert_no, rowid = conn.execute("select cert_no, rowid from certificates order by cert_no").fetchone()
    conn.execute("delete from certificates_fts where rowid = ?", [rowid])
    conn.execute("create temp table moved as select * from certificates where cert_no = ?", [cert_no])
    conn.execute("delete from certificates where cert_no = ?", [cert_no])
    conn.execute("insert into certificates select * from temp.moved")
    conn.execute(export.fts_insert_sql("certificates", "m.cert_no = ?"), [cert_no])
    conn.commit()
    moved = conn.execute("select rowid from certificates where cert_no = ?", [cert_no]).fetchone()[0]
    conn.close()
    assert moved != rowid and copy.read_bytes() != public.read_bytes()
    assert dbrows.content_digest(copy) == dbrows.content_digest(public)


@pytest.mark.parametrize("change", [
    "update certificates set status_zh = '撤销' where rowid = 1",
    "update events set reason = 'x' where seq = 1",
    "delete from certificate_standards where rowid = 1",
    "insert into meta values ('extra', '1')",
    "update certificates_fts set text = 'x' where rowid = 1",
    "delete from enterprises_fts where rowid = 1",
    "insert into products_fts (rowid, text, id) values (999999, 'x', 999999)",
    "drop index idx_certificates_issued",
])
def test_every_difference_a_reader_can_see_changes_the_content(public, tmp_path, change):
    assert dbrows.content_digest(changed_copy(public, tmp_path, change)) != dbrows.content_digest(public)


def test_db_digest_command(public, tmp_path):
    """``publish.py db-digest``: one line per file; a file that is no database is one error line, exit 1."""
    copy = tmp_path / "copy.db"
    shutil.copyfile(public, copy)
    run = subprocess.run([sys.executable, str(publish.ROOT / "publish.py"), "db-digest", str(public), str(copy)],
                         check=False, capture_output=True, text=True, cwd=publish.ROOT)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [dbrows.content_digest(public)] * 2
    (tmp_path / "not.db").write_text("hello")
    run = subprocess.run([sys.executable, str(publish.ROOT / "publish.py"), "db-digest", str(tmp_path / "not.db")],
                         check=False, capture_output=True, text=True, cwd=publish.ROOT)
    assert run.returncode == 1 and run.stderr.count("\n") == 1 and "not.db" in run.stderr
