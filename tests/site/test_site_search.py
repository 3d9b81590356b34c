"""The site search (docs/site-search.md) in real Chromium.

What a user relies on: the browser finds exactly what the format says, the
same as the Python reference (every vector of docs/vectors/site-search.json,
checked against ``sitesearch.js`` reading an index written by
``registry.sitesearch.write_index``); on a real Pelican build served under a
sub-path, a two-character Chinese term and a certificate number typed in
full-width characters find the certificate, a status filter narrows the
results with the count it showed, nonsense says "no results", attacker text
in product names stays text; no page errors and no CSP violations.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from builders import PORTAL_REGISTRY
from helpers import assert_no_js_errors
from xss_corpus import XSS_STRINGS, xss_registry

import publish
from registry.core.lifecycle import STATUS_NAMES
from registry.publish import sitesearch

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "site" / "theme" / "static" / "js" / "sitesearch.js"
VECTORS = json.loads((ROOT / "docs" / "vectors" / "site-search.json").read_text(encoding="utf-8"))
SUB = "registry"   # the built sites are served under /registry/, not at the host's root
# The symbol site.css puts before each status (.status::before).
CSS_SYMBOL = {"valid": "✓", "suspended": "‖", "revoked": "✗", "withdrawn": "●", "expired": "●"}
HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2}")
# Queries beyond the vectors, checked against the Python reference: names of
# Object.prototype's properties as exact terms and as prefixes (a term table
# that is a plain object must not find them), full-width, diacritics, a
# character outside the BMP.
EXTRA_QUERIES = ["constructor.", "valueOf 红木", "红木 toString!", "hasOwnProperty", "ｔｕｖ", "TÜV SÜD",
                 "Tüv", "ＱＹ－１１", "红木 ", "圈椅（", "𠀀", "scarf café"]
# Texts beyond the vectors (characters outside the BMP, case and compatibility
# mappings, combining marks), whose terms and shards are checked against Python.
EXTRA_TEXTS = ["𠀀𠀁 a𠀀b 𠀀", "İstanbul ΣΊΣΥΦΟΣ straße", "x²³ ½ ⑩ Ⅻ", "a\u0301b é",
               "ＡＢＣ１２３ ｶﾀｶﾅ", "苏州\u3000工业园区：SZ-１"]


def harness(root: Path) -> Path:
    """A bare page loading sitesearch.js, next to an ``index/`` directory."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(JS, root / "sitesearch.js")
    (root / "index.html").write_text(
        '<!DOCTYPE html><meta charset="utf-8"><title>t</title>'
        '<script src="sitesearch.js"></script>', encoding="utf-8")
    return root


def build(db, out: Path) -> Path:
    publish.run_pelican(out, db, site_url="https://szzz.example/",
                        datasette_url="http://127.0.0.1:8001/", build_time="2025-06-01T15:59:59Z")
    return out


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def vector_dir(tmp_path_factory) -> Path:
    root = harness(tmp_path_factory.mktemp("search-vectors"))
    labels = {name: {k: tuple(v) for k, v in values.items()}
              for name, values in VECTORS["labels"].items()}
    docs = [sitesearch.Document(d["url"], d["title"], d["sub"], d["text"], d["facets"],
                                tuple(d.get("keys", ())), tuple(d.get("related", ())))
            for d in VECTORS["documents"]]
    sitesearch.write_index(root / "index", docs, labels, shards=VECTORS["shards"],
                           key_shards=VECTORS["key_shards"])
    return root


@pytest.fixture(scope="module")
def demo(make_registry) -> dict:
    built = make_registry(**PORTAL_REGISTRY)
    return {"db": built.db, "suspended": built.suspended, "www": built.base / "www",
            "site": build(built.db, built.base / "www" / SUB)}


