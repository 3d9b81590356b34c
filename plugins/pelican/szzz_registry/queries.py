"""Questions the site asks of the registry in SQL, the same in a full and an
incremental build: the rows of a list page or a standard page, a window of a
list, the newest events (feeds, home), the build's last event.

A full build has every record in memory (:mod:`szzz_registry.data`); an
incremental one only the records it renders. Registry-wide counts are
:mod:`szzz_registry.figures`.
"""

import json

# Every certificate with its product's enterprise (the district and industry lists).
CERTS = ("certificates c join products p on p.id = c.product "
         "join enterprises e on e.uscc = p.enterprise")
_IN = " in (select value from json_each(?))"
# What a row of a certificate table shows (macros.html, cert_table).
_SUMMARY = ("select c.cert_no, c.status, c.expires, p.name_zh, e.name_zh from " + CERTS)


def facts(conn) -> dict:
    """``last_seq``, ``latest_event_date`` and ``demo`` (the registry's ``meta.demo``)."""
    last_seq, latest = conn.execute(
        "select max(seq), (select date from events order by seq desc limit 1) from events").fetchone()
    row = conn.execute("select value from meta where key = 'demo'").fetchone()
    return {"last_seq": last_seq or 0, "latest_event_date": latest,
            "demo": row[0] if row and row[0] else None}


def summaries(conn, where="", params=(), *, limit=-1, offset=0) -> list:
    """Rows of a certificate table (``cert_no``, ``status``, ``expires``, ``product_row``
    and ``enterprise_row`` names), by certificate number."""
    sql = f"{_SUMMARY}{where} order by c.cert_no limit ? offset ?"
    return [{"cert_no": no, "status": status, "expires": expires,
             "product_row": {"name_zh": product}, "enterprise_row": {"name_zh": enterprise}}
            for no, status, expires, product, enterprise in conn.execute(sql, (*params, limit, offset))]


def list_condition(kind, key, figures, *, walk=False) -> tuple:
    """``(where, params)`` of the certificates of list (``kind``, ``key``) in :data:`CERTS`.

    Either by an index (the status, body or programme column; the enterprises of
    a district; those of an industry, found in the enterprises), or, with
    ``walk``, by no index (``+column``), so that SQLite walks the certificates by
    number and stops at a ``limit`` (:func:`list_window`)."""
    plus = "+" if walk else ""
    if kind == "industry":
        codes = json.dumps(figures.industry_codes(key))
        if walk:
            return f" where +e.industry{_IN}", (codes,)
        return f" where p.enterprise in (select uscc from enterprises where industry{_IN})", (codes,)
    column = {"status": "c.status", "district": "e.district", "body": "c.body",
              "programme": "c.programme"}[kind]
    return f" where {plus}{column} = ?", (key,)


def _certificates_of(kind) -> str:
    """What a list of ``kind`` is selected from: the certificates, with their
    enterprises when the list is by district or industry."""
    return CERTS if kind in ("district", "industry") else "certificates c"


def list_window(conn, kind, key, figures, cert_no, op, limit) -> list:
    """Up to ``limit`` certificate numbers of list (``kind``, ``key``) from ``cert_no``:
    descending from it (``op`` ``"<="``) or before it (``"<"``), or ascending after
    it (``">"``; None: from the list's start). Reads about ``limit`` / (the list's
    share of the registry) certificates, by the primary key: for long lists, not
    short ones."""
    if op not in ("<=", "<", ">"):
        raise ValueError(f"list_window: op {op!r}, expected <=, < or >")
    where, params = list_condition(kind, key, figures, walk=True)
    bound, order = "", "desc" if op.startswith("<") else "asc"
    if cert_no is not None:
        bound, params = f" and c.cert_no {op} ?", (*params, cert_no)
    return [no for (no,) in conn.execute(
        f"select c.cert_no from {_certificates_of(kind)}{where}{bound} order by c.cert_no {order} limit ?",
        (*params, limit))]


def list_numbers(conn, kind, key, figures) -> list:
    """The certificate numbers of list (``kind``, ``key``), ascending."""
    where, params = list_condition(kind, key, figures)
    return [no for (no,) in conn.execute(
        f"select c.cert_no from {_certificates_of(kind)}{where} order by c.cert_no", params)]


def summaries_of(conn, cert_nos) -> list:
    """:func:`summaries` of the certificates ``cert_nos``."""
    return summaries(conn, f" where c.cert_no{_IN}", (json.dumps(sorted(cert_nos)),))


def standard(conn, code, limit) -> tuple:
    """(how many certificates cite standard ``code``, the first ``limit`` of them)."""
    where = " where c.cert_no in (select cert_no from certificate_standards where standard = ?)"
    n = conn.execute("select count(*) from certificate_standards where standard = ?",
                     (code,)).fetchone()[0]
    return n, summaries(conn, where, (code,), limit=limit)


def events(conn, *, limit, body=None) -> list:
    """The newest ``limit`` certificate events (of ``body``'s certificates), newest first,
    each with the certificate's number, status and product name (``ev["cert"]``)."""
    # "+c.body": not by the body's index (every certificate of the body, then a
    # sort), but the events newest first until ``limit`` of them are the body's.
    where, params = ("and +c.body = ? ", (body,)) if body is not None else ("", ())
    rows = conn.execute(
        "select ev.seq, ev.type, ev.date, ev.actor, ev.reason, c.cert_no, c.status, c.body, p.name_zh "
        "from events ev join certificates c on c.cert_no = ev.cert_no "
        f"join products p on p.id = c.product where ev.cert_no is not null {where}"
        "order by ev.seq desc limit ?", (*params, limit))
    return [{"seq": seq, "type": kind, "date": date, "actor": actor, "reason": reason,
             "cert": {"cert_no": no, "status": status, "body": code, "product_row": {"name_zh": name}}}
            for seq, kind, date, actor, reason, no, status, code, name in rows]
