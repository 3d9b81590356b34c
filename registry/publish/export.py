"""The public database for Datasette: everything public, nothing operator-only.

``export_public_db(source_db, out_path)`` writes a new SQLite file holding:

* the public tables of the registry, every public column, rows in primary-key
  order (signed events with their signatures, certificate revisions, trust
  lists, the *public* keys, notices, ...);
* reference tables journalists can join on and facet by (districts, GB/T 4754
  manufacturing divisions, programmes, statuses, event types);
* convenience columns on ``certificates`` derived from the joins (status in
  Chinese, district, industry division and its name, body name, programme
  name, year of issue), so the common questions need no SQL;
* indexes for the canned queries in ``data/metadata.yml``;
* full-text search tables ``<table>_fts`` that find Chinese substrings of any
  length, two-character terms included (see "Search" below);

then ``VACUUM``. The file is byte-reproducible: same registry, same bytes.
What a row holds is :func:`rows_select` (and :func:`fts_insert_sql` for a
search row); an incremental build rewrites only the changed rows of the
previous build's file with the same two (:mod:`registry.publish.dbdelta`),
giving the same content, not the same bytes (:mod:`registry.publish.dbrows`).

Rules enforced here:

* operator-only data never leaves (``schema.OPERATOR_ONLY_TABLES``, and
  ``schema.OPERATOR_ONLY_COLUMNS`` when a table has private columns); a table
  the exporter does not know stops the export with :class:`BuildError`, so a
  new table is published only after someone decided it is public;
* no key material: the ``keys`` table holds public keys only, and the export
  refuses a row whose ``public_key`` is not a 32-byte Ed25519 public key;
* the file is written under a temporary name and renamed into place, so a
  failed export leaves no partial file.

Search
------
FTS5's ``trigram`` tokenizer never matches terms shorter than three
characters, and on SQLite 3.40.1 (Debian 12) ``LIKE '%苏州%'`` on a trigram
table returns no rows (see ``../shared/reference/baseline-measurements.md``).
So the FTS tables use ``unicode61`` over a *unigram document*: every CJK (in
general, non-ASCII alphanumeric) character is its own token and ASCII
alphanumeric runs are words. A query term becomes an FTS5 phrase of the same
tokens (:func:`fts_query`), and a phrase of consecutive single characters is
exactly a substring search: ``苏州`` → ``"苏 州"``. One index, every length,
no dependence on the trigram bugs. The Datasette plugin installs
:func:`fts_query` as ``escape_fts`` so ``?_search=`` uses it.
"""

import contextlib
import csv
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

from registry.core import canonical, fs, industries, lifecycle, reference, spreadsheet
from registry.core.exceptions import BuildError, SignatureError
from registry.store import history, schema

# Tables published as they are (all columns but schema.OPERATOR_ONLY_COLUMNS).
PUBLIC_TABLES = (
    "bodies", "keys", "trust_lists", "standards", "enterprises", "products",
    "certificates", "certificate_standards", "certificate_revisions", "events",
    "notices",
)
# meta is a key/value table shared by every module: only these keys are public.
PUBLIC_META_KEYS = ("demo", "schema_version", "site_url")

# Full-text search: table -> (key column, SQL expression of the text indexed).
FTS_SOURCES = {
    "certificates": ("cert_no", (
        "cert_no", "product_name_zh", "product_name_en", "enterprise_name_zh",
        "enterprise_name_en", "scope", "body", "body_name_zh", "body_name_en",
        "programme_name_zh", "district", "industry_name_zh",
    )),
    "enterprises": ("uscc", ("uscc", "name_zh", "name_en", "district", "tier")),
    "products": ("id", ("name_zh", "name_en", "models", "gtin", "category", "description")),
    "notices": ("id", ("title_zh", "title_en", "text_zh", "text_en", "cert_no", "body")),
}

