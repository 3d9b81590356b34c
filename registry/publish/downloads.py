"""The site's downloads: CSV files for spreadsheets, and the public database.

``site/downloads/`` holds one CSV per public table people read in a
spreadsheet (:data:`CSV_DOWNLOADS`: UTF-8 with BOM, CRLF, every cell safe to
open; :func:`registry.publish.export.csv_bom`) and ``registry.db``, the
public database itself (a second name of the build's ``data/registry.db``).

A full build writes every CSV from the public database. An incremental build
(docs/publishing.md, "Incremental builds") rewrites only the rows whose keys
changed — the public database's half of the dependency map,
:func:`registry.publish.dbdelta.changed_rows` — and copies every other row's
bytes from the previous build's file, so a revocation costs a few rows and
one copy of each file, not a CSV encoding of the registry. What it writes is
byte for byte what a full build writes: each CSV's rows are sorted by their
key (the first column), and a row's text depends on that row alone.

To find a row's bytes without parsing the CSV (a cell may hold line breaks),
each build records, beside its site (never deployed), every CSV's keys and
row offsets: ``<build>/.downloads-index/<name>.json``.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
from pathlib import Path

from registry.core import fs
from registry.publish import export

INDEX_DIR = ".downloads-index"

#: name -> (public table, key column as the SELECT names it, the SELECT without
#: its WHERE and ORDER BY). The key is the first column: rows are in key order.
#: Columns people read in a spreadsheet; the signed JSON stays in the
#: database and api/.
CSV_DOWNLOADS = {
    "certificates.csv": ("certificates", "cert_no", (
        "select cert_no, status, status_zh, status_date, programme, programme_name_zh, "
        "body, body_name_zh, product, product_name_zh, product_name_en, enterprise, "
        "enterprise_name_zh, enterprise_name_en, district, industry, industry_name_zh, "
        "scope, issued, year_issued, expires, revision, key_id, digest "
        "from certificates")),
    "events.csv": ("events", "e.seq", (
        "select e.seq, e.date, e.type, t.name_zh as type_zh, e.cert_no, e.subject, e.actor, "
        "e.reason, e.notice, e.key_id from events e left join event_types t on t.type = e.type")),
    "enterprises.csv": ("enterprises", "uscc", (
        "select uscc, name_zh, name_en, district, industry, tier, website from enterprises")),
    "products.csv": ("products", "id", (
        "select id, enterprise, name_zh, name_en, models, gtin, category, description from products")),
    "notices.csv": ("notices", "id", (
        "select id, date, kind, title_zh, title_en, text_zh, text_en, cert_no, body, event_seq "
        "from notices")),
}


def csv_sql(name: str, *, some: bool = False) -> str:
    """The query of download ``name``: every row, or (``some``) the rows whose
    key is in the JSON array given as its one parameter."""
    _table, key, select = CSV_DOWNLOADS[name]
    where = f" where {key} in (select value from json_each(?))" if some else ""
    return f"{select}{where} order by {key}"


def _full(conn, name: str) -> tuple[bytes, dict]:
    cur = conn.execute(csv_sql(name))
    header = [d[0] for d in cur.description]
    rows = cur.fetchall()
    lines = export.csv_lines(header, rows)
    data = (export.BOM + "".join(lines)).encode("utf-8")
    offsets, at = [], len((export.BOM + lines[0]).encode("utf-8"))
    for line in lines[1:]:
        offsets.append(at)
        at += len(line.encode("utf-8"))
    offsets.append(at)
    return data, {"keys": [row[0] for row in rows], "offsets": offsets}


def _spliced(conn, name: str, previous: bytes, index: dict, keys: list) -> tuple[bytes, dict]:
    """``previous`` (download ``name`` of the previous build, with its
    ``index``) with the rows of ``keys`` taken from ``conn``: rewritten,
    inserted in key order, or dropped when the table no longer has them."""
    cur = conn.execute(csv_sql(name, some=True), [json.dumps(keys)])
    header = [d[0] for d in cur.description]
    rows = cur.fetchall()
    lines = export.csv_lines(header, rows)[1:]
    fresh = {row[0]: line.encode("utf-8") for row, line in zip(rows, lines, strict=True)}
    old_keys, old_offsets = index["keys"], index["offsets"]
    start = old_offsets[0]  # the end of the header (offsets: one per row, then the file's end)
    parts, new_keys, new_offsets = [previous[:start]], [], list[int]()
    at, done = start, 0  # bytes written so far; old rows [0, done) are handled

    def copy_old(upto: int) -> None:
        nonlocal at, done
        if upto > done:
            parts.append(previous[old_offsets[done]:old_offsets[upto]])
            shift = at - old_offsets[done]
            new_keys.extend(old_keys[done:upto])
            new_offsets.extend(o + shift for o in old_offsets[done:upto])
            at += old_offsets[upto] - old_offsets[done]
            done = upto

    for key in sorted(set(keys)):
        i = bisect.bisect_left(old_keys, key)
        copy_old(i)
        if i < len(old_keys) and old_keys[i] == key:
            done = i + 1  # the old row is replaced or dropped
        if key in fresh:
            parts.append(fresh[key])
            new_keys.append(key)
            new_offsets.append(at)
            at += len(fresh[key])
    copy_old(len(old_keys))
    new_offsets.append(at)
    return b"".join(parts), {"keys": new_keys, "offsets": new_offsets}


def write_downloads(public_db_path, out_dir, index_dir, *, previous=None, rows=None) -> list:
    """Write :data:`CSV_DOWNLOADS` and the public database (a hard link to it)
    into ``out_dir``, and each CSV's row index into ``index_dir``.

    With ``previous`` (``(downloads dir, index dir)`` of the build this one
    updates) and ``rows`` (:func:`registry.publish.dbdelta.changed_rows`),
    only the changed rows are read and encoded; a CSV with none is the
    previous build's file, linked.
    """
    out_dir, index_dir = Path(out_dir), Path(index_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    index_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(f"file:{Path(public_db_path).resolve()}?mode=ro", uri=True)
    written = []
    try:
        for name, (table, _key, _select) in CSV_DOWNLOADS.items():
            index_name = f"{name}.json"
            keys = None if previous is None or rows is None else rows.get(table, [])
            if keys is not None and not keys:
                fs.link_files(previous[0], out_dir, [(name, name)])
                fs.link_files(previous[1], index_dir, [(index_name, index_name)])
            else:
                if keys is None:
                    data, index = _full(conn, name)
                else:
                    old_index = json.loads((Path(previous[1]) / index_name).read_text(encoding="utf-8"))
                    data, index = _spliced(conn, name, (Path(previous[0]) / name).read_bytes(), old_index, keys)
                (out_dir / name).write_bytes(data)
                (index_dir / index_name).write_text(json.dumps(index, separators=(",", ":")), encoding="utf-8")
            written.append(name)
    finally:
        conn.close()
    # The same file as the build's data/registry.db: a second name, not a
    # second copy (neither is ever written again; the next build copies it).
    (out_dir / "registry.db").unlink(missing_ok=True)
    public_db_path = Path(public_db_path)
    fs.link_files(public_db_path.parent, out_dir, [(public_db_path.name, "registry.db")])
    written.append("registry.db")
    return written
