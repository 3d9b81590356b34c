"""``site/downloads/``: an incremental build's CSVs are the previous build's bytes
with only the changed rows rewritten, and equal a full write byte for byte."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3

import builders
import pytest

from registry.publish import downloads


@pytest.fixture(scope="module")
def public(make_registry, tmp_path_factory):
    built = make_registry(certificates=6, products=7)
    path = tmp_path_factory.mktemp("public") / "data" / "registry.db"
    path.parent.mkdir()
    return builders.export_public(built.db, path)


def write(public_db, where, **kwargs):
    out, index = where / "downloads", where / downloads.INDEX_DIR
    downloads.write_downloads(public_db, out, index, **kwargs)
    return out, index


def copy_row(conn, table, key, old, new):
    conn.execute(f"create temp table row as select * from {table} where {key} = ?", [old])
    conn.execute(f"update row set {key} = ?", [new])
    conn.execute(f"insert into {table} select * from row")
    conn.execute("drop table row")


def test_changed_rows_spliced_equal_a_full_write(public, tmp_path):
    previous = write(public, tmp_path / "previous")
    changed = tmp_path / "data" / "registry.db"
    changed.parent.mkdir()
    shutil.copyfile(public, changed)
    conn = sqlite3.connect(changed)
    certs = [r[0] for r in conn.execute("select cert_no from certificates order by cert_no")]
    seq = conn.execute("select max(seq) from events").fetchone()[0]
    first_product = conn.execute("select min(id) from products").fetchone()[0]
    # A row rewritten with a cell that holds a line break (one row, two lines of
    # text), a row that sorts in the middle, one at the end, one removed, a new
    # event appended and a product made a formula.
    conn.execute("update certificates set status = 'revoked', product_name_zh = '数控\r\n机床' where cert_no = ?",
                 [certs[2]])
    for new in (certs[0] + "A", "ZZZZ-9999"):
        copy_row(conn, "certificates", "cert_no", certs[0], new)
    conn.execute("delete from certificates where cert_no = ?", [certs[4]])
    copy_row(conn, "events", "seq", seq, seq + 1)
    conn.execute("update products set name_zh = '=1+1' where id = ?", [first_product])
    conn.commit()
    conn.close()
    rows = {"certificates": [certs[2], certs[0] + "A", "ZZZZ-9999", certs[4]], "events": [seq + 1],
            "products": [first_product], "enterprises": []}
    incremental = write(changed, tmp_path / "incremental", previous=previous, rows=rows)
    full = write(changed, tmp_path / "full")
    for name in downloads.CSV_DOWNLOADS:
        assert (incremental[0] / name).read_bytes() == (full[0] / name).read_bytes(), name
        index_name = f"{name}.json"
        assert json.loads((incremental[1] / index_name).read_text()) == json.loads((full[1] / index_name).read_text())
    data = (full[0] / "certificates.csv").read_bytes()
    assert "数控\r\n机床".encode() in data and certs[4].encode() not in data and data.count(b"ZZZZ-9999") == 1
    assert b"'=1+1" in (full[0] / "products.csv").read_bytes()  # still made safe to open
    # A CSV none of whose rows changed is the previous build's file, not a copy.
    assert os.stat(incremental[0] / "enterprises.csv").st_ino == os.stat(previous[0] / "enterprises.csv").st_ino
    assert os.stat(incremental[0] / "registry.db").st_ino == os.stat(changed).st_ino