# Derived columns of the public certificates table: name -> (type, SQL over
# the joined source rows: r the certificate, p, e, b, s, d, pr; rows_select).
CERTIFICATE_DERIVED = {
    "status_zh": (str, "s.name_zh"),
    "year_issued": (int, "cast(substr(r.issued, 1, 4) as integer)"),
    "product_name_zh": (str, "p.name_zh"),
    "product_name_en": (str, "p.name_en"),
    "enterprise": (str, "e.uscc"),
    "enterprise_name_zh": (str, "e.name_zh"),
    "enterprise_name_en": (str, "e.name_en"),
    "district": (str, "e.district"),
    "industry": (str, "e.industry"),
    "industry_division": (str, "substr(e.industry, 2, 2)"),
    "industry_name_zh": (str, "d.name_zh"),
    "body_name_zh": (str, "b.name_zh"),
    "body_name_en": (str, "b.name_en"),
    "programme_name_zh": (str, "pr.name_zh"),
}

# Indexes for the canned queries and facets (metadata.yml); the source's own
# indexes on public tables are copied too. Every default facet of
# opendata.FACETS has one: Datasette's facet query is a GROUP BY over the
# table, a scan of the wide rows without it (~1 ms at 1k certificates, 5× an
# indexed one, and linear in the registry). On certificates each is
# (facet column, issued): the same index serves the page's usual question,
# "filtered by that column, newest first" (sort_desc issued), which at 100k
# sorted ~10,000 rows per request (20 ms) with a one-column index.
EXTRA_INDEXES = (
    ("certificates", ("issued",)),
    ("certificates", ("status_zh", "issued")),
    ("certificates", ("district", "issued")),
    ("certificates", ("industry_name_zh", "issued")),
    ("certificates", ("body_name_zh", "issued")),
    ("certificates", ("programme_name_zh", "issued")),
    ("certificates", ("year_issued", "issued")),
    ("events", ("actor",)),
    ("enterprises", ("tier",)),
    ("notices", ("kind",)),
    ("certificates", ("industry_division",)),
    ("certificates", ("programme",)),
    ("certificates", ("enterprise",)),
    ("certificates", ("status", "status_date")),
    ("events", ("type", "date")),
    ("events", ("date",)),
    ("certificate_revisions", ("seq",)),
    ("notices", ("date",)),
    ("enterprises", ("district",)),
)


# ------------------------------------------------------------------- search

# A private-use character: unicode61 treats it as a token character, but
# fts_tokens() drops it (not alphanumeric), so no query ever produces it.
FIELD_SEPARATOR = "\ue000"


def _is_cjk_token_char(ch: str) -> bool:
    return ord(ch) > 127 and ch.isalnum()


def fts_tokens(text) -> list:
    """Tokens of ``text``: each non-ASCII alphanumeric character alone, ASCII
    alphanumeric runs lowercased as words; everything else separates."""
    tokens, word = [], []
    for ch in text or "":
        if ch.isascii() and ch.isalnum():
            word.append(ch.lower())
            continue
        if word:
            tokens.append("".join(word))
            word = []
        if _is_cjk_token_char(ch):
            tokens.append(ch)
    if word:
        tokens.append("".join(word))
    return tokens


def fts_document(*values) -> str:
    """The text stored in an FTS table for ``values`` (space-separated tokens).

    Fields are separated by :data:`FIELD_SEPARATOR`, a token no query can
    contain, so a phrase never matches across the end of one field and the
    start of the next (``…公司`` + ``苏州…`` must not match ``司苏``).
    """
    parts = []
    for value in values:
        tokens = fts_tokens(value if isinstance(value, str) else (str(value) if value is not None else ""))
        if tokens:
            parts.append(" ".join(tokens))
    return f" {FIELD_SEPARATOR} ".join(parts)


def fts_query(query) -> str:
    """Turn a user's search text into an FTS5 query over :func:`fts_document`.

    Whitespace-separated terms are ANDed; each term is a phrase of its tokens
    (so ``苏州`` must appear as consecutive characters, i.e. as a substring);
    a term ending in an ASCII letter or digit matches as a prefix
    (``suzh`` finds ``Suzhou``). A query with no searchable character
    becomes ``""``, which matches nothing (never an FTS5 syntax error).
    """
    phrases = []
    for term in str(query or "").split():
        tokens = fts_tokens(term)
        if not tokens:
            continue
        phrase = '"' + " ".join(tokens) + '"'
        if term[-1].isascii() and term[-1].isalnum():
            phrase += "*"
        phrases.append(phrase)
    return " ".join(phrases) if phrases else '""'


