"""Reading the registry for the site: a few ordered queries, records in memory.

The pages of records (certificates, products, enterprises) are rendered from
Python objects read in a few ordered queries, not one query per page (tens
of thousands of round trips at 10k certificates): one JOINed query reads the
certificates and a handful of ordered scans read the rest. A full build reads
every record (:func:`load`: about 2 KB per certificate); an incremental one
reads only the enterprises whose pages it renders, with their products and
certificates (:func:`load_records`), by the same code, so a page comes out
the same either way. Registry-wide figures (counts, lists, feeds, the
sitemap) are SQL over the whole registry (:mod:`szzz_registry.queries`).

The database is opened read-only (``mode=ro`` URI): building the site never
writes to the registry.
"""

import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from registry.core import industries, lifecycle, reference
from registry.core.exceptions import BuildError, SchemaError
from registry.store import schema
from szzz_registry.urls import slug


def _rows(conn, sql, params=()):
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur]


def _json_list(value, what):
    """``products.models`` is a JSON array in the db; tolerate a bare string."""
    if value in (None, ""):
        return []
    try:
        out = json.loads(value)
    except ValueError:
        return [value]
    if isinstance(out, str):
        return [out]
    if not isinstance(out, list):
        raise BuildError(f"{what}: observed {type(out).__name__}, expected a JSON array")
    return [str(x) for x in out]


def _json_dict(value, what):
    if value in (None, ""):
        return {}
    try:
        out = json.loads(value)
    except ValueError as e:
        raise BuildError(f"{what}: not JSON ({e})") from None
    if not isinstance(out, dict):
        raise BuildError(f"{what}: observed {type(out).__name__}, expected a JSON object")
    return out


@dataclass(repr=False)
class SiteData:
    """Everything the site shows, keyed for the templates."""

    bodies: dict = field(default_factory=dict)        # code -> row
    standards: dict = field(default_factory=dict)     # code -> row (+ slug, certificates)
    enterprises: dict = field(default_factory=dict)   # uscc -> row (+ products)
    products: dict = field(default_factory=dict)      # id -> row (+ certificates)
    certificates: list = field(default_factory=list)  # rows by cert_no
    events: list = field(default_factory=list)        # certificate events, seq ascending
    notices: list = field(default_factory=list)       # notices, newest first
    last_seq: int = 0
    latest_event_date: str = None
    demo: str | None = None     # the registry's meta.demo: set when it is demo data

    def __repr__(self):
        # The rows point at each other (certificate -> product -> certificates):
        # the dataclass repr of a real registry is gigabytes (a failing test's
        # report prints its arguments).
        return (f"SiteData({len(self.certificates)} certificates, {len(self.products)} products, "
                f"{len(self.enterprises)} enterprises, last_seq={self.last_seq}, demo={self.demo!r})")

    @property
    def by_cert_no(self):
        return {c["cert_no"]: c for c in self.certificates}


