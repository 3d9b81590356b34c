"""The site-search documents of the registry's pages (registry/publish/sitesearch.py).

One document per certificate, enterprise, body, standard, notice and content
page, made from the same rows the pages are rendered from, so indexing needs
no HTML parsing. What is searchable is listed in docs/site-search.md.

What a result shows is readable: ``sub`` is one line of facts (number,
enterprise, district, expiry; the status is drawn from the ``status`` facet
with its colour and symbol), and ``text`` joins its fields with `` · `` so
that an excerpt of it reads as a list, not a run of words. Certificates,
enterprises and notices carry exact-lookup keys (certificate number, USCC,
GTIN): searching an identifier gives that record first, or nothing.
"""

import html
import re

from registry.core import lifecycle, reference
from registry.publish import sitesearch
from szzz_registry import urls

KINDS = {
    "certificate": ("证书", "Certificate"),
    "enterprise": ("企业", "Enterprise"),
    "body": ("认证机构", "Certification body"),
    "standard": ("标准", "Standard"),
    "notice": ("通报", "Notice"),
    "page": ("页面", "Page"),
}
_TAG = re.compile(r"<[^>]*>")


def _join(*parts) -> str:
    return " ".join(str(p) for p in parts if p)


def _fields(*parts) -> str:
    """Fields of a document's text, `` · `` between them (a separator for the index)."""
    return " · ".join(str(p) for p in parts if p)


def certificate_document(c) -> sitesearch.Document:
    p, e, b = c["product_row"], c["enterprise_row"], c["body_row"]
    status = lifecycle.STATUS_NAMES[c["status"]]
    events = [_join(ev.get("reason"), ev.get("notice")) for ev in c["history"]]
    keys = [sitesearch.key_of("cert", c["cert_no"])]
    if p.get("gtin"):
        keys.append(sitesearch.key_of("gtin", p["gtin"]))
    return sitesearch.Document(
        url=urls.certificate(c["cert_no"]), title=p["name_zh"],
        sub=f"{c['cert_no']} · {e['name_zh']} · {e['district']} · 有效期至 {c['expires']}",
        text=_fields(c["cert_no"], p.get("name_en"), "、".join(p["models"] or ()), p.get("gtin"),
                     _join(e["name_zh"], e.get("name_en")), e["uscc"],
                     _join(e["district"], e.get("district_en")),
                     _join(b["name_zh"], b.get("name_en"), b["code"]), _join(*c["programme_names"]),
                     _join(*status), *(_join(s["code"], s["title_zh"]) for s in c["standards"]),
                     c.get("scope"), *events),
        facets={"kind": "certificate", "status": c["status"], "district": e["district"],
                "body": c["body"], "programme": c["programme"]},
        keys=tuple(keys), related=(sitesearch.key_of("uscc", e["uscc"]),))


def enterprise_document(e) -> sitesearch.Document:
    return sitesearch.Document(
        url=urls.enterprise(e["uscc"]), title=e["name_zh"],
        sub=f"{e['uscc']} · {e['district']} · {len(e['products'])} 个产品",
        text=_fields(e.get("name_en"), e["uscc"], _join(e["district"], e.get("district_en")),
                     e.get("industry"), e.get("tier"), "、".join(p["name_zh"] for p in e["products"])),
        facets={"kind": "enterprise", "district": e["district"]},
        keys=(sitesearch.key_of("uscc", e["uscc"]),))


def documents(data, pages=()):
    """The documents of site data ``data`` (``data.SiteData``, every record) and Pelican ``pages``."""
    docs = [certificate_document(c) for c in data.certificates]
    docs += [enterprise_document(data.enterprises[uscc]) for uscc in sorted(data.enterprises)]
    for code in sorted(data.bodies):
        b = data.bodies[code]
        docs.append(sitesearch.Document(
            url=urls.body(code), title=b["name_zh"], sub=_fields(code, b.get("name_en")),
            text=_fields(b.get("name_en"), code, b.get("approval_no")),
            facets={"kind": "body", "body": code}))
    for code in sorted(data.standards):
        s = data.standards[code]
        docs.append(sitesearch.Document(
            url=urls.standard(s), title=_join(s["code"], s["title_zh"]), sub=s.get("issuer") or "",
            text=_fields(s.get("title_en"), s.get("issuer")),
            facets={"kind": "standard"}))
    for n in sorted(data.notices, key=lambda n: n["id"]):
        docs.append(sitesearch.Document(
            url=f"notices/#notice-{n['id']}", title=n["title_zh"],
            sub=_fields(n["date"], n.get("cert_no")),
            text=_fields(n.get("title_en"), n.get("text_zh"), n.get("text_en"), n.get("cert_no")),
            facets={"kind": "notice"},
            related=(sitesearch.key_of("cert", n["cert_no"]),) if n.get("cert_no") else ()))
    for page in sorted(pages, key=lambda p: p.url):
        text = html.unescape(_TAG.sub(" ", page.content))
        docs.append(sitesearch.Document(
            url=page.url, title=page.title, sub=getattr(page, "title_en", "") or "",
            text=" ".join(text.split()), facets={"kind": "page"}))
    return docs


def labels(index, bodies) -> dict:
    """Facet value → (zh, en), in the order the search page lists them: ``index`` is
    the lists' (:func:`szzz_registry.queries.list_index`: every district of an
    enterprise, every programme of a certificate), ``bodies`` the body rows by code."""
    districts = {k: (k, v) for k, v in reference.DISTRICTS.items()}
    programmes = dict(reference.PROGRAMMES)
    for district in index["district"]:
        districts.setdefault(district, (district, ""))
    for programme in index["programme"]:
        programmes.setdefault(programme, (programme, ""))
    return {
        "kind": KINDS,
        "status": dict(lifecycle.STATUS_NAMES),
        "district": districts,
        "body": {code: (b["name_zh"], b.get("name_en") or "") for code, b in sorted(bodies.items())},
        "programme": programmes,
    }


def write(out_dir, data, labels, pages=()) -> dict:
    """Write ``search/index/`` of the site into ``out_dir`` (``data``: every record)."""
    return sitesearch.write_index(out_dir, documents(data, pages), labels)


def update(out_dir, conn, data, figures, rank, certificates, enterprises, labels, pages=()) -> dict | None:
    """Rewrite only what ``certificates`` and ``enterprises`` (numbers, USCCs: records of
    ``data`` whose exact-lookup keys did not change, none of them new) touch in the
    index in ``out_dir`` (:func:`sitesearch.update_index`; None: write it whole).
    ``figures`` (:class:`szzz_registry.figures.Figures`) counts the documents;
    ``rank(cert_no)``, the certificates before one."""
    total = sum(figures.by("status").values())
    changed = {}
    for c in data.certificates:
        if c["cert_no"] in certificates:
            changed[rank(c["cert_no"])] = certificate_document(c)
    for uscc in enterprises:
        n = conn.execute("select count(*) from enterprises where uscc < ?", (uscc,)).fetchone()[0]
        changed[total + n] = enterprise_document(data.enterprises[uscc])
    docs = total + figures.enterprises + len(data.bodies) + len(data.standards) + len(data.notices) + len(pages)
    return sitesearch.update_index(out_dir, changed, labels, docs=docs)
