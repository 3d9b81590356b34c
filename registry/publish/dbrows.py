"""The public database as rows: what two copies must share, and how one is brought to another.

A public database (:mod:`registry.publish.export`) is published for what a
reader can ask of it — its schema and its rows — not for its pages. Two
writers change one in place after its export, both through
:func:`sync_table`: the incremental build (:mod:`registry.publish.dbdelta`:
the previous build's file, copied, with the changed rows rewritten) and the
live database Datasette serves (:mod:`registry.publish.livedb`). Both must
then hold what a full export of the same registry holds: the same
**content** (:func:`content_lines`), which is

* the schema: every object of ``sqlite_master`` (tables, columns, indexes,
  full-text tables);
* every row of every ordinary table, in primary-key order;
* for each full-text table ``<table>_fts``, the index row of each row of
  ``<table>`` (joined as Datasette joins them, by rowid), in the table's
  primary-key order, and the number of index rows that belong to no row.

Not content, and free to differ: the page layout and free pages of the file,
the implicit rowids of tables whose primary key is not an ``INTEGER`` (they
only join a table to its full-text table), and the full-text segment
b-trees. ``docs/publishing.md`` ("The public database") says why that is the
equality a published database promises.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from registry.core.exceptions import BuildError, SchemaError
from registry.publish import export

FTS_SHADOWS = ("config", "content", "data", "docsize", "idx")
#: The keys a scoped :func:`sync_table` compares (:func:`set_scope` fills it).
SCOPE = "select key from temp.scope"



def schema_of(conn: sqlite3.Connection, schema: str = "main") -> list:
    """Every object of ``schema`` as (type, name, table, sql), sorted: two files
    with equal lists have the same tables, columns, indexes and FTS tables."""
    return conn.execute(f"select type, name, tbl_name, sql from {schema}.sqlite_master "
                        "where name not like 'sqlite_%' order by type, name").fetchall()


def fts_tables(conn: sqlite3.Connection, schema: str = "main") -> list:
    """The full-text (virtual) tables of ``schema``, by name."""
    return [r[0] for r in conn.execute(
        f"select name from {schema}.sqlite_master where type = 'table' "
        "and sql like 'CREATE VIRTUAL TABLE%' order by name")]


def content_tables(conn: sqlite3.Connection, schema: str = "main") -> list:
    """The ordinary tables of ``schema`` (FTS and its shadow tables excluded), by name."""
    fts = fts_tables(conn, schema)
    shadow = set(fts) | {f"{n}_{s}" for n in fts for s in FTS_SHADOWS}
    return [r[0] for r in conn.execute(
        f"select name from {schema}.sqlite_master where type = 'table' and name not like 'sqlite_%' "
        "order by name") if r[0] not in shadow]


def key_columns(conn: sqlite3.Connection, table: str, schema: str = "main") -> tuple[list, list]:
    """``(columns, primary key)`` of ``table``; BuildError for a table without a primary key
    (rows are matched by it)."""
    info = conn.execute("select name, pk from pragma_table_info(?, ?)", [table, schema]).fetchall()
    pks = [name for name, pk in sorted(info, key=lambda r: r[1]) if pk]
    if not pks:
        raise BuildError(f"public database: table {table} has no primary key; observed none, expected one "
                         "(rows are matched by primary key, registry/publish/dbrows.py)")
    return [name for name, _pk in info], pks


# ------------------------------------------------------------------ content

def _line(kind: str, row) -> str:
    return json.dumps([kind, list(row)], ensure_ascii=False, default=lambda v: ["blob", v.hex()])


def content_lines(conn: sqlite3.Connection) -> Iterator[str]:
    """The content of the public database open as ``conn`` (module docstring), one line at a time."""
    for obj in schema_of(conn):
        yield _line("schema", obj)
    tables = content_tables(conn)
    for table in tables:
        _cols, pks = key_columns(conn, table)
        order = ", ".join(export.quote_name(p) for p in pks)
        yield _line("table", [table])
        for row in conn.execute(f"select * from {export.quote_name(table)} order by {order}"):
            yield _line("row", row)
    for fts in fts_tables(conn):
        table = fts.removesuffix("_fts")
        if table == fts or table not in tables:
            continue
        _cols, pks = key_columns(conn, table)
        keys = ", ".join(f"t.{export.quote_name(p)}" for p in pks)
        yield _line("index", [fts])
        for row in conn.execute(f"select {keys}, f.* from {export.quote_name(table)} t "
                                f"left join {export.quote_name(fts)} f on f.rowid = t.rowid order by {keys}"):
            yield _line("row", row)
        orphans = conn.execute(f"select count(*) from {export.quote_name(fts)} "
                               f"where rowid not in (select rowid from {export.quote_name(table)})").fetchone()[0]
        yield _line("orphans", [orphans])


def content_digest(path) -> str:
    """SHA-256 (hex) of the content of the public database file ``path``: equal
    digests, equal content, whatever the files' bytes (``publish.py db-digest``)."""
    digest = hashlib.sha256()
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        for line in content_lines(conn):
            digest.update(line.encode("utf-8") + b"\n")
    except sqlite3.DatabaseError as e:
        raise SchemaError(f"{path}: observed {e}, expected a public database (SQLite)") from None
    finally:
        conn.close()
    return digest.hexdigest()


