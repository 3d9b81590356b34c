"""The database Datasette serves: one file, updated in place, never restarted.

Each build writes a fresh, immutable, byte-reproducible public database
(:mod:`registry.publish.export`) into its own build directory. Datasette used
to serve that file with ``-i`` and had to be restarted on every build (1–2 s
of refused connections). Instead it serves a *live* copy that stays put,
``.<OUT>.live/registry.db`` beside the output link (outside every build
directory, which come and go), opened mutable (no ``-i``) in WAL mode:

* :func:`publish` brings the live copy to the content of a build's
  ``data/registry.db`` in **one write transaction**: the rows that differ,
  by primary key, are updated, inserted or deleted, and the full-text rows
  of those rows re-indexed (:data:`export.FTS_SOURCES`). In WAL mode a reader
  sees the state before or after that commit, never a mix: every SQL query
  Datasette runs is one read transaction.
* One truth: after :func:`publish` the live database holds exactly the rows
  of the fresh export (same tables, same rows, same search results); only
  its physical layout — the implicit rowids joining a table to its
  ``_fts`` table, the FTS segment b-trees — may differ. The fresh export
  stays the reference (``tests/publish/test_livedb.py`` compares the two
  table by table after random sequences of operations).
* When the schema differs (a new version of the exporter), the live file is
  replaced by a copy of the fresh one; Datasette must be restarted for that,
  so :func:`publish` calls ``stop_readers`` first and says ``restart``. The
  same holds for ``metadata.yml``, which Datasette reads once at start.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from registry.core import fs
from registry.core.exceptions import BuildError
from registry.publish import export

DATABASE = "registry.db"
METADATA = "metadata.yml"
BUSY_TIMEOUT_MS = 30_000  # a second publisher waits for the first (one writer at a time)


def live_dir_for(out_link) -> Path:
    """``.<OUT>.live/`` beside the output link: the live database and its metadata."""
    out_link = Path(os.path.abspath(out_link))
    return out_link.parent / f".{out_link.name}.live"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def schema_of(conn: sqlite3.Connection, schema: str = "main") -> list:
    """Every object of ``schema`` as (type, name, table, sql), sorted: two files
    with equal lists have the same tables, columns, indexes and FTS tables."""
    return conn.execute(f"select type, name, tbl_name, sql from {schema}.sqlite_master "
                        "where name not like 'sqlite_%' order by type, name").fetchall()


def same_schema(a_path, b_path) -> bool:
    """Whether two database files have the same :func:`schema_of`."""
    with contextlib.closing(sqlite3.connect(f"{Path(a_path).resolve().as_uri()}?mode=ro", uri=True)) as a, \
            contextlib.closing(sqlite3.connect(f"{Path(b_path).resolve().as_uri()}?mode=ro", uri=True)) as b:
        return schema_of(a) == schema_of(b)


def _shadow_names(conn, schema):
    """FTS tables and their shadow tables: derived from the content tables, not copied."""
    fts = [r[0] for r in conn.execute(
        f"select name from {schema}.sqlite_master where type = 'table' and sql like 'CREATE VIRTUAL TABLE%'")]
    return set(fts) | {f"{n}_{s}" for n in fts for s in ("config", "content", "data", "docsize", "idx")}


def content_tables(conn: sqlite3.Connection, schema: str = "main") -> list:
    """The ordinary tables of ``schema`` (FTS and its shadow tables excluded), by name."""
    shadow = _shadow_names(conn, schema)
    return [r[0] for r in conn.execute(
        f"select name from {schema}.sqlite_master where type = 'table' and name not like 'sqlite_%' "
        "order by name") if r[0] not in shadow]


def _columns(conn, table):
    info = conn.execute("select name, pk from pragma_table_info(?, 'main')", [table]).fetchall()
    pks = [name for name, pk in sorted(info, key=lambda r: r[1]) if pk]
    if not pks:
        raise BuildError(f"live database: table {table} has no primary key; observed none, expected one "
                         "(rows are matched by primary key, registry/publish/livedb.py)")
    return [name for name, _pk in info], pks


def _sync_table(conn, table) -> dict:
    """Make ``main.table`` equal ``fresh.table``; re-index its FTS rows. Inside the caller's transaction."""
    cols, pks = _columns(conn, table)
    t = _quote(table)
    on = " and ".join(f"f.{_quote(p)} = m.{_quote(p)}" for p in pks)
    others = [c for c in cols if c not in pks]
    differs = " or ".join(f"f.{_quote(c)} is not m.{_quote(c)}" for c in others) or "0"
    fts = export.FTS_SOURCES.get(table)
    indexed = " or ".join(f"f.{_quote(c)} is not m.{_quote(c)}" for c in fts[1] if c not in pks) if fts else ""
    conn.execute("delete from temp.gone")
    conn.execute("delete from temp.changed")
    conn.execute("delete from temp.reindex")
    conn.execute(f"insert into temp.gone select m.rowid from main.{t} m "
                 f"where not exists (select 1 from fresh.{t} f where {on})")
    conn.execute(f"insert into temp.changed select m.rowid, {indexed or '0'} from main.{t} m "
                 f"join fresh.{t} f on {on} where {differs}")
    col_list = ", ".join(_quote(c) for c in cols)
    if fts:
        conn.execute("insert into temp.reindex select rid from temp.gone "
                     "union select rid from temp.changed where indexed")
        conn.execute(f"delete from main.{_quote(table + '_fts')} where rowid in (select rid from temp.reindex)")
    conn.execute(f"delete from main.{t} where rowid in (select rid from temp.gone)")
    if others:
        conn.execute(
            f"update main.{t} as m set ({', '.join(_quote(c) for c in others)}) = "
            f"({', '.join('f.' + _quote(c) for c in others)}) from fresh.{t} f "
            f"where {on} and m.rowid in (select rid from temp.changed)")
    # New rows, in primary-key order as the export writes them.
    added = conn.execute(
        f"insert into main.{t} ({col_list}) select {', '.join('f.' + _quote(c) for c in cols)} "
        f"from fresh.{t} f where not exists (select 1 from main.{t} m where {on}) "
        f"order by {', '.join('f.' + _quote(p) for p in pks)} returning rowid").fetchall()
    if fts:
        conn.executemany("insert into temp.reindex values (?)", added)
        key, sources = fts
        expr = ", ".join(f"m.{_quote(c)}" for c in sources)
        conn.execute(
            f"insert into main.{_quote(table + '_fts')} (rowid, text, {_quote(key)}) "
            f"select m.rowid, szzz_fts_document({expr}), m.{_quote(key)} from main.{t} m "
            "where m.rowid in (select rid from temp.reindex) order by m.rowid")
    changed = conn.execute("select count(*) from temp.changed").fetchone()[0]
    gone = conn.execute("select count(*) from temp.gone").fetchone()[0]
    return {"inserted": len(added), "updated": changed, "deleted": gone}


