"""The database Datasette serves: one file, updated in place, never restarted.

Each build writes a public database (:mod:`registry.publish.export`, or the
previous build's with the changed rows rewritten: :mod:`registry.publish.dbdelta`)
into its own build directory. Datasette used to serve that file with ``-i``
and had to be restarted on every build (1–2 s of refused connections).
Instead it serves a *live* copy that stays put, ``.<OUT>.live/registry.db``
beside the output link (outside every build directory, which come and go),
opened mutable (no ``-i``) in WAL mode:

* :func:`publish` brings the live copy to the content of a build's
  ``data/registry.db`` in **one write transaction**: the rows that differ,
  by primary key, are updated, inserted or deleted, and the full-text rows
  of those rows re-indexed (:func:`dbrows.sync_table`). In WAL mode a reader
  sees the state before or after that commit, never a mix: every SQL query
  Datasette runs is one read transaction.
* Only the changed rows are compared when the build was made incrementally
  from the very build the live copy holds: the build's state names its
  changed rows and the build it was made from
  (:func:`incremental.public_db_rows`), and the live directory names the
  build it holds (``mirrors-build``, written after each commit, removed
  before it). Otherwise — a full build, a build skipped, a publish that
  failed half-way — every row of every table is compared: O(registry).
* One truth: after :func:`publish` the live database has the content of
  the build's (:mod:`registry.publish.dbrows`: same tables, same rows, same
  search results); only its physical layout — the implicit rowids joining
  a table to its ``_fts`` table, the FTS segment b-trees — may differ.
  ``tests/publish/test_livedb.py`` and ``test_incremental.py`` compare the
  two after random sequences of operations.
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
from registry.publish import dbdelta, dbrows, export, incremental

DATABASE = "registry.db"
METADATA = "metadata.yml"
# The id of the build whose public database the live one holds (publish()).
MIRRORS = "mirrors-build"
BUSY_TIMEOUT_MS = 30_000  # a second publisher waits for the first (one writer at a time)


def live_dir_for(out_link) -> Path:
    """``.<OUT>.live/`` beside the output link: the live database and its metadata."""
    out_link = Path(os.path.abspath(out_link))
    return out_link.parent / f".{out_link.name}.live"


def same_schema(a_path, b_path) -> bool:
    """Whether two database files have the same :func:`dbrows.schema_of`."""
    with contextlib.closing(sqlite3.connect(f"{Path(a_path).resolve().as_uri()}?mode=ro", uri=True)) as a, \
            contextlib.closing(sqlite3.connect(f"{Path(b_path).resolve().as_uri()}?mode=ro", uri=True)) as b:
        return dbrows.schema_of(a) == dbrows.schema_of(b)


def update(live_path, fresh_path, rows=None) -> dict:
    """Bring the live database ``live_path`` to the rows of ``fresh_path`` in one transaction.

    ``rows`` (``{table: keys}``, :func:`dbdelta.changed_rows`) limits the
    comparison to those keys of those tables (:data:`dbdelta.DELTA_KEYS` names
    the column of each); the caller vouches that nothing else differs. None
    compares every row of every table. Returns ``{table: {"inserted",
    "updated", "deleted"}}`` for the tables that changed. BuildError (nothing
    written) when the two schemas differ: then the live file must be replaced
    (:func:`replace`), not updated.
    """
    conn = sqlite3.connect(str(live_path), isolation_level=None)
    try:
        conn.execute(f"pragma busy_timeout = {BUSY_TIMEOUT_MS}")
        # The fresh export is only read.
        conn.execute("attach database ? as fresh", [Path(fresh_path).resolve().as_uri() + "?mode=ro"])
        if dbrows.schema_of(conn, "main") != dbrows.schema_of(conn, "fresh"):
            raise BuildError(f"{live_path}: observed a schema that differs from {fresh_path}'s, expected the "
                             "same; the live database must be replaced, not updated")
        tables = dbrows.content_tables(conn)
        if rows is not None:
            unknown = sorted(set(rows) - set(dbdelta.DELTA_KEYS))
            if unknown:
                raise BuildError(f"{live_path}: changed rows named for table(s) {', '.join(unknown)}; "
                                 f"expected only {', '.join(dbdelta.DELTA_KEYS)}")
            tables = [t for t in tables if rows.get(t)]
        export.fts_function(conn)
        # One write transaction: Datasette's readers (WAL) see all of it or none.
        conn.execute("begin immediate")
        try:
            changes = {}
            for table in tables:
                column = None
                if rows is not None:
                    column = dbdelta.DELTA_KEYS[table]
                    dbrows.set_scope(conn, rows[table])
                counts = dbrows.sync_table(conn, table, f"fresh.{export.quote_name(table)}", column)
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


def mirrored(live_dir) -> str | None:
    """The id (:func:`incremental.state_id`) of the build whose public database
    ``live_dir`` holds, as :func:`publish` recorded it; None when unknown."""
    try:
        return (Path(live_dir) / MIRRORS).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _record_mirrored(live_dir, build_id):
    if build_id is not None:
        fs.write_atomic(Path(live_dir) / MIRRORS, build_id + "\n")


def publish(data_dir, live_dir, *, stop_readers=None, state=None) -> dict:
    """Bring ``live_dir`` (database and metadata) to a build's ``data_dir``.

    The database is updated in place (:func:`update`) when it exists with the
    same schema and the metadata is unchanged; otherwise ``stop_readers()`` is
    called, the files are replaced, and the result says ``restart``: the
    caller starts Datasette again. ``state`` is the build's
    (:func:`incremental.read_state`): when it was built incrementally from
    the build the live database mirrors (:func:`mirrored`), only the rows its
    ``public_db`` names are compared; otherwise every row is. Returns
    ``{"restart": bool, "changes": …, "compared": "changed rows" | "all rows" | None}``.
    """
    try:
        return _publish(Path(data_dir), Path(live_dir), stop_readers, state)
    except sqlite3.Error as e:
        raise BuildError(f"{live_dir}: the live database could not be brought to {data_dir}: {e}; "
                         "Datasette goes on serving the previous state") from e


def _publish(data_dir, live_dir, stop_readers, state):
    live_db, fresh_db = live_dir / DATABASE, data_dir / DATABASE
    metadata = (data_dir / METADATA).read_bytes()
    current = live_dir / METADATA
    same_metadata = current.is_file() and current.read_bytes() == metadata
    build_id = incremental.state_id(state) if state else None
    if same_metadata and live_db.is_file() and same_schema(live_db, fresh_db):
        rows = incremental.public_db_rows(state, mirrored(live_dir))
        # Unknown until the update commits: a publish that fails or is killed
        # half-way makes the next one compare every row.
        (live_dir / MIRRORS).unlink(missing_ok=True)
        changes = update(live_db, fresh_db, rows)
        _record_mirrored(live_dir, build_id)
        return {"restart": False, "changes": changes,
                "compared": "all rows" if rows is None else "changed rows"}
    if stop_readers is not None:
        stop_readers()
    (live_dir / MIRRORS).unlink(missing_ok=True)
    replace(live_db, fresh_db)
    fs.write_atomic(current, metadata)
    _record_mirrored(live_dir, build_id)
    return {"restart": True, "changes": None, "compared": None}