@pytest.fixture(scope="module")
def xss(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("search-xss")
    db, _ = xss_registry(tmp)
    return {"db": db, "www": tmp / "www", "site": build(db, tmp / "www" / SUB)}


def rows(db, sql, *args):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


# ---------------------------------------------------------------- page helpers
def wait_done(page, q: str) -> None:
    page.wait_for_function(
        """q => { const s = document.getElementById('search');
                  return s.dataset.state === 'done' && s.dataset.query === q; }""", arg=q)


def results(page) -> list[dict]:
    return page.locator("#search-results > li").evaluate_all("""lis => lis.map(li => {
        const a = li.querySelector('h2 a');
        return {href: a && a.href, title: li.querySelector('h2').textContent,
                marks: Array.from(li.querySelectorAll('mark')).map(m => m.textContent),
                sub: (li.querySelector('.search-sub') || {}).textContent,
                tags: Array.from(li.querySelectorAll('*')).map(e => e.localName)};
    })""")


def count_line(page) -> str:
    return page.locator("#search-count").inner_text()


def assert_clean(page) -> None:
    assert_no_js_errors(page)
    csp = [m.text for m in page.console_messages if "Content Security Policy" in m.text]
    assert csp == []


def python_urls(index: Path, q: str) -> list[str]:
    return [d[0] for d in sitesearch.documents(index, sitesearch.search(index, q))]


# ---------------------------------------------------------------- (a) the format
def test_every_vector_holds_in_chromium(vector_dir, serve_dir, page):
    page.goto(f"{serve_dir(vector_dir)}/index.html")
    index = vector_dir / "index"
    shards = {k: json.loads((index / f"terms-{k}.json").read_text(encoding="utf-8"))
              for k in range(VECTORS["shards"])}
    got = page.evaluate("""async ([v, shards, extra, texts]) => {
        const S = window.SzzzSearch, idx = new S.Index('index/');
        const run = async q => { const r = await idx.search(q);
                                 const docs = await idx.docs(r.ids);
                                 return {ids: r.ids, terms: r.terms, urls: docs.map(d => d.url)}; };
        const out = {
            normalize: v.normalize.map(x => S.normalize(x.text)),
            terms: v.terms.map(x => S.terms(x.text)),
            shard_of: v.shard_of.map(x => S.shardOf(x.term, x.shards)),
            key_shard_of: v.key_shard_of.map(x => S.keyShardOf(x.key, x.shards)),
            identifiers: v.finds.map(x => S.identifier(x.query)),
            query_terms: v.queries.map(x => { const q = S.queryTerms(x.query);
                                               return [q.terms, q.prefix]; }),
            doc_terms: v.documents.map(d => S.terms(d.title + ' ' + d.text)),
            postings: Object.fromEntries(Object.entries(shards).map(([k, t]) =>
                [k, Object.fromEntries(Object.entries(t).map(([w, p]) =>
                    [w, S.decodePostings(p)]))])),
            docs: await idx.docs(v.documents.map((d, i) => i)),
            texts: texts.map(t => { const terms = S.terms(t);
                return [S.normalize(t), terms, terms.map(w => [1, 8, 1024].map(n => S.shardOf(w, n)))]; }),
            results: [], extra: [], finds: []};
        for (const x of v.queries) out.results.push(await run(x.query));
        for (const x of v.finds) { const r = await idx.find(x.query);
                                   out.finds.push({exact: r.exact, urls: (await idx.docs(r.ids)).map(d => d.url)}); }
        for (const q of extra) out.extra.push(await run(q));
        return out;
    }""", [VECTORS, shards, EXTRA_QUERIES, EXTRA_TEXTS])

    for v, norm in zip(VECTORS["normalize"], got["normalize"], strict=True):
        assert norm == v["normalized"], v
    for v, terms in zip(VECTORS["terms"], got["terms"], strict=True):
        assert len(terms) == len(set(terms)), (v, terms)   # each term once
        assert sorted(terms) == v["terms"], v
    for v, shard in zip(VECTORS["shard_of"], got["shard_of"], strict=True):
        assert shard == v["shard"], v
    for v, shard in zip(VECTORS["key_shard_of"], got["key_shard_of"], strict=True):
        assert shard == v["shard"], v
    for v, ident, found in zip(VECTORS["finds"], got["identifiers"], got["finds"], strict=True):
        assert (ident["key"] if ident else None) == v["key"], v
        assert found == {"exact": v["exact"], "urls": v["urls"]}, v
    for v, qt, res in zip(VECTORS["queries"], got["query_terms"], got["results"], strict=True):
        assert qt == [v["terms"], v["prefix"]], v
        assert res["urls"] == v["urls"], v
        assert res["terms"] == v["terms"] + ([v["prefix"]] if v["prefix"] else []), v
        assert res["ids"] == sorted(res["ids"]), v
    # The documents' terms, the decoded posting lists and the documents read back.
    for d, terms in zip(VECTORS["documents"], got["doc_terms"], strict=True):
        assert sorted(terms) == sorted(sitesearch.terms(d["title"] + " " + d["text"])), d
    for k, table in shards.items():
        assert got["postings"][str(k)] == {t: sitesearch.decode_postings(p)
                                           for t, p in table.items()}
    assert got["docs"] == [{"id": i, "url": d["url"], "title": d["title"], "sub": d["sub"],
                            "text": d["text"]} for i, d in enumerate(VECTORS["documents"])]
    for text, (norm, terms, shard_nos) in zip(EXTRA_TEXTS, got["texts"], strict=True):
        assert norm == sitesearch.normalize(text), text
        assert sorted(terms) == sorted(sitesearch.terms(text)), text
        assert shard_nos == [[sitesearch.shard_of(t, n) for n in (1, 8, 1024)] for t in terms]
    for q, res in zip(EXTRA_QUERIES, got["extra"], strict=True):
        assert res["urls"] == python_urls(index, q), q
    assert_clean(page)


def test_only_the_needed_files_are_fetched_once(tmp_path, serve_dir, page):
    """450 documents in 3 chunks: a hit in document 420 loads docs-2.json only;
    files already loaded are not fetched again."""
    root = harness(tmp_path)
    docs = [sitesearch.Document(f"pages/{i}/", f"文档{i}", "", f"w{i} common",
                                {"kind": "page"}) for i in range(450)]
    labels = {"kind": {"page": ("页面", "Page")}, "status": {}, "district": {}, "body": {},
              "programme": {}}
    sitesearch.write_index(root / "index", docs, labels)
    meta = json.loads((root / "index" / "meta.json").read_text(encoding="utf-8"))
    assert meta["chunk"] < 420 < meta["docs"]    # else this test checks nothing
    fetched = []
    page.on("request", lambda r: fetched.append(r.url.rsplit("/", 1)[1]))
    page.goto(f"{serve_dir(root)}/index.html")
    got = page.evaluate("""async () => {
        const idx = new SzzzSearch.Index('index/');
        const a = await idx.search('w420 common'), da = await idx.docs(a.ids);
        const b = await idx.search('w420'), db = await idx.docs(b.ids);
        return [a.ids, da.map(d => d.title), b.ids, db.map(d => d.url)];
    }""")
    assert got == [[420], ["文档420"], [420], ["pages/420/"]]
    index_files = [f for f in fetched if f.endswith(".json")]
    assert len(index_files) == len(set(index_files)), index_files   # cached, never twice
    docs_files = [f for f in index_files if f.startswith("docs-")]
    assert docs_files == [f"docs-{420 // meta['chunk']}.json"]
    assert "facets.json" not in index_files   # Index.search needs no facets
    assert_clean(page)


# ---------------------------------------------------------------- (b) the search page
def open_search(page, base: str, q: str) -> None:
    page.goto(f"{base}/{SUB}/search/?q={q}")
    wait_done(page, q)


def test_two_character_chinese_term_finds_the_certificate(demo, serve_dir, page):
    cert_no, name = rows(demo["db"], "select c.cert_no, p.name_zh from certificates c join "
                                     "products p on p.id = c.product order by c.cert_no")[0]
    term = HAN.search(name).group(0)
    base = serve_dir(demo["www"])
    open_search(page, base, term)
    found = results(page)
    expected = python_urls(demo["site"] / "search" / "index", term)
    assert [r["href"] for r in found] == [f"{base}/{SUB}/{u}" for u in expected[:20]]
    assert found[0]["href"] == f"{base}/{SUB}/certificates/{cert_no}/"
    assert found[0]["title"] == name and term in found[0]["marks"]
    assert cert_no in found[0]["sub"]
    total = len(expected)
    assert f"找到 {total} 条结果" in count_line(page) and f"{total} result" in count_line(page)
    assert page.locator("#search-more").is_visible() == (total > 20)
    # The link leads to the certificate's page on this (sub-path) site.
    page.locator("#search-results h2 a").first.click()
    page.wait_for_url(f"{base}/{SUB}/certificates/{cert_no}/")
    assert cert_no in page.locator("main").inner_text()
    assert_clean(page)


def test_certificate_number_typed_in_full_width_finds_it(demo, serve_dir, page):
    cert_no = demo["suspended"]
    typed = fullwidth(cert_no)
    base = serve_dir(demo["www"])
    page.goto(f"{base}/{SUB}/search/")
    page.locator("#search-q").press_sequentially(typed, delay=20)  # input events as typed
    wait_done(page, typed)
    found = results(page)
    assert found and found[0]["href"] == f"{base}/{SUB}/certificates/{cert_no}/"
    assert all(cert_no in r["sub"] for r in found if "/certificates/" in r["href"])
    # The address carries the query (replaceState), so the search can be shared.
    assert parse_qs(urlsplit(page.url).query)["q"] == [typed]
    assert_clean(page)


def test_status_filter_narrows_the_results_with_its_count(demo, serve_dir, page):
    # Every certificate's text holds its number, which starts with its programme.
    programme = rows(demo["db"], "select programme from certificates limit 1")[0][0]
    statuses = dict(rows(demo["db"], "select status, count(*) from certificates where "
                                     "programme = ? group by status", programme))
    revoked_nos = [r[0] for r in rows(demo["db"], "select cert_no from certificates where "
                                      "programme = ? and status = 'revoked'", programme)]
    assert statuses.get("revoked") == 1 and statuses.get("valid", 0) > 20
    base = serve_dir(demo["www"])
    open_search(page, base, programme)
    before = count_line(page)
    if page.locator("#search-filters details").get_attribute("open") is None:
        page.locator("#search-filters summary").click()   # collapsed on a phone
    meta = json.loads((demo["site"] / "search/index/meta.json").read_text(encoding="utf-8"))
    values = [v[0] for v in meta["facets"]["status"]]
    for status, n in statuses.items():
        box = page.locator(f"#search-filters input[data-facet=status][value='{values.index(status)}']")
        label = page.locator(f"label[for='{box.get_attribute('id')}']").inner_text()
        assert label.endswith(f"({n})"), (status, label)
    revoked = page.locator(f"#search-filters input[data-facet=status]"
                           f"[value='{values.index('revoked')}']")
    revoked.check()
    wait_done(page, programme)
    found = results(page)
    assert [r["href"] for r in found] == [f"{base}/{SUB}/certificates/{revoked_nos[0]}/"]
    assert "撤销" in found[0]["sub"] and count_line(page) != before
    assert "显示 1 条" in count_line(page) and "1 of " in count_line(page)
    revoked.uncheck()
    wait_done(page, programme)
    assert count_line(page) == before
    assert_clean(page)


def test_a_number_of_no_certificate_says_no_such_certificate(demo, serve_dir, page):
    """Issue 14: a certificate number that is not registered, though it shares
    programme, body and serial with registered ones, finds nothing and says so
    plainly; a free-text search for its first parts still finds those others."""
    taken = {r[0] for r in rows(demo["db"], "select cert_no from certificates")}
    prog, _, body, serial = sorted(taken)[0].split("-")
    missing = next(f"{prog}-{y}-{body}-{serial}" for y in range(2019, 2030)
                   if f"{prog}-{y}-{body}-{serial}" not in taken)
    base = serve_dir(demo["www"])
    open_search(page, base, missing)
    assert results(page) == []
    box = page.locator("#search-none")
    assert box.is_visible()
    assert "无此证书" in box.inner_text() and "No such certificate" in box.inner_text()
    assert "无此证书" in count_line(page) and missing in count_line(page)
    assert page.locator("#search-none a[href$='report/']").is_visible()
    open_search(page, base, f"{prog} {body}")   # the same words, as free text
    assert results(page) and page.locator("#search-none").is_hidden()
    assert_clean(page)


def test_an_identifier_gives_exactly_its_record_first(demo, serve_dir, page):
    """A certificate number gives that certificate first and no other certificate;
    a USCC gives the enterprise, then its certificates; a GTIN the certificates of
    its product. Each result shows its status with colour, symbol and words, and
    one readable line instead of a dump of the searched text."""
    base = serve_dir(demo["www"])
    cert_no, uscc, gtin, status = rows(demo["db"], """
        select c.cert_no, e.uscc, p.gtin, c.status from certificates c join products p on p.id = c.product
        join enterprises e on e.uscc = p.enterprise where p.gtin is not null order by c.cert_no""")[0]
    open_search(page, base, cert_no)
    found = results(page)
    assert found[0]["href"] == f"{base}/{SUB}/certificates/{cert_no}/"
    assert [r for r in found[1:] if "/certificates/" in r["href"]] == []
    assert "精确查找" in count_line(page) and "Exact" in count_line(page)
    badge = page.locator("#search-results > li").first.locator(".status")
    assert badge.get_attribute("class") == f"status status-{status}"
    zh, en = STATUS_NAMES[status]
    assert badge.inner_text().split() == [zh, en]
    assert badge.evaluate("e => getComputedStyle(e, '::before').content") == f'"{CSS_SYMBOL[status]} "'
    colour = badge.evaluate("e => getComputedStyle(e).color")
    assert colour != page.locator("#search-results > li .search-sub").first.evaluate(
        "e => getComputedStyle(e).color")
    assert "有效期至" in found[0]["sub"] and "·" in found[0]["sub"]
    assert page.locator("#search-results .search-excerpt").count() == 0   # all it matched is shown
    open_search(page, base, uscc.lower())
    certs_of = [f"{base}/{SUB}/certificates/{r[0]}/" for r in rows(
        demo["db"], "select c.cert_no from certificates c join products p on p.id = c.product "
                    "where p.enterprise = ? order by c.cert_no", uscc)]
    assert [r["href"] for r in results(page)] == [f"{base}/{SUB}/enterprises/{uscc}/", *certs_of]
    open_search(page, base, gtin)
    of_product = [f"{base}/{SUB}/certificates/{r[0]}/" for r in rows(
        demo["db"], "select c.cert_no from certificates c join products p on p.id = c.product "
                    "where p.gtin = ? order by c.cert_no", gtin)]
    assert [r["href"] for r in results(page)] == of_product
    assert_clean(page)


def test_a_nonsense_term_finds_nothing(demo, serve_dir, page):
    q = "不存在的词zzqx"
    open_search(page, serve_dir(demo["www"]), q)
    assert results(page) == []
    assert "没有找到" in count_line(page) and "No results" in count_line(page)
    assert q in count_line(page)
    assert page.locator("#search-filters").is_hidden()
    assert page.locator("#search-more").is_hidden()
    assert_clean(page)


def test_attacker_text_in_product_names_renders_as_text(xss, serve_dir, page):
    names = dict(rows(xss["db"], "select c.cert_no, p.name_zh from certificates c join "
                                 "products p on p.id = c.product"))
    base = serve_dir(xss["www"])
    open_search(page, base, "产品")
    shown = results(page)
    assert len(shown) == 20 and page.locator("#search-more").is_visible()
    page.locator("#search-more").click()
    wait_done(page, "产品")
    shown = results(page)
    assert len(shown) > 20
    # The link after the first page took the focus ("more" moves it to the new results).
    assert page.evaluate("document.activeElement.href") == shown[20]["href"]
    certs = {r["href"].rsplit("/", 2)[1]: r["title"] for r in shown if "/certificates/" in r["href"]}
    assert certs == names   # every product name, exactly, as text
    assert any(s in t for t in certs.values() for s in XSS_STRINGS[:3])
    allowed = {"h2", "a", "span", "mark", "p"}
    assert all(set(r["tags"]) <= allowed for r in shown), [r["tags"] for r in shown]
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("#search-results script, #search-results img, "
                        "#search-results svg, #search-results iframe").count() == 0
    assert_clean(page)