def update(live_path, fresh_path) -> dict:
    """Bring the live database ``live_path`` to the rows of ``fresh_path`` in one transaction.

    Returns ``{table: {"inserted", "updated", "deleted"}}`` for the tables that
    changed. BuildError (nothing written) when the two schemas differ: then
    the live file must be replaced (:func:`replace`), not updated.
    """
    conn = sqlite3.connect(str(live_path), isolation_level=None)
    try:
        conn.execute(f"pragma busy_timeout = {BUSY_TIMEOUT_MS}")
        # The fresh export is only read.
        conn.execute("attach database ? as fresh", [Path(fresh_path).resolve().as_uri() + "?mode=ro"])
        if schema_of(conn, "main") != schema_of(conn, "fresh"):
            raise BuildError(f"{live_path}: observed a schema that differs from {fresh_path}'s, expected the "
                             "same; the live database must be replaced, not updated")
        conn.create_function("szzz_fts_document", -1, export.fts_document, deterministic=True)
        for name in ("gone", "reindex"):
            conn.execute(f"create temp table if not exists {name} (rid INTEGER PRIMARY KEY)")
        conn.execute("create temp table if not exists changed (rid INTEGER PRIMARY KEY, indexed INTEGER)")
        # One write transaction: Datasette's readers (WAL) see all of it or none.
        conn.execute("begin immediate")
        try:
            changes = {}
            for table in content_tables(conn):
                counts = _sync_table(conn, table)
                if any(counts.values()):
                    changes[table] = counts
            conn.execute("commit")
        except BaseException:
            conn.execute("rollback")
            raise
        conn.execute("detach database fresh")
        # Keep the WAL short; readers in the middle of a query are not waited for.
        conn.execute("pragma wal_checkpoint(passive)")
    finally:
        conn.close()
    return changes


def replace(live_path, fresh_path) -> None:
    """Make ``live_path`` a WAL-mode copy of ``fresh_path`` (no reader may have it open)."""
    live_path = Path(live_path)
    live_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = live_path.with_name(f".{live_path.name}.tmp-{os.getpid()}")
    for path in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        path.unlink(missing_ok=True)
    src = sqlite3.connect(f"{Path(fresh_path).resolve().as_uri()}?mode=ro", uri=True)
    dst = sqlite3.connect(str(tmp), isolation_level=None)
    try:
        src.backup(dst)
        dst.execute("pragma journal_mode = wal")
    except BaseException:
        dst.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    dst.close()
    # A WAL or shared-memory file left by the previous file's readers must not
    # be applied to the new one.
    for suffix in ("-wal", "-shm"):
        Path(f"{live_path}{suffix}").unlink(missing_ok=True)
    os.replace(tmp, live_path)
    fs.fsync_dir(live_path.parent)


def publish(data_dir, live_dir, *, stop_readers=None) -> dict:
    """Bring ``live_dir`` (database and metadata) to a build's ``data_dir``.

    The database is updated in place (:func:`update`) when it exists with the
    same schema and the metadata is unchanged; otherwise ``stop_readers()`` is
    called, the files are replaced, and the result says ``restart``: the
    caller starts Datasette again. Returns ``{"restart": bool, "changes": …}``.
    """
    try:
        return _publish(Path(data_dir), Path(live_dir), stop_readers)
    except sqlite3.Error as e:
        raise BuildError(f"{live_dir}: the live database could not be brought to {data_dir}: {e}; "
                         "Datasette goes on serving the previous state") from e


def _publish(data_dir, live_dir, stop_readers):
    live_db, fresh_db = live_dir / DATABASE, data_dir / DATABASE
    metadata = (data_dir / METADATA).read_bytes()
    current = live_dir / METADATA
    same_metadata = current.is_file() and current.read_bytes() == metadata
    if same_metadata and live_db.is_file() and same_schema(live_db, fresh_db):
        return {"restart": False, "changes": update(live_db, fresh_db)}
    if stop_readers is not None:
        stop_readers()
    replace(live_db, fresh_db)
    fs.write_atomic(current, metadata)
    return {"restart": True, "changes": None}
