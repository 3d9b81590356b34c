"""The registry-wide figures of the site: what the lists index, the list
pages' sizes, the body pages, the statistics and the home page show of the
whole registry.

A full build computes them in SQL (:meth:`Figures.compute`: a scan of every
certificate, ~0.2–1 s at 100,000 and ten times that at 1M). Every build
records them (``SZZZ["figures"]``, a file beside the site, never published),
and an incremental build brings the earlier build's up to date from the
changed certificates alone (:meth:`Figures.update`): their old and new list
keys, their products' first issue and "has a valid certificate", their new
events. The two agree by construction, which tests/publish/test_incremental.py
checks byte for byte on the pages and on this file.

* ``rows``: certificates by (status, district, industry code, body, programme);
* ``industries``, ``districts``, ``programmes``: the industry codes of the
  enterprises, their districts in the order of their first enterprise (by
  USCC), the certificates' programmes in the order of their first certificate
  — the keys of the lists that exist even when empty;
* ``enterprises``: how many; ``first_issues``: products by the date of their
  first certificate; ``products_valid``: products with a valid certificate;
  ``years``: suspensions and revocations by year (statistics, ``stats.py``).
"""

import json
from collections import Counter

from registry.core import lifecycle, reference
from szzz_registry.data import division

FORMAT = "szzz-site-figures/v1"
KINDS = ("status", "district", "industry", "body", "programme")
_IN = " in (select value from json_each(?))"
# A suspension takes a valid certificate to suspended: ``suspended`` always
# does (lifecycle.TRANSITIONS allows it from valid only); ``surveillance_failed``
# only on a valid certificate (on a suspended one it changes nothing).
SUSPENDING = tuple(t for t, moves in lifecycle.TRANSITIONS.items()
                   if moves.get(lifecycle.VALID) == lifecycle.SUSPENDED)
_ALWAYS = tuple(t for t in SUSPENDING if set(lifecycle.TRANSITIONS[t]) == {lifecycle.VALID})