# ------------------------------------------------------------------ sync

def set_scope(conn: sqlite3.Connection, keys) -> None:
    """Make ``keys`` the values a scoped :func:`sync_table` compares (:data:`SCOPE`)."""
    conn.execute("create temp table if not exists scope (key PRIMARY KEY)")
    conn.execute("delete from temp.scope")
    conn.executemany("insert into temp.scope values (?)", ((k,) for k in keys))


def sync_table(conn: sqlite3.Connection, table: str, source: str, scope_column: str | None = None) -> dict:
    """Make the rows of ``main.<table>`` equal those of ``source`` (a table of the
    same columns, e.g. ``fresh."events"``), matched by primary key: rows only in
    ``main`` deleted, rows that differ updated in place, new rows inserted in
    primary-key order; the full-text rows of the deleted and inserted rows, and
    of the updated ones whose indexed text changed, rewritten
    (:func:`export.fts_insert_sql`). With ``scope_column``, only the rows whose
    value in that column is one of :func:`set_scope`'s keys are compared, on
    both sides. Runs inside the caller's transaction (and needs
    :func:`export.fts_function` on ``conn``). Returns ``{"inserted",
    "updated", "deleted"}``.
    """
    cols, pks = key_columns(conn, table)
    t = export.quote_name(table)
    on = " and ".join(f"f.{export.quote_name(p)} = m.{export.quote_name(p)}" for p in pks)
    others = [c for c in cols if c not in pks]
    differs = " or ".join(f"f.{export.quote_name(c)} is not m.{export.quote_name(c)}" for c in others) or "0"
    fts = export.FTS_SOURCES.get(table)
    indexed = " or ".join(f"f.{export.quote_name(c)} is not m.{export.quote_name(c)}"
                          for c in fts[1] if c not in pks) if fts else ""
    in_scope = {alias: f" and {alias}.{export.quote_name(scope_column)} in ({SCOPE})" if scope_column else ""
                for alias in ("m", "f")}
    for name in ("gone", "reindex"):
        conn.execute(f"create temp table if not exists {name} (rid INTEGER PRIMARY KEY)")
        conn.execute(f"delete from temp.{name}")
    conn.execute("create temp table if not exists changed (rid INTEGER PRIMARY KEY, indexed INTEGER)")
    conn.execute("delete from temp.changed")
    conn.execute(f"insert into temp.gone select m.rowid from main.{t} m where 1{in_scope['m']} "
                 f"and not exists (select 1 from {source} f where {on})")
    conn.execute(f"insert into temp.changed select m.rowid, {indexed or '0'} from main.{t} m "
                 f"join {source} f on {on} where ({differs}){in_scope['m']}")
    if fts:
        conn.execute("insert into temp.reindex select rid from temp.gone "
                     "union select rid from temp.changed where indexed")
        conn.execute(f"delete from main.{export.quote_name(table + '_fts')} "
                     "where rowid in (select rid from temp.reindex)")
    conn.execute(f"delete from main.{t} where rowid in (select rid from temp.gone)")
    if others:
        conn.execute(
            f"update main.{t} as m set ({', '.join(export.quote_name(c) for c in others)}) = "
            f"({', '.join('f.' + export.quote_name(c) for c in others)}) from {source} f "
            f"where {on} and m.rowid in (select rid from temp.changed)")
    # New rows, in primary-key order as the export writes them.
    added = conn.execute(
        f"insert into main.{t} ({', '.join(export.quote_name(c) for c in cols)}) "
        f"select {', '.join('f.' + export.quote_name(c) for c in cols)} from {source} f "
        f"where not exists (select 1 from main.{t} m where {on}){in_scope['f']} "
        f"order by {', '.join('f.' + export.quote_name(p) for p in pks)} returning rowid").fetchall()
    if fts:
        # A new row may take the rowid of one just deleted (already listed).
        conn.executemany("insert or ignore into temp.reindex values (?)", added)
        conn.execute(export.fts_insert_sql(table, "m.rowid in (select rid from temp.reindex)"))
    changed = conn.execute("select count(*) from temp.changed").fetchone()[0]
    gone = conn.execute("select count(*) from temp.gone").fetchone()[0]
    return {"inserted": len(added), "updated": changed, "deleted": gone}
