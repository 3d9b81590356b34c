"""Datasette plugin for the 苏州制造 public database (``data/registry.db``).

Loaded with ``datasette --plugins-dir plugins/datasette``. It adds:

* SQL functions, so that anyone can check the published data in SQL without
  trusting the server (see ``docs/publishing.md``):

  - ``szzz_verify_envelope(domain, payload, key_id, signature)`` → 1 when
    ``signature`` is a valid Ed25519 signature by public key ``key_id`` of
    the ``keys`` table over ``domain LF payload``, else 0 (unknown key, bad
    base64, wrong domain, tampered payload: all 0, never an error). E.g.
    ``select seq, szzz_verify_envelope('szzz/event/v1', payload, key_id,
    signature) from events``. It checks the signature only; whether the key
    was trusted on that date is the trust list's business
    (``docs/verification.md``).
  - ``szzz_verify_envelope_json(envelope)`` → the same for a whole envelope
    stored as JSON text (``trust_lists.envelope``).
  - ``szzz_fts_query(text)`` → the FTS5 query for a user's search text.

* Chinese search of any length: the FTS tables index single characters
  (``registry.publish.export``), and this plugin replaces Datasette's ``escape_fts``
  (used by ``?_search=``) with :func:`registry.publish.export.fts_query`, so
  ``?_search=苏州`` (two characters) works, as does ``苏州制造``.
* ``.csvbom`` output: the rows of any table or query as CSV with a UTF-8 BOM
  and CRLF, which Excel opens with Chinese intact (``?_size=max`` for up to
  ``max_returned_rows`` rows; whole tables are in ``downloads/``).
* Facets on request outside the HTML page: a table's ``.json``, ``.csv`` and
  ``.csvbom`` compute the metadata's facets only when asked (``?_facet=``,
  or ``?_extra=facet_results`` as in Datasette 1.0); the HTML page keeps them.
* CSV a spreadsheet can open safely: in ``.csvbom`` and in Datasette's own
  ``.csv`` (offered as "CSV" on every table and query page, and downloaded by
  people for Excel), a text cell that a spreadsheet would run as a formula gets
  a leading ``'`` (:func:`registry.core.spreadsheet.safe_cell`, OWASP "CSV
  Injection"). ``.json`` and the database keep the true values.
"""

import json
import sqlite3
import urllib.parse

from datasette import hookimpl
from datasette.utils.asgi import Response

from registry.core import canonical, keys, spreadsheet
from registry.publish import export


def _public_keys(conn):
    try:
        rows = conn.execute("select key_id, public_key from keys").fetchall()
    except sqlite3.Error:
        return {}  # not the registry database (e.g. Datasette's _internal)
    out = {}
    for key_id, public_key in rows:
        try:
            out[key_id] = canonical.unb64url(public_key)
        except (ValueError, TypeError):
            continue
    return out


def verify_envelope(public_keys, domain, payload, key_id, signature) -> int:
    """1 when the envelope's signature verifies under ``public_keys[key_id]``."""
    try:
        public_raw = public_keys.get(key_id)
        if public_raw is None or not isinstance(payload, str):
            return 0
        envelope = {"type": domain, "payload": payload, "key_id": key_id, "signature": signature}
        keys.verify_envelope(envelope, domain, public_raw)
        return 1
    except Exception:  # noqa: BLE001 - a SQL function answers 0 for any bad envelope; it never aborts the query
        return 0


@hookimpl(trylast=True)
def prepare_connection(conn):
    # trylast: Datasette's own prepare_connection registers escape_fts; ours
    # runs after it, so our escape_fts is the one ?_search= calls.
    public_keys = _public_keys(conn)

    def verify(domain, payload, key_id, signature):
        return verify_envelope(public_keys, domain, payload, key_id, signature)

    def verify_json(envelope_text):
        try:
            env = json.loads(envelope_text)
            return verify(env["type"], env["payload"], env["key_id"], env["signature"])
        except Exception:  # noqa: BLE001 - as verify_envelope: any malformed text is 0, not a query error
            return 0

    conn.create_function("szzz_verify_envelope", 4, verify, deterministic=True)
    conn.create_function("szzz_verify_envelope_json", 1, verify_json, deterministic=True)
    conn.create_function("szzz_fts_query", 1, export.fts_query, deterministic=True)
    conn.create_function("escape_fts", 1, export.fts_query, deterministic=True)