class Figures:
    def __init__(self, state: dict):
        self.last_seq = state["last_seq"]
        self.rows = Counter({tuple(k): n for k, n in state["rows"]})
        self.industries = state["industries"]
        self.districts = state["districts"]
        self.programmes = state["programmes"]
        self.enterprises = state["enterprises"]
        self.first_issues = Counter(state["first_issues"])
        self.products_valid = state["products_valid"]
        self.years = Counter({tuple(k.split(" ")): n for k, n in state["years"].items()})

    # ------------------------------------------------------------ reading
    @classmethod
    def compute(cls, conn, last_seq):
        """The figures of registry ``conn`` (whose last event is ``last_seq``), in SQL."""
        rows = conn.execute(
            "select c.status, e.district, e.industry, c.body, c.programme, count(*) from certificates c "
            "join products p on p.id = c.product join enterprises e on e.uscc = p.enterprise "
            "group by 1, 2, 3, 4, 5").fetchall()
        first = conn.execute("select first_issued, count(*) from (select min(issued) as first_issued "
                             "from certificates group by product) group by 1").fetchall()
        valid = conn.execute("select count(distinct product) from certificates where status = ?",
                             (lifecycle.VALID,)).fetchone()[0]
        self = cls({"last_seq": last_seq, "rows": [(r[:5], r[5]) for r in rows], "first_issues": dict(first),
                    "products_valid": valid, "years": {}, **_enterprise_keys(conn), **_programmes(conn)})
        self.years = _years(conn)
        return self

    @classmethod
    def read(cls, path, last_seq):
        """The figures recorded in ``path`` when they are those of the registry at
        ``last_seq``, else None."""
        try:
            with open(path, encoding="utf-8") as f:
                state = json.load(f)
        except (OSError, ValueError):
            return None
        if not isinstance(state, dict) or state.get("format") != FORMAT or state.get("last_seq") != last_seq:
            return None
        return cls(state)

    def write(self, path) -> None:
        state = {"format": FORMAT, "last_seq": self.last_seq,
                 "rows": sorted([list(k), n] for k, n in self.rows.items() if n),
                 "industries": self.industries, "districts": self.districts, "programmes": self.programmes,
                 "enterprises": self.enterprises,
                 "first_issues": {d: n for d, n in sorted(self.first_issues.items()) if n},
                 "products_valid": self.products_valid,
                 "years": {" ".join(k): n for k, n in sorted(self.years.items()) if n}}
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(json.dumps(state, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n")

    # ----------------------------------------------------------- updating
    def update(self, conn, dirty, last_seq) -> bool:
        """Bring the figures to registry ``conn`` at ``last_seq`` from ``dirty`` (its
        changed certificates, their statuses before, whether a product or enterprise
        row changed under an issued certificate: then False, compute them anew)."""
        if dirty.rewritten:
            return False
        new = [r[0] for r in dirty.rows if r[0] not in dirty.before]
        for cert_no, _product, _enterprise, status, body, programme, district, industry in dirty.rows:
            old = dirty.before.get(cert_no)
            if old is not None:
                self.rows[(old, district, industry, body, programme)] -= 1
            self.rows[(status, district, industry, body, programme)] += 1
        if dirty.enterprises_changed:
            self.__dict__.update(_enterprise_keys(conn))
        if any(r[5] not in self.programmes for r in dirty.rows):
            self.programmes = _programmes(conn)["programmes"]
        for product in {r[1] for r in dirty.rows}:
            certs = conn.execute("select cert_no, status, issued from certificates where product = ?",
                                 (product,)).fetchall()
            was = [c for c in certs if c[0] not in new]
            if was:
                self.first_issues[min(c[2] for c in was)] -= 1
            self.first_issues[min(c[2] for c in certs)] += 1
            before = [dirty.before.get(c[0], c[1]) if c[0] in dirty.certificates else c[1] for c in was]
            self.products_valid += (any(c[1] == lifecycle.VALID for c in certs)
                                    - (lifecycle.VALID in before))
        status, current = None, None
        for cert_no, seq, kind, date in conn.execute(
                f"select cert_no, seq, type, date from events where cert_no{_IN} order by cert_no, seq",
                (json.dumps(sorted(dirty.certificates)),)):
            if cert_no != current:
                status, current = None, cert_no
            if seq > self.last_seq:
                if kind == "revoked":
                    self.years[(date[:4], "revoked")] += 1
                elif kind in _ALWAYS or (kind in SUSPENDING and status == lifecycle.VALID):
                    self.years[(date[:4], "suspended")] += 1
            status = lifecycle.TRANSITIONS[kind].get(status, status)
        self.last_seq = last_seq
        return True

    # ------------------------------------------------------------ asking
    def by(self, kind, *, status=None) -> Counter:
        """Certificates by ``kind`` (of ``status`` only, when given); by industry, the
        key is the division (``C35``), None for a code too short to have one."""
        i = KINDS.index(kind)
        out = Counter()
        for row, n in self.rows.items():
            if n and (status is None or row[0] == status):
                out[division(row[2]) if kind == "industry" else row[i]] += n
        return +out

    def of_body(self, code) -> dict:
        counts = dict.fromkeys(lifecycle.STATUSES, 0)
        for row, n in self.rows.items():
            if row[3] == code:
                counts[row[0]] += n
        return counts

    def list_index(self, bodies) -> dict:
        """``{kind: {key: size}}``: every list, in the order of the lists page.

        A list exists for every status, reference district, body and programme, and
        for the district and industry of every enterprise (an enterprise page links
        to both), even when it is empty; extra districts come in the order of their
        first enterprise, extra programmes of their first certificate."""
        index = {"status": dict.fromkeys(lifecycle.STATUSES, 0),
                 "district": dict.fromkeys([*reference.DISTRICTS, *self.districts], 0),
                 "industry": dict.fromkeys(sorted({division(code) or "-" for code in self.industries}), 0),
                 "body": dict.fromkeys(bodies, 0),
                 "programme": dict.fromkeys([*reference.PROGRAMMES, *self.programmes], 0)}
        for kind in KINDS:
            for key, n in self.by(kind).items():
                index[kind][key if kind != "industry" else key or "-"] = n
        return index

    def industry_codes(self, key) -> list:
        """The enterprises' industry codes of industry list ``key`` (a division or "-")."""
        return [code for code in self.industries if (division(code) or "-") == key]


def _enterprise_keys(conn) -> dict:
    return {"industries": [r[0] for r in conn.execute("select distinct industry from enterprises order by 1")],
            "districts": [r[0] for r in conn.execute(
                "select district from enterprises group by district order by min(uscc)")],
            "enterprises": conn.execute("select count(*) from enterprises").fetchone()[0]}


def _programmes(conn) -> dict:
    return {"programmes": [r[0] for r in conn.execute(
        "select programme from certificates group by programme order by min(cert_no)")]}


def _years(conn) -> Counter:
    """(year, "suspended" | "revoked") -> events, by the event's date."""
    years = Counter()
    always = ",".join("?" * len(_ALWAYS))
    for year, kind, n in conn.execute(
            "select substr(date, 1, 4), type, count(*) from events "
            f"where type = 'revoked' or type in ({always}) group by 1, 2", _ALWAYS):
        years[(year, "revoked" if kind == "revoked" else "suspended")] += n
    replayed = tuple(t for t in SUSPENDING if t not in _ALWAYS)
    marks = ",".join("?" * len(replayed))
    status, current = None, None
    for cert_no, kind, date in conn.execute(
            "select cert_no, type, date from events where cert_no in (select cert_no from events "
            f"where type in ({marks})) order by cert_no, seq", replayed):
        if cert_no != current:
            status, current = None, cert_no
        if kind in replayed and status == lifecycle.VALID:
            years[(date[:4], "suspended")] += 1
        status = lifecycle.TRANSITIONS[kind].get(status, status)
    return years
