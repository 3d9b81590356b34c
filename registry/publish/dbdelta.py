"""The public database of an incremental build: the previous build's file, with only the changed rows rewritten.

A full build exports the whole public database (:mod:`registry.publish.export`):
O(registry) — 20 s of an incremental build at 100,000 certificates. An
incremental build (:mod:`registry.publish.incremental` decided it, and knows
what changed) instead

1. copies the previous build's ``data/registry.db`` to a new name in its own
   build directory (:func:`registry.core.fs.copy_file`; the previous file is
   being served and is never opened for writing);
2. in **one transaction**, builds the new rows of the changed keys with the
   export's own SELECT (:func:`export.rows_select`: one definition of a
   public row) into a temporary table, and brings the copy's rows of those
   keys to them (:func:`dbrows.sync_table`: updated in place, inserted or
   deleted, with their full-text rows);
3. renames the copy into place.

Which rows a change touches is the public database's half of the dependency
map of ``docs/publishing.md`` (:data:`DELTA_KEYS`, :func:`changed_rows`):
a certificate's own row, standards, revisions and new events; the rows of
changed products and enterprises, and the certificates that show their names
(``product_name_zh``, ``enterprise_name_zh``, ``district`` …). Every other
public table changes only with a full build: the registry-wide tables are
among ``incremental.WIDE_TABLES``, the reference tables are code, and no
table holds a registry-wide count or date that every event changes.

The result has the content of a full export of the same registry
(:func:`dbrows.content_digest`), not its bytes: ``docs/publishing.md`` ("The
public database") says why, with the measurements.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from registry.core.exceptions import BuildError, SourceMovedError
from registry.publish import dbrows, export
from registry.store import schema

#: Public table -> the column whose values name its rows that an incremental
#: build may change (:func:`changed_rows`), in the order they are written.
DELTA_KEYS = {
    "enterprises": "uscc",
    "products": "id",
    "certificates": "cert_no",
    "certificate_standards": "cert_no",
    "certificate_revisions": "cert_no",
    "events": "seq",
}


def changed_rows(db, changes) -> dict:
    """``{table: keys}`` of the public rows that :class:`incremental.Changes`
    ``changes`` touch, read from registry ``db`` (the build's snapshot)."""
    certificates = set(changes.certificates)
    if changes.products or changes.enterprises:
        # Their names and places are columns of their certificates' rows.
        certificates |= {r[0] for r in db.execute(
            "select c.cert_no from certificates c join products p on p.id = c.product "
            "where p.id in (select value from json_each(?)) "
            "or p.enterprise in (select value from json_each(?))",
            [json.dumps(list(changes.products)), json.dumps(list(changes.enterprises))])}
    own = sorted(changes.certificates)  # standards and revisions change only with an event
    return {
        "enterprises": list(changes.enterprises),
        "products": list(changes.products),
        "certificates": sorted(certificates),
        "certificate_standards": own,
        "certificate_revisions": own,
        "events": [r[0] for r in db.execute("select seq from events where seq > ? order by seq",
                                            [changes.since_seq])],
    }


def published_statuses(public_db_path) -> dict:
    """``{cert_no: (status, status_date, last_seq)}`` as the public database at
    ``public_db_path`` (a previous build's) publishes them: the replay of every
    certificate's signed events when that build was made."""
    conn = sqlite3.connect(f"file:{Path(public_db_path).resolve()}?mode=ro", uri=True)
    try:
        return {no: (status, date, last) for no, status, date, last in conn.execute(
            "select cert_no, status, status_date, last_seq from certificates")}
    finally:
        conn.close()


def update_public_db(source_db, previous_path, out_path, rows: dict, *, statuses: dict,
                     pinned: tuple[int, int] | None = None) -> dict:
    """Write ``out_path``: the public database ``previous_path`` with the rows
    ``rows`` (:func:`changed_rows`) made those of registry ``source_db``.

    ``statuses`` is the replay of every certificate's signed events
    (:func:`registry.store.history.replayed_statuses`), which the build has
    checked against the registry's cache. The copy is made under
    ``.<name>.tmp-<pid>`` and renamed into place only when complete.
    Returns ``{"path", "tables": {name: rows}, "changes": {table: counts}}``.

    The rows are read from ``source_db``'s file, attached on the new file's
    connection: a second reader of the registry, which sees the latest
    commit, not the transaction the build pinned. ``pinned`` (``(last event
    seq, last row_changes id)`` of the build's state) is checked in the same
    read transaction as the rows: every row of these tables changes with a
    signed event or a journaled write, so equal marks mean the same rows.
    Else SourceMovedError and no file (rule: one build, one snapshot; the
    caller reads again from a copy of its pinned state).
    """
    out_path = Path(out_path)
    tables = export.classify_tables(source_db)
    unknown = sorted(set(rows) - set(DELTA_KEYS))
    if unknown:
        raise BuildError(f"changed rows named for table(s) {', '.join(unknown)}; expected only "
                         f"{', '.join(DELTA_KEYS)} (the rest change with a full build)")
    missing = [no for no in rows.get("certificates", ()) if no not in statuses]
    if missing:
        raise BuildError(f"certificate {missing[0]}: no replayed status to publish; observed "
                         f"{len(missing)} changed certificate(s) without one, expected none")
    # Not yet published: a crash loses the copy, never a served file.
    with export.staged_database(out_path, source_db, start_from=previous_path,
                                pragmas=("pragma synchronous = off",)) as out:
        export.fts_function(out)
        out.execute("begin")
        if pinned is not None:
            seen = out.execute("select (select coalesce(max(seq), 0) from src.events), "
                               "(select coalesce(max(id), 0) from src.row_changes)").fetchone()
            if tuple(seen) != tuple(pinned):
                raise SourceMovedError(
                    f"{schema.database_file(source_db)}: observed last event {seen[0]} and row change "
                    f"{seen[1]} on a second connection, expected {pinned[0]} and {pinned[1]} (the "
                    "build's pinned state): the registry moved on during the build")
        export.load_statuses(out, {no: statuses[no] for no in rows.get("certificates", ())})
        changes = {}
        for table, column in DELTA_KEYS.items():
            if not rows.get(table):
                continue
            dbrows.set_scope(out, rows[table])
            _sql, cols, _pks = export.table_sql(source_db, table)
            staged = f"temp.{export.quote_name('new_' + table)}"
            out.execute(f"create table {staged} as select * from main.{export.quote_name(table)} where 0")
            out.execute(f"insert into {staged} ({', '.join(export.quote_name(c) for c in cols)}) "
                        + export.rows_select(source_db, table, f"r.{export.quote_name(column)} in ({dbrows.SCOPE})"))
            counts = dbrows.sync_table(out, table, staged, column)
            out.execute(f"drop table {staged}")
            if any(counts.values()):
                changes[table] = counts
        out.execute("commit")
        out.execute("detach database src")
        counts = export.table_counts(out, tables)
    return {"path": str(out_path), "tables": counts, "changes": changes}