# ------------------------------------------------------------------- export

def classify_tables(source_db) -> list:
    """The public tables of ``source_db``; BuildError on an unclassified table."""
    known = set(PUBLIC_TABLES) | set(schema.OPERATOR_ONLY_TABLES) | {"meta"}
    names = [r[0] for r in source_db.execute(
        "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' "
        "order by name")]
    unknown = [n for n in names if n not in known and not _is_fts_shadow(n, names)]
    if unknown:
        raise BuildError(
            f"registry table(s) {', '.join(unknown)} are neither public nor operator-only: "
            "classify them in registry/publish/export.py PUBLIC_TABLES or "
            "registry/store/schema.py OPERATOR_ONLY_TABLES before publishing")
    missing = [t for t in PUBLIC_TABLES if t not in names]
    if missing:
        raise BuildError(f"registry lacks table(s) {', '.join(missing)}: observed schema "
                         f"version {schema.schema_version(source_db)}, expected {schema.SCHEMA_VERSION}")
    return list(PUBLIC_TABLES)


def _is_fts_shadow(name, names):
    # FTS tables an operator tool may create in the source are derived data.
    base = name.split("_fts", 1)[0]
    return "_fts" in name and base in names


def _operator_only_columns(table):
    return set(getattr(schema, "OPERATOR_ONLY_COLUMNS", {}).get(table, ()))


def quote_name(name: str) -> str:
    """``name`` as an SQL identifier (double quotes, doubled inside)."""
    return '"' + name.replace('"', '""') + '"'


def _table_sql(src, table, extra_columns=()):
    """CREATE TABLE for the public copy: same columns/types/keys, minus private columns."""
    drop = _operator_only_columns(table)
    info = src.execute("select name, type, \"notnull\", pk from pragma_table_info(?)", [table]).fetchall()
    cols = [(n, t, nn, pk) for n, t, nn, pk in info if n not in drop]
    pks = [n for n, _t, _nn, pk in sorted(cols, key=lambda c: c[3]) if pk]
    fks = [r for r in src.execute(
        'select "from", "table", "to" from pragma_foreign_key_list(?) order by id, seq', [table])
        if r[0] not in drop and r[1] in PUBLIC_TABLES]
    lines = [f"{quote_name(n)} {t}{' NOT NULL' if nn else ''}" for n, t, nn, _pk in cols]
    lines += [f"{quote_name(n)} {t}" for n, t in extra_columns]
    if pks:
        lines.append("PRIMARY KEY (" + ", ".join(quote_name(p) for p in pks) + ")")
    for frm, other, to in fks:
        lines.append(f"FOREIGN KEY ({quote_name(frm)}) REFERENCES {quote_name(other)}({quote_name(to)})")
    return (f"CREATE TABLE {quote_name(table)} (\n   " + ",\n   ".join(lines) + "\n)",
            [c[0] for c in cols], pks)


# Reference tables journalists join on and facet by: name -> (DDL, columns, rows).
# The DDL is written out (NOT NULL, the column order) because it is the
# documented public schema; sqlite-utils inserts the rows.
def _reference_data():
    return {
        "districts": ("CREATE TABLE districts (name_zh TEXT PRIMARY KEY, name_en TEXT NOT NULL)",
                      ("name_zh", "name_en"), sorted(reference.DISTRICTS.items())),
        "industry_divisions": (
            "CREATE TABLE industry_divisions (code TEXT PRIMARY KEY, name_zh TEXT NOT NULL, name_en TEXT NOT NULL)",
            ("code", "name_zh", "name_en"),
            [(k, *v) for k, v in sorted(industries.MANUFACTURING_DIVISIONS.items())]),
        "programmes": (
            "CREATE TABLE programmes (code TEXT PRIMARY KEY, name_zh TEXT NOT NULL, name_en TEXT NOT NULL)",
            ("code", "name_zh", "name_en"), [(k, *v) for k, v in sorted(reference.PROGRAMMES.items())]),
        "statuses": (
            "CREATE TABLE statuses (status TEXT PRIMARY KEY, name_zh TEXT NOT NULL, name_en TEXT NOT NULL)",
            ("status", "name_zh", "name_en"), [(k, *v) for k, v in lifecycle.STATUS_NAMES.items()]),
        "event_types": (
            "CREATE TABLE event_types (type TEXT PRIMARY KEY, name_zh TEXT NOT NULL, name_en TEXT NOT NULL)",
            ("type", "name_zh", "name_en"), [(k, *v) for k, v in lifecycle.EVENT_NAMES.items()]),
    }


