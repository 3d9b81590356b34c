"""The Pelican site: real Pelican builds from real registries, checked as files and in Chromium.

Two builds per module: a small demo registry (``make_registry(demo=40, ...)``:
one certificate then revoked, one suspended and one withdrawn) and the XSS
registry (``tests/xss_corpus.py``). Lists use ``per_page=10`` so that
pagination happens with a small registry.
"""

import html
import html.parser
import json
import os
import re
import sqlite3
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import schemaorg
from xss_corpus import XSS_STRINGS, XSS_WEBSITE, xss_registry

from registry.core import lifecycle
from registry.core.exceptions import BuildError, ConfigError
from registry.publish import build as building

ROOT = Path(__file__).resolve().parents[2]
ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
SITE_URL = "https://szzz.example/"
DATASETTE = "http://127.0.0.1:8001/"
PER_PAGE = 10


def build_site(db, out, **szzz):
    from pelican import Pelican
    from pelican.settings import read_settings

    settings = read_settings(str(ROOT / "pelicanconf.py"), override={
        "OUTPUT_PATH": str(out),
        "SZZZ": {"db": str(db), "site_url": SITE_URL, "datasette_url": DATASETTE,
                 "build_time": "2025-06-01T15:59:59Z", "per_page": PER_PAGE, **szzz},
    })
    Pelican(settings).run()
    return Path(out)


@pytest.fixture(scope="module")
def demo_db(make_registry):
    """(db, revoked, suspended): a 40-certificate demo with one certificate revoked
    (with a notice), one suspended and one withdrawn."""
    built = make_registry(demo=40, revoke=True, suspend=True, withdraw=True)
    return built.db, built.revoked, built.suspended


@pytest.fixture(scope="module")
def site(demo_db, tmp_path_factory):
    return build_site(demo_db[0], tmp_path_factory.mktemp("site") / "out")


@pytest.fixture(scope="module")
def xss_site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("xss")
    db, _ = xss_registry(tmp)
    return build_site(db, tmp / "out")


def rows(db, sql):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