def open_readonly(path):
    """Open the registry read-only and check its schema version."""
    path = Path(path)
    if not path.is_file():
        raise BuildError(f"SZZZ['db'] = {str(path)!r}: no such registry database")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("select value from meta where key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as e:
        conn.close()
        raise BuildError(f"{path}: not a registry database ({e})") from None
    version = int(row[0]) if row else 0
    if version != schema.SCHEMA_VERSION:
        conn.close()
        raise SchemaError(
            f"{path}: schema version {version}, expected {schema.SCHEMA_VERSION} "
            "(run any szzz command on it to migrate)"
        )
    return conn


def load(path) -> SiteData:
    """Read the whole public registry in a few ordered queries."""
    conn = open_readonly(path)
    try:
        return load_records(conn)
    finally:
        conn.close()


# A partial read: the enterprises given as one JSON array, their products,
# their products' certificates — each an indexed lookup (the enterprise and
# product columns are indexed), never a scan of the registry.
_ENTERPRISES = "select value from json_each(?)"
_PRODUCTS = f"select id from products where enterprise in ({_ENTERPRISES})"
_CERTIFICATES = f"select cert_no from certificates where product in ({_PRODUCTS})"


def load_records(conn, enterprises=None) -> SiteData:
    """The records of the open registry ``conn``: all of them, or (``enterprises``:
    USCCs) those enterprises with all their products and the products' certificates,
    events and notices — everything their pages and their certificates' pages show.
    Bodies, standards and notices (registry-wide tables, a few rows) are always read
    whole; their ``certificates`` lists hold only the certificates read."""
    if enterprises is None:
        filters, params = {}, ()
    else:
        filters = {"enterprises": f" where uscc in ({_ENTERPRISES})",
                   "products": f" where enterprise in ({_ENTERPRISES})",
                   "certificates": f" where c.product in ({_PRODUCTS})",
                   "certificate_standards": f" where cert_no in ({_CERTIFICATES})",
                   "events": f" and cert_no in ({_CERTIFICATES})"}
        params = (json.dumps(sorted(enterprises)),)
    data = SiteData()
    for b in _rows(conn, "select * from bodies order by code"):
        b["certificates"] = []
        data.bodies[b["code"]] = b
    for s in _rows(conn, "select * from standards order by code"):
        s["slug"] = slug(s["code"])
        s["certificates"] = []
        data.standards[s["code"]] = s
    for e in _rows(conn, f"select * from enterprises{filters.get('enterprises', '')} order by uscc",
                   params):
        e["products"] = []
        e["district_en"] = reference.DISTRICTS.get(e["district"], "")
        e["division"] = division(e["industry"])
        data.enterprises[e["uscc"]] = e
    for p in _rows(conn, "select id, enterprise, name_zh, name_en, models, gtin, category, "
                         f"description from products{filters.get('products', '')} order by id", params):
        p["models"] = _json_list(p["models"], f"product {p['id']}, field models")
        p["certificates"] = []
        enterprise = data.enterprises.get(p["enterprise"])
        if enterprise is None:
            raise BuildError(f"product {p['id']}: enterprise {p['enterprise']} is not in the registry")
        p["enterprise_row"] = enterprise
        enterprise["products"].append(p)
        data.products[p["id"]] = p

    standards_of = defaultdict(list)
    for cert_no, code in conn.execute(
        "select cert_no, standard from certificate_standards"
        f"{filters.get('certificate_standards', '')} order by cert_no, standard", params
    ):
        standards_of[cert_no].append(code)

    certs = _rows(conn, f"""
        select c.cert_no, c.product, c.body, c.programme, c.scope, c.issued, c.expires, c.status,
               c.status_date, c.mark_authorised, c.evaluation, c.revision, c.key_id, c.digest,
               c.mark_payload, c.last_seq
        from certificates c left join products p on p.id = c.product{filters.get('certificates', '')}
        order by c.cert_no""", params)
    for c in certs:
        where = f"certificate {c['cert_no']}"
        product = data.products.get(c["product"])
        body = data.bodies.get(c["body"])
        if product is None or body is None:
            raise BuildError(f"{where}: product {c['product']} or body {c['body']} is missing")
        if c["status"] not in lifecycle.STATUSES:
            raise BuildError(f"{where}, field status: observed {c['status']!r}, "
                             f"expected one of {', '.join(lifecycle.STATUSES)}")
        c["product_row"] = product
        c["enterprise_row"] = product["enterprise_row"]
        c["body_row"] = body
        c["evaluation"] = _json_dict(c["evaluation"], f"{where}, field evaluation")
        c["standards"] = [data.standards[s] for s in standards_of.get(c["cert_no"], ())
                          if s in data.standards]
        c["programme_names"] = reference.PROGRAMMES.get(c["programme"], (c["programme"], ""))
        c["history"] = []
        c["notices"] = []
        product["certificates"].append(c)
        body["certificates"].append(c)
        for s in c["standards"]:
            s["certificates"].append(c)
    data.certificates = certs
    by_no = {c["cert_no"]: c for c in certs}

    for ev in _rows(conn, f"""
            select seq, type, cert_no, date, actor, reason, notice, key_id, signature
            from events where cert_no is not null{filters.get('events', '')} order by seq""", params):
        cert = by_no.get(ev["cert_no"])
        if cert is None:
            raise BuildError(f"event {ev['seq']}: certificate {ev['cert_no']} is not in the registry")
        ev["cert"] = cert
        cert["history"].append(ev)
        data.events.append(ev)

    data.notices = _rows(conn, """
        select n.id, n.date, n.kind, n.title_zh, n.title_en, n.text_zh, n.text_en,
               n.cert_no, n.body, n.event_seq
        from notices n order by n.date desc, n.id desc""")
    for n in data.notices:
        if n["cert_no"] in by_no:
            by_no[n["cert_no"]]["notices"].append(n)
    for c in certs:
        c["status_event"] = _status_event(c)
    row = conn.execute("select max(seq), (select date from events order by seq desc limit 1) "
                       "from events").fetchone()
    data.last_seq, data.latest_event_date = (row[0] or 0), row[1]
    # The registry's own record of being demo data (store.demo sets it; the
    # public export keeps it): the one signal of the demo banner (docs/site.md).
    row = conn.execute("select value from meta where key = 'demo'").fetchone()
    data.demo = row[0] if row and row[0] else None
    return data


def _status_event(cert):
    """The signed event that gave the certificate its current status (the one the
    page cites as the reason the mark may not be used), or None."""
    status, found = None, None
    for ev in cert["history"]:
        after = lifecycle.TRANSITIONS.get(ev["type"], {}).get(status)
        if after is None:
            return None  # the public database replays; validation refused anything else
        if after != status:
            found = ev
        status = after
    return found if status == cert["status"] else None


def division(industry_code):
    """``C3562`` -> ``C35`` (the list the enterprise appears in)."""
    if not industry_code or len(industry_code) < 3:
        return None
    return industry_code[:1] + industries.division_of(industry_code)
