"""Registry-wide figures for the site, in SQL: what the lists, statistics,
body, standard and home pages, the feeds and the sitemap show of the whole
registry, read the same way by a full and an incremental build.

A full build has every record in memory (:mod:`szzz_registry.data`); an
incremental one only the records it renders. What both need of the rest is
asked here, mostly in one scan: :func:`counts` groups every certificate by
(status, district, industry, body, programme), which gives every list's
size, the status counts of each body and the statistics' breakdowns.
"""

import json
from collections import Counter

from registry.core import lifecycle, reference
from szzz_registry.data import division

# Every certificate with its product's enterprise (the district and industry lists).
CERTS = ("certificates c join products p on p.id = c.product "
         "join enterprises e on e.uscc = p.enterprise")
LIST_KINDS = ("status", "district", "industry", "body", "programme")
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


class Counts:
    """Every certificate counted by (status, district, industry division, body,
    programme): one scan of the registry."""

    def __init__(self, conn):
        self.rows = [(status, district, division(industry), body, programme, n)
                     for status, district, industry, body, programme, n in conn.execute(
                         "select c.status, e.district, e.industry, c.body, c.programme, count(*) "
                         f"from {CERTS} group by 1, 2, 3, 4, 5")]
        self.industries = [r[0] for r in conn.execute(
            "select distinct industry from enterprises order by industry")]

    def by(self, kind, *, status=None) -> Counter:
        """Certificates by ``kind`` (of ``status`` only, when given); by industry, the
        key is the division (``C35``), None for a code too short to have one."""
        i = LIST_KINDS.index(kind)
        out = Counter()
        for row in self.rows:
            if status is None or row[0] == status:
                out[row[i]] += row[5]
        return out

    def of_body(self, code) -> dict:
        counts = dict.fromkeys(lifecycle.STATUSES, 0)
        for row in self.rows:
            if row[3] == code:
                counts[row[0]] += row[5]
        return counts


def list_index(conn, counts: Counts, bodies) -> dict:
    """``{kind: {key: size}}``: every list, in the order of the lists page.

    A list exists for every status, reference district, body and programme, and
    for the district and industry of every enterprise (an enterprise page links
    to both), even when it is empty; extra districts come in the order of their
    first enterprise, extra programmes of their first certificate."""
    index = {kind: {} for kind in LIST_KINDS}
    index["status"] = dict.fromkeys(lifecycle.STATUSES, 0)
    index["district"] = dict.fromkeys(reference.DISTRICTS, 0)
    for (district,) in conn.execute(
            "select district from enterprises group by district order by min(uscc)"):
        index["district"].setdefault(district, 0)
    index["industry"] = dict.fromkeys(sorted({division(code) or "-" for code in counts.industries}), 0)
    index["body"] = dict.fromkeys(bodies, 0)
    index["programme"] = dict.fromkeys(reference.PROGRAMMES, 0)
    for (programme,) in conn.execute(
            "select programme from certificates group by programme order by min(cert_no)"):
        index["programme"].setdefault(programme, 0)
    for kind in LIST_KINDS:
        for key, n in counts.by(kind).items():
            index[kind][key if kind != "industry" else key or "-"] = n
    return index


def list_condition(kind, key, counts: Counts) -> tuple:
    """``(where, params)`` of the certificates of list (``kind``, ``key``) in :data:`CERTS`."""
    if kind == "industry":
        codes = [code for code in counts.industries if (division(code) or "-") == key]
        return f" where e.industry{_IN}", (json.dumps(codes),)
    column = {"status": "c.status", "district": "e.district", "body": "c.body",
              "programme": "c.programme"}[kind]
    return f" where {column} = ?", (key,)


def list_numbers(conn, kind, key, counts: Counts) -> list:
    """The certificate numbers of list (``kind``, ``key``), ascending."""
    where, params = list_condition(kind, key, counts)
    return [no for (no,) in conn.execute(f"select c.cert_no from {CERTS}{where} order by c.cert_no",
                                         params)]


def all_list_numbers(conn) -> dict:
    """``{(kind, key): [certificate number]}`` of every list with a certificate, in one scan."""
    out = {}
    for row in conn.execute(f"select c.cert_no, c.status, e.district, e.industry, c.body, c.programme "
                            f"from {CERTS} order by c.cert_no"):
        keys = (row[1], row[2], division(row[3]) or "-", row[4], row[5])
        for kind, key in zip(LIST_KINDS, keys, strict=True):
            out.setdefault((kind, key), []).append(row[0])
    return out


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
    where, params = ("and c.body = ? ", (body,)) if body is not None else ("", ())
    rows = conn.execute(
        "select ev.seq, ev.type, ev.date, ev.actor, ev.reason, c.cert_no, c.status, c.body, p.name_zh "
        "from events ev join certificates c on c.cert_no = ev.cert_no "
        f"join products p on p.id = c.product where ev.cert_no is not null {where}"
        "order by ev.seq desc limit ?", (*params, limit))
    return [{"seq": seq, "type": kind, "date": date, "actor": actor, "reason": reason,
             "cert": {"cert_no": no, "status": status, "body": code, "product_row": {"name_zh": name}}}
            for seq, kind, date, actor, reason, no, status, code, name in rows]


def bodies_with_certificates(conn) -> set:
    return {code for (code,) in conn.execute("select distinct body from certificates")}