def _reference_tables(out):
    db = sqlite_utils.Database(out)
    for name, (ddl, columns, rows) in _reference_data().items():
        # One execute() each: executescript() would COMMIT the open transaction;
        # sqlite-utils inserts inside it (as a savepoint).
        out.execute(ddl)
        db.table(name).insert_all(dict(zip(columns, row, strict=True)) for row in rows)


# Columns of certificates that cache the replay of its signed events: the
# public copy takes them from the replay (temp.replayed), never the cache.
REPLAYED_COLUMNS = ("status", "status_date", "last_seq")


def _derived_columns(table):
    if table != "certificates":
        return ()
    return [(n, "INTEGER" if t is int else "TEXT") for n, (t, _e) in CERTIFICATE_DERIVED.items()]


def table_sql(src, table) -> tuple:
    """``(CREATE TABLE, columns, primary key)`` of public ``table`` from registry
    ``src``: its public columns, then the derived ones (certificates)."""
    sql, cols, pks = _table_sql(src, table, _derived_columns(table))
    return sql, cols + [n for n, _t in _derived_columns(table)], pks


def rows_select(src, table, where="") -> str:
    """The SELECT of ``table``'s public rows (:func:`table_sql`'s columns) from the
    registry attached as ``src``, in primary-key order: the one definition of
    what a public row holds, read by the full export and by the incremental
    update (:mod:`registry.publish.dbdelta`).

    ``where`` (optional) is a condition on the registry row, named ``r``. A
    certificate's status comes from ``temp.replayed`` (the replay of its
    signed events, never the cache) and its derived columns
    (:data:`CERTIFICATE_DERIVED`) from the joined rows and the reference
    tables of the public database (``main``).
    """
    _sql, cols, pks = _table_sql(src, table)
    condition = f"where {where} " if where else ""
    if table != "certificates":
        order = ", ".join(f"r.{quote_name(p)}" for p in pks) if pks else "r.rowid"
        return (f"select {', '.join('r.' + quote_name(c) for c in cols)} from src.{quote_name(table)} r "
                f"{condition}order by {order}")
    select = ", ".join(f"rp.{quote_name(c)}" if c in REPLAYED_COLUMNS else f"r.{quote_name(c)}" for c in cols)
    select += ", " + ", ".join(expr for _t, expr in CERTIFICATE_DERIVED.values())
    return (f"select {select} from src.certificates r "
            "join temp.replayed rp on rp.cert_no = r.cert_no "
            "left join src.products p on p.id = r.product "
            "left join src.enterprises e on e.uscc = p.enterprise "
            "left join src.bodies b on b.code = r.body "
            "left join main.statuses s on s.status = rp.status "
            "left join main.industry_divisions d on d.code = substr(e.industry, 2, 2) "
            "left join main.programmes pr on pr.code = r.programme "
            f"{condition}order by r.cert_no")


def _copy_table(out, src, table):
    sql, cols, _pks = table_sql(src, table)
    out.execute(sql)
    out.execute(f"insert into main.{quote_name(table)} ({', '.join(quote_name(c) for c in cols)}) "
                + rows_select(src, table))


def _check_keys(out):
    """Only 32-byte Ed25519 public keys may be in the published keys table."""
    for key_id, public_key in out.execute("select key_id, public_key from keys order by key_id"):
        try:
            raw = canonical.unb64url(public_key or "")
        except SignatureError:
            raw = b""
        if len(raw) != 32:
            raise BuildError(f"keys table, key {key_id}, field public_key: observed "
                             f"{len(public_key or '')} characters that are not a 32-byte "
                             "base64url public key; refusing to publish possible key material")


def _copy_indexes(out, src, tables):
    for table in tables:
        drop = _operator_only_columns(table)
        for (name,) in src.execute(
                "select name from pragma_index_list(?) where origin = 'c' order by name", [table]):
            cols = [r[0] for r in src.execute(
                "select name from pragma_index_info(?) order by seqno", [name])]
            if cols and not (set(cols) & drop) and None not in cols:
                _create_index(out, table, cols)
    for table, columns in EXTRA_INDEXES:
        _create_index(out, table, columns)