class Tags(html.parser.HTMLParser):
    """Every start tag with its attributes, and the text of every <script>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.scripts, self._in_script = [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = [dict(attrs), ""]

    def handle_data(self, data):
        if self._in_script is not None:
            self._in_script[1] += data

    def handle_endtag(self, tag):
        if tag == "script" and self._in_script is not None:
            self.scripts.append(tuple(self._in_script))
            self._in_script = None


def parse(path):
    p = Tags()
    p.feed(Path(path).read_text(encoding="utf-8"))
    p.close()
    return p


def html_files(out):
    return sorted(p for p in Path(out).rglob("*.html"))


def page_of(out, rel):
    return Path(out) / unquote(rel) / "index.html"


# ---------------------------------------------------------------- pages
def test_a_page_for_every_record(site, demo_db):
    db = demo_db[0]
    checks = {
        "certificates/{}": "select cert_no from certificates",
        "products/{}": "select id from products",
        "enterprises/{}": "select uscc from enterprises",
        "bodies/{}": "select code from bodies",
    }
    for pattern, sql in checks.items():
        keys = [r[0] for r in rows(db, sql)]
        assert keys, sql
        missing = [k for k in keys if not page_of(site, pattern.format(k)).is_file()]
        assert not missing, f"{pattern}: no page for {missing[:5]}"
    for (code,) in rows(db, "select code from standards"):
        slug = re.sub(r"[^a-z0-9]+", "-", code.lower()).strip("-")
        assert page_of(site, f"standards/{slug}").is_file(), code
    for rel in ("", "notices", "stats", "search", "lists", "about", "verify-a-mark",
                "open-data", "governance", "report"):
        assert page_of(site, rel).is_file(), rel


def test_certificate_page_shows_record_history_and_links(site, demo_db):
    db, revoked, _ = demo_db
    text = page_of(site, f"certificates/{revoked}").read_text(encoding="utf-8")
    assert "撤销" in text and "revoked" in text
    assert 'id="history"' in text
    for (seq, sig) in rows(db, f"select seq, signature from events where cert_no = '{revoked}'"):
        assert f'id="seq-{seq}"' in text and sig[:16] in text
    assert "监督抽查不合格" in text and "市场监管局通报 2025-01" in text
    payload = rows(db, f"select mark_payload from certificates where cert_no = '{revoked}'")[0][0]
    assert f'href="../../v/#{payload}"' in text
    for link in (f"../../api/certificates/{revoked}.json",
                 f"{DATASETTE}registry/certificates/{revoked}"):
        assert f'href="{link}"' in text, link
    tags = parse(page_of(site, f"certificates/{revoked}")).tags
    std_links = [a["href"] for t, a in tags if t == "a" and "/standards/" in a.get("href", "")]
    assert std_links and all((page_of(site, f"certificates/{revoked}").parent / h / "index.html")
                             .resolve().is_file() for h in std_links)


def _hrefs(root: Path) -> dict[str, list[str]]:
    """``{page: [href, …]}`` of every HTML page under ``root``."""
    return {page.relative_to(root).as_posix(): re.findall(r'href="([^"]*)"', page.read_text(encoding="utf-8"))
            for page in sorted(root.rglob("*.html"))}


def test_datasette_links_only_when_a_datasette_is_configured(site, demo_db, tmp_path):
    """Issue 11: the pages link to Datasette only when a Datasette URL is
    configured; publish.py's default is none (a static host alone has no
    Datasette, and a link to /datasette/ there is a link to nothing)."""
    bare = build_site(demo_db[0], tmp_path / "bare", datasette_url=building.DEFAULT_DATASETTE_URL)
    with_links, without = _hrefs(site), _hrefs(bare)
    assert sorted(with_links) == sorted(without)  # the same pages either way
    certs = [p for p in with_links if p.startswith("certificates/") and p.count("/") == 2]
    linking = {p for p, hrefs in with_links.items() if any(h.startswith(DATASETTE) for h in hrefs)}
    # Configured: the footer of every page and each certificate's open-data row.
    assert set(certs) <= linking and len(linking) == len(with_links)
    no = demo_db[1]
    assert f"{DATASETTE}registry/certificates/{no}" in with_links[f"certificates/{no}/index.html"]
    # Not configured: no page links to any Datasette, relative or absolute.
    stray = {p: [h for h in hrefs if "datasette" in h.lower()] for p, hrefs in without.items()}
    assert not any(stray.values()), {p: h for p, h in stray.items() if h}
    assert not any(">Datasette<" in (bare / p).read_text(encoding="utf-8") for p in without)


def test_only_a_valid_certificate_page_offers_its_mark(site, demo_db):
    """Mark use follows the replayed status: a revoked, suspended, withdrawn or
    expired certificate's page says plainly that the mark may not be used, why
    and since when, and links no mark download; a valid one offers both files."""
    db = demo_db[0]
    by_status = dict(rows(db, "select status, min(cert_no) from certificates group by status"))
    assert set(by_status) == {"valid", "revoked", "suspended", "withdrawn", "expired"}
    for status, cert_no in by_status.items():
        page = page_of(site, f"certificates/{cert_no}")
        tags = parse(page).tags
        mark_links = [a["href"] for t, a in tags if t == "a" and "/marks/" in a.get("href", "")]
        use = next(a for t, a in tags if t == "dd" and "data-mark-use" in a)["data-mark-use"]
        text = page.read_text(encoding="utf-8")
        if status == "valid":
            assert use == "authorised"
            assert mark_links == [f"../../marks/{cert_no}.svg", f"../../marks/{cert_no}.png"]
            continue
        assert use == "not-authorised" and mark_links == [], status
        assert "不得使用认证标志" in text and "the certification mark may not be used" in text
        (since, event_reason), = rows(db, f"select c.status_date, e.reason from certificates c join events e "
                                          f"on e.cert_no = c.cert_no where c.cert_no = '{cert_no}' "
                                          f"and e.date = c.status_date and e.type != 'surveillance_passed' "
                                          f"order by e.seq desc limit 1")
        assert f"证书已于 <time datetime=\"{since}\">{since}</time> {lifecycle.STATUS_NAMES[status][0]}" in text
        assert event_reason and event_reason in html.unescape(text), status


def next_page(site, rel):
    """The site-relative URL the page ``rel`` links to as ``rel="next"``, or None."""
    links = [a["href"] for t, a in parse(page_of(site, rel)).tags if t == "a" and a.get("rel") == "next"]
    assert len(links) <= 1, rel
    return os.path.normpath(os.path.join(rel, unquote(links[0]))) + "/" if links else None


def test_lists_paginate_and_cover_every_certificate(site, demo_db):
    """Following "next" from a list's first page shows each of its certificates once,
    in order, at most 3 × per_page a page (paging.py: a page starts at a certificate
    chosen by its number, and is named by it); "previous" leads back."""
    db = demo_db[0]
    paged = 0
    for status in lifecycle.STATUSES:
        expected = [r[0] for r in rows(
            db, f"select cert_no from certificates where status = '{status}' order by cert_no")]
        seen, pages, rel = [], [], f"lists/status/{status}/"
        while rel is not None:
            tags = parse(page_of(site, rel)).tags
            shown = [unquote(a["href"]).split("certificates/")[1].strip("/")
                     for t, a in tags if t == "a" and "certificates/" in a.get("href", "")
                     and "#" not in a["href"] and a.get("class") == "cert-no"]
            assert len(shown) <= 3 * PER_PAGE, rel
            rels = {a.get("rel") for t, a in tags if t == "a"}
            assert ("prev" in rels) == bool(seen), rel
            if seen:
                assert rel == f"lists/status/{status}/page/{shown[0]}/", "a page is named by its first"
                prev = [a["href"] for t, a in tags if t == "a" and a.get("rel") == "prev"]
                assert os.path.normpath(os.path.join(rel, unquote(prev[0]))) + "/" == pages[-1], rel
            pages.append(rel)
            seen += shown
            rel = next_page(site, rel)
        assert seen == expected, status
        paged += len(pages) > 1
    assert paged, "no list needed paging"
    for kind, sql in {"district": "select distinct district from enterprises",
                      "body": "select code from bodies",
                      "programme": "select distinct programme from certificates"}.items():
        for (key,) in rows(db, sql):
            assert page_of(site, f"lists/{kind}/{key}/").is_file(), (kind, key)
    for (industry,) in rows(db, "select distinct industry from enterprises"):
        assert page_of(site, f"lists/industry/{industry[:3]}/").is_file(), industry


def jsonld_of(path):
    blocks = [body for attrs, body in parse(path).scripts
              if attrs.get("type") == "application/ld+json"]
    assert len(blocks) == 1
    return json.loads(blocks[0])


def test_jsonld_identifies_valid_and_revoked_certificates(site, demo_db):
    db, revoked, suspended = demo_db
    valid = rows(db, "select cert_no from certificates where status = 'valid' limit 1")[0][0]
    for cert_no, status in ((valid, "CertificationActive"), (revoked, "CertificationInactive"),
                            (suspended, "CertificationInactive")):
        data = jsonld_of(page_of(site, f"certificates/{cert_no}"))
        assert data["@type"] == "Certification"
        assert data["certificationIdentification"] == cert_no
        assert data["certificationStatus"] == f"https://schema.org/{status}"
        body, issued, expires, name, uscc = rows(db, f"""
            select c.body, c.issued, c.expires, p.name_zh, e.uscc from certificates c
            join products p on p.id = c.product join enterprises e on e.uscc = p.enterprise
            where c.cert_no = '{cert_no}'""")[0]
        assert data["issuedBy"]["@type"] == "Organization"
        assert data["issuedBy"]["identifier"] == body
        assert (data["validFrom"], data["expires"]) == (issued, expires)
        assert data["about"]["@type"] == "Product" and data["about"]["name"] == name
        assert data["about"]["manufacturer"]["identifier"] == uscc
        assert data["url"] == f"{SITE_URL}certificates/{cert_no}/"


def test_jsonld_of_certificates_products_and_enterprises_is_valid_schema_org(site, demo_db):
    """Every certificate, product and enterprise page carries JSON-LD that a JSON-LD
    processor (pyld) expands with schema.org's terms only, every property on a type
    schema.org allows it on, every value in its range (tests/schemaorg.py)."""
    db = demo_db[0]
    pages = {"certificates": [r[0] for r in rows(db, "select cert_no from certificates")],
             "products": [r[0] for r in rows(db, "select id from products")],
             "enterprises": [r[0] for r in rows(db, "select uscc from enterprises")]}
    expected_type = {"certificates": "Certification", "products": "Product", "enterprises": "Organization"}
    for kind, keys in pages.items():
        for key in keys[:25]:
            data = jsonld_of(page_of(site, f"{kind}/{key}"))
            assert data["@type"] == expected_type[kind], (kind, key)
            assert data["@id"] == f"{SITE_URL}{kind}/{key}/"
            assert schemaorg.problems(data) == [], (kind, key)
    product = jsonld_of(page_of(site, f"products/{pages['products'][0]}"))
    certs = [r[0] for r in rows(db, f"select cert_no from certificates where product = {pages['products'][0]}")]
    assert [c["certificationIdentification"] for c in product["hasCertification"]] == sorted(certs)
    enterprise = jsonld_of(page_of(site, f"enterprises/{pages['enterprises'][0]}"))
    assert enterprise["identifier"] == pages["enterprises"][0]


def test_the_schema_org_check_refuses_what_schema_org_does_not_define():
    """The check itself: the defects of the old certificate JSON-LD (``issuer``,
    ``validUntil`` on a Certification) and a value out of range are reported."""
    old = {"@context": "https://schema.org", "@type": "Certification",
           "certificationIdentification": "SZZZ-2024-CQC-00012",
           "issuedBy": {"@type": "Organization", "name": "CQC"},
           "issuer": {"@type": "Organization", "name": "CQC"},
           "validFrom": "2024-03-01", "expires": "2027-02-28", "validUntil": "2027-02-28"}
    found = schemaorg.problems(old)
    assert any("'issuer' is not defined by schema.org" in p for p in found), found
    assert any("validUntil is not a property of Certification" in p for p in found), found
    assert schemaorg.problems({k: v for k, v in old.items() if k not in ("issuer", "validUntil")}) == []
    wrong = schemaorg.problems({"@context": "https://schema.org", "@type": "Product", "name": "x",
                                "manufacturer": {"@type": "Product", "name": "y"},
                                "hasCertification": {"@type": "Certification", "expires": "soon"}})
    assert any("Product is not in the range of manufacturer" in p for p in wrong), wrong
    assert any("'soon' is not a value of" in p for p in wrong), wrong


# ---------------------------------------------------------------- feeds, sitemap, stats
def test_feeds_are_atom_with_stable_entries_from_events(site, demo_db):
    db = demo_db[0]
    events = rows(db, "select seq, date, cert_no from events where cert_no is not null "
                      "order by seq desc")
    feed = ET.parse(site / "feeds/all.atom.xml").getroot()
    assert feed.tag == f"{ATOM}feed"
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == min(200, len(events))
    ids = [e.find(f"{ATOM}id").text for e in entries]
    assert ids == [f"tag:szzz.example,2020-12-28:szzz/event/{seq}" for seq, _, _ in events[:200]]
    assert [e.find(f"{ATOM}updated").text for e in entries] == [
        f"{date}T00:00:00+08:00" for _, date, _ in events[:200]]
    assert feed.find(f"{ATOM}updated").text == f"{events[0][1]}T00:00:00+08:00"
    link = entries[0].find(f"{ATOM}link").get("href")
    assert link == f"{SITE_URL}certificates/{events[0][2]}/#history"
    for (code,) in rows(db, "select code from bodies"):
        body_feed = ET.parse(site / f"feeds/bodies/{code}.atom.xml").getroot()
        body_ids = [e.find(f"{ATOM}id").text.rsplit("/", 1)[1]
                    for e in body_feed.findall(f"{ATOM}entry")]
        expected = [str(s) for s, _, c in events if c.split("-")[2] == code][:200]
        assert body_ids == expected, code


def sitemap_locs(site_dir):
    """(locs of every sitemap file the index names, {file: its number of URLs})."""
    index = ET.parse(site_dir / "sitemap.xml").getroot()
    assert index.tag == f"{SITEMAP}sitemapindex"
    locs, sizes = [], {}
    for entry in index.findall(f"{SITEMAP}sitemap"):
        rel = unquote(urlsplit(entry.find(f"{SITEMAP}loc").text).path).lstrip("/")
        urls_ = [u.find(f"{SITEMAP}loc").text
                 for u in ET.parse(site_dir / rel).getroot().findall(f"{SITEMAP}url")]
        sizes[rel] = len(urls_)
        locs += urls_
    return locs, sizes


def test_sitemap_index_lists_the_pages(site, demo_db):
    locs, sizes = sitemap_locs(site)
    assert list(sizes) == ["sitemap-1.xml"] and len(locs) == len(set(locs))
    locs = set(locs)
    for (cert_no,) in rows(demo_db[0], "select cert_no from certificates"):
        assert f"{SITE_URL}certificates/{cert_no}/" in locs
    for rel in ("", "stats/", "notices/", "about/", "report/", "lists/status/valid/"):
        assert SITE_URL + rel in locs, rel
    assert SITE_URL + "search/" not in locs
    # A list's later pages are named by their first certificate and come and go
    # as the list changes: the sitemap names each list's first page only.
    assert next_page(site, "lists/status/valid/") is not None
    assert not [loc for loc in locs if "/page/" in loc]
    for loc in locs:
        rel = unquote(urlsplit(loc).path).lstrip("/")
        assert (site / rel / "index.html").is_file(), loc
    robots = (site / "robots.txt").read_text(encoding="utf-8")
    assert f"Sitemap: {SITE_URL}sitemap.xml" in robots.splitlines()


def test_every_page_names_the_icon_and_describes_itself(site):
    """No console 404 for a missing icon: every page links favicon.svg, and the
    site root has favicon.ico for what browsers ask by themselves; every page
    has a non-empty meta description of its own."""
    from PIL import Image

    with Image.open(site / "favicon.ico") as icon:
        assert icon.format == "ICO" and (32, 32) in icon.info["sizes"]
    assert ET.parse(site / "favicon.svg").getroot().tag == "{http://www.w3.org/2000/svg}svg"
    descriptions = {}
    for path in html_files(site):
        tags = parse(path).tags
        icons = [a["href"] for t, a in tags if t == "link" and a.get("rel") == "icon"]
        assert len(icons) == 1 and (path.parent / icons[0]).resolve() == (site / "favicon.svg").resolve(), path
        meta = [a.get("content", "") for t, a in tags if t == "meta" and a.get("name") == "description"]
        assert len(meta) == 1 and len(meta[0].strip()) > 20, path
        descriptions[path] = meta[0]
    certificates = [d for p, d in descriptions.items() if "/certificates/" in str(p)]
    assert len(set(certificates)) == len(certificates)   # each its own, not one text for all


class Text(html.parser.HTMLParser):
    """The first paragraph of <main> that has text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.first_p, self._in_main, self._p = None, False, None

    def handle_starttag(self, tag, attrs):
        self._in_main = self._in_main or tag == "main"
        if self._in_main and tag == "p" and self.first_p is None and self._p is None:
            self._p = ""

    def handle_endtag(self, tag):
        if tag == "p" and self._p is not None and self.first_p is None:
            self.first_p, self._p = (self._p.strip() or None), None

    def handle_data(self, data):
        if self._p is not None:
            self._p += data


