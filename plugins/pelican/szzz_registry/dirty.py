"""Which pages a set of changed records feeds: the site's half of the
dependency map in docs/publishing.md ("Incremental builds").

The changes (``SZZZ["incremental"]``) are the certificates with an event
after the earlier build's ``since_seq`` and the products and enterprises
whose rows are new or changed. Each changed certificate feeds its own page,
its product's, enterprise's and body's pages and its standards' pages, and
in each list it is on (its status, district, industry, body and programme)
the page it is on, or was on; a list's pages are cut so that a certificate
joining or leaving it changes only its own page and its neighbours'
(:mod:`szzz_registry.paging`), and the list's first page (its size and
index of pages): :class:`ListChange` records which certificates joined,
left, or show a new row, and the generator works out the pages.

A product feeds its page, its enterprise's and its certificates'; an
enterprise, its page, its products' and their certificates'. A certificate
whose product or enterprise row changed after it was issued (outside the
store's operations: nothing in it edits those rows) may have left a district
or industry list nobody can name any more, so every district and industry
list is redrawn. Registry-wide pages (home, lists index, statistics,
notices, feeds, sitemap, search index) are the generator's to decide.
"""

import json
from dataclasses import dataclass, field

from registry.core import lifecycle
from szzz_registry import queries
from szzz_registry.data import division

_IN = " in (select value from json_each(?))"


@dataclass
class ListChange:
    """What changed in one list: certificates that joined it, left it, or stayed with a new row."""

    joined: set = field(default_factory=set)
    left: set = field(default_factory=set)
    changed: set = field(default_factory=set)

    def __bool__(self):
        return bool(self.joined or self.left or self.changed)


class Dirty:
    """``full``: everything is dirty. Else the sets of changed page keys and,
    per list, None (every page) or its :class:`ListChange`."""

    def __init__(self):
        self.full = True
        self.certificates = self.products = self.enterprises = set()
        self.bodies = self.standards = set()
        self.lists = {}         # (kind, key) -> None (every page) or ListChange
        self.all_lists = set()  # kinds whose every list is dirty
        # A page may be new (a new certificate, product or enterprise): the sitemap
        # is written whole. A changed certificate is new, or its product row
        # changed (its GTIN, so its exact-lookup keys): the search index is.
        self.new_pages = self.new_certificates = self.rekeyed = True
        # The changed certificates (number, product, enterprise, status, body,
        # programme, district, industry), their statuses before (absent: new),
        # whether an enterprise changed, and whether the product or enterprise
        # row of an issued one did (figures.py: then counted anew).
        self.rows, self.before = [], {}
        self.enterprises_changed = self.rewritten = True

    @classmethod
    def everything(cls):
        return cls()

    @classmethod
    def of(cls, conn, changes):
        """The pages ``changes`` (``SZZZ["incremental"]``) feed, from registry ``conn``."""
        self = cls()
        self.full = False
        since = changes["since_seq"]
        products = {int(p) for p in changes.get("products", ())}
        enterprises = set(changes.get("enterprises", ()))
        certs = set(changes.get("certificates", ()))
        certs.update(r[0] for r in conn.execute(  # by the indexed product column: no scan
            f"select cert_no from certificates where product{_IN} or product in "
            f"(select id from products where enterprise{_IN})",
            (json.dumps(sorted(products)), json.dumps(sorted(enterprises)))))
        rows = conn.execute(
            "select c.cert_no, c.product, p.enterprise, c.status, c.body, c.programme, e.district, "
            f"e.industry from {queries.CERTS} where c.cert_no{_IN} order by c.cert_no",
            (json.dumps(sorted(certs)),)).fetchall()
        before = _statuses_at(conn, [r[0] for r in rows], since)
        self.rows, self.before = rows, before
        self.new_certificates = any(r[0] not in before for r in rows)
        self.rekeyed = any(r[0] in before and r[1] in products for r in rows)
        self.new_pages = self.new_certificates or bool(products) or bool(enterprises)
        self.enterprises_changed = bool(enterprises)
        self.rewritten = any(r[0] in before and (r[1] in products or r[2] in enterprises) for r in rows)
        self.certificates = {r[0] for r in rows}
        self.products = products | {r[1] for r in rows}
        self.enterprises = enterprises | {r[2] for r in rows} | {e for (e,) in conn.execute(
            f"select enterprise from products where id{_IN}", (json.dumps(sorted(products)),))}
        self.bodies = {r[4] for r in rows}
        self.standards = {s for (s,) in conn.execute(
            f"select distinct standard from certificate_standards where cert_no{_IN}",
            (json.dumps(sorted(self.certificates)),))}
        for cert_no, product, enterprise, status, body, programme, district, industry in rows:
            old = before.get(cert_no)
            keys = {"status": status, "district": district, "industry": division(industry) or "-",
                    "body": body, "programme": programme}
            rewritten = product in products or enterprise in enterprises
            if old is not None and rewritten:
                self.all_lists |= {"district", "industry"}
            for kind, key in keys.items():
                if old is not None and rewritten:
                    self.lists[(kind, key)] = None
                elif old is None or (kind == "status" and old != status):
                    self._change(kind, key).joined.add(cert_no)
                else:
                    self._change(kind, key).changed.add(cert_no)
            if old is not None and old != status:
                self._change("status", old).left.add(cert_no)
        return self

    def _change(self, kind, key) -> ListChange:
        change = self.lists.setdefault((kind, key), ListChange())
        return change if change is not None else ListChange()  # a whole list: nothing to record

    def page(self, kind, key) -> bool:
        """Whether page ``kind`` (certificate, product, …) of ``key`` must be rendered."""
        return self.full or key in getattr(self, {"certificate": "certificates", "product": "products",
                                                  "enterprise": "enterprises", "body": "bodies",
                                                  "standard": "standards"}[kind])

    def list_change(self, kind, key):
        """None: every page of list (``kind``, ``key``) is dirty; else its :class:`ListChange`."""
        if self.full or kind in self.all_lists:
            return None
        return self.lists.get((kind, key), ListChange())


def _statuses_at(conn, cert_nos, seq) -> dict:
    """The status of each certificate after the events up to ``seq`` (absent: not issued yet)."""
    out, current = {}, None
    for cert_no, kind in conn.execute(
            f"select cert_no, type from events where cert_no{_IN} and seq <= ? order by cert_no, seq",
            (json.dumps(cert_nos), seq)):
        if cert_no != current:
            current, status = cert_no, None
        status = lifecycle.next_status(status, kind, cert_no=cert_no)
        out[cert_no] = status
    return out