def _create_index(out, table, cols):
    name = "idx_" + table + "_" + "_".join(cols)
    out.execute(f"create index if not exists {quote_name(name)} on {quote_name(table)} "
                f"({', '.join(quote_name(c) for c in cols)})")


def fts_function(conn) -> None:
    """Give ``conn`` ``szzz_fts_document()`` (:func:`fts_document`), which :func:`fts_insert_sql` calls."""
    conn.create_function("szzz_fts_document", -1, fts_document, deterministic=True)


def fts_insert_sql(table, where="") -> str:
    """INSERT of ``table``'s full-text rows (``<table>_fts``, :data:`FTS_SOURCES`)
    for its rows in ``main`` (named ``m``; ``where``: which of them): the one
    definition of what an index row holds, for the export, the incremental
    update and the live database. The index row's rowid is the table row's,
    the join Datasette searches through."""
    key, columns = FTS_SOURCES[table]
    expr = ", ".join(f"m.{quote_name(c)}" for c in columns)
    return (f"insert into main.{quote_name(table + '_fts')} (rowid, text, {quote_name(key)}) "
            f"select m.rowid, szzz_fts_document({expr}), m.{quote_name(key)} from main.{quote_name(table)} m "
            f"{'where ' + where + ' ' if where else ''}order by m.rowid")


def _build_fts(out):
    fts_function(out)
    for table, (key, _columns) in FTS_SOURCES.items():
        fts = f"{table}_fts"
        out.execute(f"create virtual table {quote_name(fts)} using fts5("
                    f"text, {quote_name(key)} unindexed, tokenize = 'unicode61')")
        out.execute(fts_insert_sql(table))
        out.execute(f"insert into {quote_name(fts)}({quote_name(fts)}) values ('optimize')")


def _check_fts(out):
    """Datasette joins ``<table>.rowid`` to ``<table>_fts.rowid``: after VACUUM
    they must still name the same row (VACUUM may renumber implicit rowids)."""
    for table, (key, _cols) in FTS_SOURCES.items():
        bad = out.execute(
            f"select count(*) from {quote_name(table)} t join {quote_name(table + '_fts')} f "
            f"on f.rowid = t.rowid where f.{quote_name(key)} is not t.{quote_name(key)}").fetchone()[0]
        total = out.execute(f"select count(*) from {quote_name(table + '_fts')}").fetchone()[0]
        rows = out.execute(f"select count(*) from {quote_name(table)}").fetchone()[0]
        if bad or total != rows:
            raise BuildError(f"{table}_fts: {bad} rows point at the wrong {table} row and "
                             f"{total} index rows for {rows} table rows after VACUUM; expected 0 and equal")


def source_uri(source_db) -> str:
    """The URI to attach registry ``source_db`` as ``src``: read-only (the
    operator's file, or the build's snapshot of it, is only read)."""
    source_file = source_db.execute("pragma database_list").fetchone()[2]
    if not source_file:
        raise BuildError("the registry database must be a file to export it")
    # uri=True on the connection lets ATTACH take the mode=ro URI.
    return Path(source_file).resolve().as_uri() + "?mode=ro"


def load_statuses(out, statuses) -> None:
    """``temp.replayed``: the statuses :func:`rows_select` publishes (``{cert_no:
    (status, status_date, last_seq)}``, the replay of the signed events)."""
    out.execute("create temp table replayed (cert_no TEXT PRIMARY KEY, status TEXT, "
                "status_date TEXT, last_seq INTEGER)")
    out.executemany("insert into temp.replayed values (?, ?, ?, ?)",
                    ((no, *replay) for no, replay in statuses.items()))


def table_counts(out, tables) -> dict:
    """``{table: rows}`` of the public database ``out`` (a build's summary)."""
    return {t: out.execute(f"select count(*) from {quote_name(t)}").fetchone()[0] for t in tables}