def render_csv_bom(columns, rows, table, query_name):
    def values(row):
        return [row[c] for c in columns] if hasattr(row, "keys") else list(row)[:len(columns)]

    rows = [values(r) for r in rows]
    # With ?_labels=on (the table page's own links carry it) a foreign key
    # cell is {"value", "label"}: two columns, <col> and <col>_label, as
    # Datasette's .csv writes them, not the dict's repr.
    expanded = {i for row in rows for i, v in enumerate(row) if isinstance(v, dict)}
    header = [h for i, c in enumerate(columns) for h in ((c, f"{c}_label") if i in expanded else (c,))]

    def cells(row):
        for i, v in enumerate(row):
            if i not in expanded:
                yield v
            elif isinstance(v, dict):
                yield from (v.get("value"), v.get("label"))
            else:
                yield from (v, None)

    body = export.csv_bom(header, ([*cells(r)] for r in rows))
    name = (table or query_name or "query") + ".csv"
    return Response(
        body.encode("utf-8"), status=200, content_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{_safe_filename(name)}"'},
    )


def _safe_filename(name):
    return "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)


@hookimpl
def register_output_renderer(datasette):
    return {"extension": "csvbom", "render": render_csv_bom}


# Datasette's .csv -------------------------------------------------------
# Datasette writes .csv itself (views/base.py as_csv, streamed page by page)
# and dispatches the "csv" format before any output renderer, so the one hook
# that sees it is asgi_wrapper (https://docs.datasette.io/en/stable/plugin_hooks.html,
# "asgi_wrapper(datasette)"): the response body of a .csv request is passed
# through spreadsheet.SafeCsvStream. Only CSV bodies are touched: Datasette's
# error pages and the ?_trace=1 debug view of a .csv URL are HTML.
CSV_CONTENT_TYPES = (b"text/csv", b"text/plain")


def _is_csv_request(scope):
    if scope.get("type") != "http":
        return False
    # Datasette routes on raw_path when the server gives it, else on path.
    paths = (scope.get("path") or "", (scope.get("raw_path") or b"").decode("latin-1"))
    return any(p.endswith(".csv") for p in paths)


# Facets on request, outside the HTML page ------------------------------
# The metadata's facets (opendata.FACETS) cost one GROUP BY each on every
# table request, .json and .csv included, where programs rarely read them
# (issue 13: they were a third of a filtered table JSON request's time).
# As in Datasette 1.0, a table's .json (and .csv, .csvbom) computes facets
# only when asked: ?_facet=COLUMN, or ?_extra=... (1.0's way of asking for
# facet_results). The HTML table page keeps its facets.
FACET_REQUESTS = ("_facet", "_extra", "_nofacet")  # _facet also covers _facet_array, _facet_date


def _wants_nofacet(scope):
    if scope.get("type") != "http":
        return False
    path = scope.get("path") or ""
    last = path.rsplit("/", 1)[-1]
    if "." not in last or path.startswith("/-/"):
        return False  # an HTML page, or Datasette's own /-/ pages
    names = {urllib.parse.unquote_plus(part.split(b"=", 1)[0].decode("latin-1"))
             for part in (scope.get("query_string") or b"").split(b"&") if part}
    return not any(n.startswith(r) for n in names for r in FACET_REQUESTS)


def facets_on_request(scope):
    """``scope`` with ``_nofacet=1`` added to a non-HTML request that did not ask for facets."""
    if not _wants_nofacet(scope):
        return scope
    query = scope.get("query_string") or b""
    return dict(scope, query_string=query + (b"&" if query else b"") + b"_nofacet=1")


def safe_csv_app(app):
    """``app`` with facets only on request outside HTML pages (:func:`facets_on_request`)
    and the body of every ``.csv`` response made safe to open."""

    async def wrapped(scope, receive, send):
        scope = facets_on_request(scope)
        if not _is_csv_request(scope):
            await app(scope, receive, send)
            return
        stream = None

        async def send_safe(message):
            nonlocal stream
            if message["type"] == "http.response.start":
                headers = message.get("headers") or []
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.lower().startswith(CSV_CONTENT_TYPES):
                    stream = spreadsheet.SafeCsvStream()
                    # The body grows by the prefixes: a declared length would be wrong.
                    message = dict(message, headers=[(k, v) for k, v in headers
                                                     if k.lower() != b"content-length"])
            elif message["type"] == "http.response.body" and stream is not None:
                body = stream.feed(message.get("body", b""))
                if not message.get("more_body", False):
                    body += stream.close()
                message = dict(message, body=body)
            await send(message)

        await app(scope, receive, send_safe)

    return wrapped


@hookimpl
def asgi_wrapper(datasette):
    return safe_csv_app