def test_content_pages_open_in_chinese_and_the_report_page_says_how_to_report(site):
    """Issue 14: the report page opened in English, had no tappable 12315 and named
    verdicts its own way. Every content page's first paragraph is Chinese; the
    report page links tel:12315 and the national 12315 platform, and lists every
    verdict of registry.core.rules by its MEANING, the verify page's names."""
    from registry.core import rules

    for slug in ("about", "governance", "open-data", "report", "verify-a-mark"):
        text = Text()
        text.feed(page_of(site, slug).read_text(encoding="utf-8"))
        first_letter = re.search("[A-Za-z\u4e00-\u9fff]", text.first_p or "")
        assert first_letter and first_letter.group(0) >= "\u4e00", (slug, (text.first_p or "")[:40])
    report = page_of(site, "report")
    tags = parse(report).tags
    hrefs = [a.get("href") for t, a in tags if t == "a"]
    assert "tel:12315" in hrefs and "https://www.12315.cn/" in hrefs
    listed = [a["data-verdict"] for t, a in tags if t == "li" and "data-verdict" in a]
    assert sorted(listed) == sorted(rules.VERDICTS)
    page = html.unescape(report.read_text(encoding="utf-8"))
    for verdict, (zh, en) in rules.MEANING.items():
        assert f'data-verdict="{verdict}">{zh} <span lang="en">{en}</span>' in page, verdict