@contextlib.contextmanager
def staged_database(out_path, source_db, *, start_from=None, pragmas=()) -> Iterator[sqlite3.Connection]:
    """A connection to a new public database for ``out_path``, built under
    ``.<name>.tmp-<pid>`` beside it (a copy of ``start_from`` when given, else
    empty) with ``pragmas`` run first and registry ``source_db`` attached as
    ``src`` (read-only). Renamed into place when the block ends without an
    error; else removed, and ``out_path`` is untouched. The one way the full
    export and the incremental update write a public database."""
    out_path = Path(out_path)
    source = source_uri(source_db)
    tmp = out_path.with_name(f".{out_path.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    if start_from is not None:
        fs.copy_file(start_from, tmp)
    # uri=True so that ATTACH accepts the read-only file: URI of the source.
    out = sqlite3.connect(f"file:{tmp}", uri=True, isolation_level=None)
    try:
        for pragma in pragmas:
            out.execute(pragma)
        out.execute("attach database ? as src", [source])
        yield out
        out.close()
        os.replace(tmp, out_path)
    except BaseException:
        out.close()
        tmp.unlink(missing_ok=True)
        raise


def export_public_db(source_db, out_path, *, statuses=None) -> dict:
    """Write the public database of registry ``source_db`` to ``out_path``.

    ``source_db`` is an open registry (``schema.connect``). Each certificate's
    status is ``statuses`` (:func:`registry.store.history.replayed_statuses`, computed
    here when not given), checked against the registry's cache first
    (StatusCacheError). The file is built under ``<out_path>.tmp-<pid>`` and
    renamed into place only when complete. Returns ``{"path", "tables": {name: rows}}``.
    """
    out_path = Path(out_path)
    tables = classify_tables(source_db)
    if statuses is None:
        statuses = history.replayed_statuses(source_db)
    history.check_status_cache(source_db, statuses)
    with staged_database(out_path, source_db,
                         pragmas=("pragma journal_mode = delete", "pragma page_size = 4096")) as out:
        out.execute("begin")
        load_statuses(out, statuses)
        _reference_tables(out)
        meta_keys = ",".join("?" * len(PUBLIC_META_KEYS))
        out.execute("create table meta (key TEXT PRIMARY KEY, value TEXT)")
        out.execute(f"insert into meta select key, value from src.meta where key in ({meta_keys}) "
                    "order by key", PUBLIC_META_KEYS)
        for table in tables:
            _copy_table(out, source_db, table)
        _check_keys(out)
        _copy_indexes(out, source_db, tables)
        _build_fts(out)
        out.execute("commit")
        out.execute("detach database src")
        out.execute("vacuum")
        _check_fts(out)
        counts = table_counts(out, tables)
    return {"path": str(out_path), "tables": counts}


# ------------------------------------------------------------------ CSV

BOM = "\ufeff"


def csv_lines(header, rows) -> list[str]:
    """The lines of :func:`csv_bom` (without the BOM): the header, then one
    string per row, each ending in CRLF (a row's cells may hold line breaks:
    it is still one string). The downloads splice rows by these lines."""
    lines: list[str] = []
    sink = _Lines(lines)
    writer = csv.writer(sink, lineterminator="\r\n")
    writer.writerow([spreadsheet.safe_cell(h) for h in header])
    for row in rows:
        writer.writerow(["" if v is None else spreadsheet.safe_cell(v) for v in row])
    return lines


class _Lines:
    """A file for :func:`csv.writer` that keeps each row's text apart (the
    writer hands every row to ``write`` in one call)."""

    def __init__(self, lines: list[str]):
        self.write = lines.append


def csv_bom(header, rows) -> str:
    """``header`` and ``rows`` as CSV text for Excel: UTF-8 BOM, CRLF line ends,
    every cell made safe to open (:func:`registry.core.spreadsheet.safe_cell`).

    Excel opens a UTF-8 CSV in the local ANSI code page (GBK on Chinese
    Windows) unless it starts with a BOM, and Chinese turns into mojibake.
    A text cell that a spreadsheet would run as a formula (``=…``, ``+…``,
    ``-…``, ``@…``; OWASP "CSV Injection") gets a leading ``'``; the true
    values stay in the database and the JSON. Used by the downloads and by the
    Datasette plugin's ``.csvbom`` renderer.
    """
    return BOM + "".join(csv_lines(header, rows))