def test_the_verify_a_mark_page_lists_the_verdicts_of_the_rules(site):
    """One truth: the verdicts on the "how to verify a mark" page are those of
    registry.core.rules (VERDICTS, MEANING), rendered at build from the
    Markdown's marker, as on the report page; the page's Markdown holds no
    hand-copied list of verdicts."""
    from registry.core import rules

    page = page_of(site, "verify-a-mark")
    listed = [a["data-verdict"] for t, a in parse(page).tags if t == "li" and "data-verdict" in a]
    assert listed and sorted(listed) == sorted(rules.VERDICTS)
    text = html.unescape(page.read_text(encoding="utf-8"))
    for verdict, (zh, en) in rules.MEANING.items():
        assert f'data-verdict="{verdict}">{zh} <span lang="en">{en}</span>' in text, verdict
    assert 'class="verdict-groups"' not in text  # the marker was replaced
    source = (ROOT / "content" / "pages" / "verify-a-mark.md").read_text(encoding="utf-8")
    assert '<div class="verdict-groups"></div>' in source
    assert not re.search(r"^\|.*\|$", source, re.M), "a hand-kept table in the Markdown"


def test_a_large_site_splits_its_sitemap_and_crawlers_read_it(demo_db, serve_dir, tmp_path):
    """Issue 14: no sitemap file holds more than ``sitemap_urls`` URLs (sitemaps.org:
    50,000; 51,760 URLs at 22k certificates was one file). Here 25 a file, read
    the way a crawler does by a parser we did not write (ultimate-sitemap-parser,
    from robots.txt through the index, over HTTP on loopback): every page once."""
    from usp.tree import sitemap_tree_for_homepage

    out = tmp_path / "www"
    out.mkdir()
    base = serve_dir(out)
    build_site(demo_db[0], out, site_url=base + "/", sitemap_urls=25)
    locs, sizes = sitemap_locs(out)
    assert len(sizes) == -(-len(locs) // 25) > 2 and max(sizes.values()) == 25
    assert [f"sitemap-{n}.xml" for n in range(1, len(sizes) + 1)] == list(sizes)
    tree = sitemap_tree_for_homepage(base + "/", use_known_paths=False)
    read = [page.url for page in tree.all_pages()]
    assert sorted(read) == sorted(locs) and len(read) == len(set(read))
    with pytest.raises(ConfigError, match="at most 50000"):
        build_site(demo_db[0], tmp_path / "x", sitemap_urls=50_001)


def test_stats_charts_exist_with_the_target_line(site):
    svgs = {p.stem: p for p in (site / "stats").glob("*.svg")}
    assert set(svgs) >= {"progress", "district", "industry", "body", "programme", "status",
                         "actions"}
    for path in svgs.values():
        root = ET.parse(path).getroot()
        assert root.find("{http://www.w3.org/2000/svg}title").text
    progress = ET.parse(svgs["progress"]).getroot()
    target = [el for el in progress.iter("{http://www.w3.org/2000/svg}line")
              if el.get("data-target") == "100"]
    assert len(target) == 1
    assert "Target 2023: 100" in svgs["progress"].read_text(encoding="utf-8")
    page = page_of(site, "stats").read_text(encoding="utf-8")
    for name in svgs:
        if name.endswith("-narrow"):
            assert f'src="{name}.svg"' in page          # phones: the <img>
        else:
            assert f'srcset="{name}.svg"' in page       # from 600 px: the <source>
            assert name + "-narrow" in svgs
    assert page.count("<table") >= 7  # a data table under every chart


# ---------------------------------------------------------------- security of every page
SAFE_SCRIPT_SRC = re.compile(r"^(\.\./)*(\./)?theme/js/[\w.-]+\.js$")


def check_page_security(path):
    """Local resources only, the CSP meta, no inline script/style, no event handlers."""
    p = parse(path)
    metas = [a for t, a in p.tags if t == "meta" and a.get("http-equiv") ==
             "Content-Security-Policy"]
    assert len(metas) == 1, path
    csp = metas[0]["content"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    assert "object-src 'none'" in csp and "base-uri 'none'" in csp
    for tag, attrs in p.tags:
        assert not any(k.startswith("on") for k in attrs), (path, tag, attrs)
        assert "style" not in attrs, (path, tag)
        assert tag not in ("style", "iframe", "object", "embed", "base", "svg"), (path, tag)
        url = {"script": attrs.get("src"), "img": attrs.get("src"),
               "link": attrs.get("href")}.get(tag)
        if url is not None:
            assert not re.match(r"^([a-z][a-z0-9+.-]*:|//)", url, re.I), (path, tag, url)
        if tag == "script" and attrs.get("type") != "application/ld+json":
            assert SAFE_SCRIPT_SRC.match(attrs.get("src") or ""), (path, attrs)
        if tag == "a":
            assert not (attrs.get("href") or "").lower().startswith(("javascript:", "data:"))
    for attrs, body in p.scripts:
        if attrs.get("type") != "application/ld+json":
            assert body.strip() == "", (path, "inline script")
    return p


def test_every_page_has_csp_and_only_local_resources(site):
    files = html_files(site)
    assert len(files) > 100
    for path in files:
        check_page_security(path)


def test_xss_corpus_renders_as_text(xss_site):
    pages = html_files(xss_site)
    for path in pages:
        check_page_security(path)
    texts = "\n".join(p.read_text(encoding="utf-8") for p in pages)
    # The payloads appear, escaped, as text (not dropped on the floor).
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in texts
    assert "{{7*7}} ${7*7}" in texts
    # The website that tries to leave its href is shown, never linked raw.
    assert 'href="https://x.example/"><script>' not in texts
    # JSON-LD carries the exact strings and parses.
    for path in (xss_site / "certificates").glob("*/index.html"):
        data = jsonld_of(path)
        assert data["about"]["name"].split("产品")[0] in XSS_STRINGS
        raw = next(b for a, b in parse(path).scripts if a.get("type") == "application/ld+json")
        assert "<" not in raw and ">" not in raw
    assert XSS_WEBSITE  # used by the registry: enterprises and the body


def test_xss_feeds_are_well_formed_and_carry_text(xss_site):
    paths = [xss_site / "feeds/all.atom.xml", *(xss_site / "feeds/bodies").glob("*.xml"),
             xss_site / "sitemap.xml", *(xss_site / "stats").glob("*.svg")]
    for path in paths:
        ET.parse(path)  # well-formed XML whatever the registry holds
    feed = ET.parse(xss_site / "feeds/all.atom.xml").getroot()
    summaries = " ".join(e.find(f"{ATOM}summary").text for e in feed.findall(f"{ATOM}entry"))
    assert "<script>window.__xss=1</script>" in summaries  # as text, after XML unescaping
    for el in feed.iter():
        assert el.tag.startswith(ATOM), el.tag  # no injected elements


OTHER_WRITERS = ("api", "v", "marks", "downloads", "log")


def test_internal_links_resolve(site):
    """Every relative link/src of every page reaches a file Pelican wrote, except
    the directories publish.py adds afterwards (portal-shared.md)."""
    broken = []
    files = {str(p.relative_to(site)) for p in site.rglob("*") if p.is_file()}
    for path in html_files(site):
        here = str(path.parent.relative_to(site))
        for tag, attrs in parse(path).tags:
            url = attrs.get("href") if tag in ("a", "link") else attrs.get("src")
            if not url or re.match(r"^([a-z][a-z0-9+.-]*:|//|#)", url, re.I):
                continue
            if url.startswith(DATASETTE):
                continue
            rel = os.path.normpath(os.path.join(here, unquote(urlsplit(url).path)))
            assert not rel.startswith(".."), (path, url)  # never above the site root
            rel = "" if rel == "." else rel
            if rel.split("/")[0] in OTHER_WRITERS:
                continue
            if rel not in files and os.path.join(rel, "index.html") not in files:
                broken.append((str(path.relative_to(site)), url))
    assert broken == []


# ---------------------------------------------------------------- valid HTML
VNU = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
# The Nu HTML Checker reads the files from disk (file: URLs), where a CSP of
# 'self' matches nothing: its CSP messages are about file: URLs, not the pages.
VNU_FILE_URL_NOISE = "violates Content Security Policy"


def vnu_messages(paths):
    """The Nu HTML Checker's errors and warnings on ``paths`` (one JVM for all)."""
    assert VNU.is_file(), "node_modules/vnu-jar missing: run `make system-deps` (npm ci)"
    run = subprocess.run(["java", "-jar", str(VNU), "--format", "json", "--exit-zero-always",
                          *map(str, paths)], capture_output=True, text=True, timeout=300, check=True)
    messages = json.loads(run.stderr or run.stdout)["messages"]
    return [f"{unquote(m.get('url', '')).rsplit('/out/', 1)[-1]}:{m.get('lastLine')}: "
            f"{m['type']}/{m.get('subType', '')}: {m['message']}"
            for m in messages if VNU_FILE_URL_NOISE not in m["message"]]


def test_a_sample_of_every_page_type_is_valid_html(site, demo_db):
    """The Nu HTML Checker (vnu.jar, from npm's vnu-jar; needs Java) finds no error
    and no warning on one page of each type: the old ``<form action="">`` of the
    search page was an error."""
    db, revoked, _ = demo_db
    one = lambda sql: rows(db, sql)[0][0]  # noqa: E731 - a local shorthand
    standard = re.sub(r"[^a-z0-9]+", "-", one("select min(code) from standards").lower())
    sample = ["", f"certificates/{revoked}", f"certificates/{one('select min(cert_no) from certificates')}",
              f"products/{one('select min(id) from products')}",
              f"enterprises/{one('select min(uscc) from enterprises')}",
              f"bodies/{one('select min(code) from bodies')}", f"standards/{standard}", "lists", "lists/status/valid",
              next_page(site, "lists/status/valid/"), "notices", "stats", "search", "about", "report", "open-data",
              "governance", "verify-a-mark"]
    assert vnu_messages([page_of(site, rel) for rel in sample]) == []


def test_the_html_check_reports_invalid_html(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>t</title></head>'
                   '<body><form action=""><input name="q"></form><section><p>x</p></section></body></html>',
                   encoding="utf-8")
    found = vnu_messages([bad])
    assert any("Bad value “” for attribute “action”" in m and "error/" in m for m in found), found
    assert any("Section lacks heading" in m and "info/warning" in m for m in found), found


# ---------------------------------------------------------------- configuration errors
def test_bad_settings_and_missing_registry_stop_the_build(tmp_path, demo_db):
    with pytest.raises(ConfigError, match=r"unknown setting.*per_pag"):
        build_site(demo_db[0], tmp_path / "a", per_pag=3)
    with pytest.raises(BuildError, match="no such registry database"):
        build_site(tmp_path / "missing.db", tmp_path / "b")
    assert not (tmp_path / "b" / "certificates").exists()


def test_two_builds_are_identical(demo_db, site, tmp_path):
    again = build_site(demo_db[0], tmp_path / "again")
    first = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []


# ---------------------------------------------------------------- Chromium
@pytest.mark.browser
def test_xss_pages_run_no_script_in_chromium(xss_site, serve_dir, page):
    base = serve_dir(xss_site)
    cert = sorted(p.parent.name for p in (xss_site / "certificates").glob("*/index.html"))[0]
    for rel in (f"certificates/{cert}/", "lists/status/revoked/", "notices/", "bodies/XSS/",
                "feeds/all.atom.xml", "stats/", ""):
        page.goto(f"{base}/{rel}")
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.__xss") == "undefined", rel
        assert page.evaluate("typeof window.parent.__xss") == "undefined", rel
    assert not page.page_errors


@pytest.mark.browser
def test_certificate_page_in_chromium(site, demo_db, serve_dir, page):
    _, revoked, _ = demo_db
    base = serve_dir(site)
    valid = sorted(p.parent.name for p in (site / "certificates").glob("SZZZ-*/index.html")
                   if "有效" in p.read_text(encoding="utf-8").split('verdict-status">')[1][:80])[0]
    page.goto(f"{base}/certificates/{valid}/")
    status = page.locator(".verdict-status")
    assert status.is_visible() and "有效" in status.inner_text() and "valid" in status.inner_text()
    assert len(page.screenshot(full_page=False)) > 10_000
    page.goto(f"{base}/certificates/{revoked}/")
    assert "撤销" in page.locator(".verdict-status").inner_text()
    # Keyboard: Tab reaches the verify link (skip link first).
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    for _ in range(60):
        if page.evaluate("document.activeElement.id") == "verify-link":
            break
        page.keyboard.press("Tab")
    else:
        pytest.fail("keyboard focus never reached the verify link")
    # Print: navigation and action buttons hidden, the status box kept.
    page.emulate_media(media="print")
    assert not page.locator("header.site nav").is_visible()
    assert not page.locator("#verify-link").is_visible()
    assert page.locator(".verdict-status").is_visible()
    assert not page.page_errors
