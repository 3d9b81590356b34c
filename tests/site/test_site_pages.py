"""The Pelican pages on the phones people use (issue 14), in real Chromium.

One real Pelican build of a 40-certificate demo registry (one certificate
revoked, one suspended, one withdrawn; lists of 10 so that they paginate),
served on loopback. What a person relies on:

* axe-core (from npm, injected with ``add_init_script``: the site's CSP
  blocks script tags) finds no violation on any page type, on a phone and on
  a desktop screen;
* at 390x844 nothing is cut or broken mid-word: no horizontal scrolling, no
  clipped box, a certificate number always on one line, no Latin word split
  across lines (CJK text may break between characters, as it does in print);
* certificate tables are stacked cards under 600 px, the menu takes one
  short row until opened, and the charts are drawn for the phone's width;
* screenshots at 390x844 of a certificate page, a list page and the
  statistics page are saved in ``tests/artefacts/`` (git-ignored) for people
  to look at.
"""

from __future__ import annotations

import posixpath
import re
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import pytest
from helpers import assert_no_js_errors
from pelican import Pelican
from pelican.settings import read_settings

import publish

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTEFACTS = ROOT / "tests" / "artefacts"
PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": 360, "height": 780}
DESKTOP = {"width": 1280, "height": 800}
SVG = "{http://www.w3.org/2000/svg}"
MIN_CHART_TEXT_PX = 11.5   # smallest chart text on a 360 px phone, in CSS px


@pytest.fixture(scope="module")
def site(make_registry, tmp_path_factory) -> dict:
    built = make_registry(demo=40, revoke=True, suspend=True, withdraw=True)
    out = tmp_path_factory.mktemp("pages") / "www"
    settings = read_settings(str(publish.PELICAN_CONF), override={
        "OUTPUT_PATH": str(out),
        "SZZZ": {"db": str(built.db), "site_url": "https://szzz.example/", "datasette_url": "http://127.0.0.1:8001/",
                 "build_time": "2025-06-01T15:59:59Z", "per_page": 10}})
    Pelican(settings).run()
    conn = sqlite3.connect(built.db)
    try:
        q = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731 - a local shorthand
        cert = q("select min(cert_no) from certificates where status = 'valid'")
        pages = {
            "home": "",
            "certificate": f"certificates/{cert}/",
            "certificate-revoked": f"certificates/{built.revoked}/",
            "product": f"products/{q('select min(id) from products')}/",
            "enterprise": f"enterprises/{q('select min(uscc) from enterprises')}/",
            "body": f"bodies/{q('select min(code) from bodies')}/",
            "standard": f"standards/{re.sub(r'[^a-z0-9]+', '-', q('select min(code) from standards').lower())}/",
            "list": "lists/status/valid/",
            # Pages are named by their first certificate: the one the first page calls "next".
            "list-page-2": posixpath.normpath(posixpath.join("lists/status/valid/", re.search(
                r'<a rel="next" href="([^"]+)"', (out / "lists/status/valid/index.html").read_text()).group(1)))
            + "/",
            "list-district": f"lists/district/{quote(q('select min(district) from enterprises'))}/",
            "lists": "lists/",
            "notices": "notices/",
            "stats": "stats/",
            "search": "search/",
            "search-exact": f"search/?q={cert}",
            "search-none": "search/?q=SZZZ-2099-CQC-00001",
            "search-words": "search/?q=" + quote("苏州"),
            "about": "about/",
            "report": "report/",
            "open-data": "open-data/",
            "governance": "governance/",
            "verify-a-mark": "verify-a-mark/",
        }
    finally:
        conn.close()
    return {"dir": out, "pages": pages, "cert": cert}


def open_page(page, base: str, rel: str) -> None:
    page.goto(f"{base}/{rel}")
    page.wait_for_load_state("load")
    if rel.startswith("search/?q="):
        page.wait_for_function("() => document.getElementById('search').dataset.state === 'done'")


def axe_violations(page) -> list:
    return page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ': ' + n.failureSummary)}));
    }""")


# ---------------------------------------------------------------- axe-core
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_axe_finds_no_violation_on_any_page_type(site, serve_dir, new_page, viewport):
    page = new_page(viewport=viewport)
    page.add_init_script(path=str(AXE))
    base = serve_dir(site["dir"])
    found = {}
    for name, rel in site["pages"].items():
        open_page(page, base, rel)
        assert page.evaluate("typeof axe") == "object", "axe-core was not injected"
        violations = axe_violations(page)
        if violations:
            found[name] = violations
    assert found == {}
    assert_no_js_errors(page)


@pytest.fixture
def axe_page(new_page):
    page = new_page(viewport=PHONE)
    page.add_init_script(path=str(AXE))
    return page


def test_the_axe_check_reports_violations(axe_page, tmp_path, serve_dir):
    """The check itself: axe run the same way reports a contrast failure like
    the 4.29:1 one of issue 14, and an image without alt text."""
    (tmp_path / "bad.html").write_text(
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>t</title>'
        '<style>p { color: #777; background: #fff; }</style></head><body><main>'
        '<p>灰色文字 4.48:1</p><img src="x.png"></main></body></html>', encoding="utf-8")
    axe_page.goto(f"{serve_dir(tmp_path)}/bad.html")
    ids = {v["id"] for v in axe_violations(axe_page)}
    assert {"color-contrast", "image-alt"} <= ids


# ---------------------------------------------------------------- phone layout
# Every Latin word (letters and digits, not Han) of visible text must sit on
# one line; a certificate number (.cert-no) too, with its hyphens.
BROKEN_TEXT = """() => {
    const out = {brokenWords: [], brokenNumbers: [], clipped: [], offscreen: []};
    const visible = el => { const s = getComputedStyle(el);
        return s.visibility !== 'hidden' && s.display !== 'none' && el.getClientRects().length > 0 &&
               !el.closest('.visually-hidden, .skip, [hidden], thead, details:not([open]) > nav'); };
    // Text in a box that scrolls sideways (a code sample) is reached by scrolling, not cut.
    const scrolls = el => { for (let e = el; e; e = e.parentElement) {
        if (['auto', 'scroll'].includes(getComputedStyle(e).overflowX) && e !== document.documentElement) return true; }
        return false; };
    const lines = rects => new Set(Array.from(rects).filter(r => r.width > 0)
                                  .map(r => Math.round(r.top))).size;
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const word = /[\\p{L}\\p{N}]{2,}/gu, han = /\\p{Script=Han}/u;
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const el = node.parentElement;
        if (!el || !visible(el)) continue;
        for (const m of node.data.matchAll(word)) {
            if (han.test(m[0])) continue;
            const range = document.createRange();
            range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
            if (lines(range.getClientRects()) > 1) out.brokenWords.push(m[0] + ' in ' + el.localName);
            const r = range.getBoundingClientRect();
            if (r.width > 0 && (r.right > innerWidth + 0.5 || r.left < -0.5) && !scrolls(el)) out.offscreen.push(m[0]);
        }
    }
    for (const el of document.querySelectorAll('.cert-no')) {
        if (visible(el) && lines(el.getClientRects()) > 1) out.brokenNumbers.push(el.textContent);
    }
    for (const el of document.querySelectorAll('main *, header *')) {
        const s = getComputedStyle(el);
        if (!visible(el) || !['hidden', 'clip'].includes(s.overflowX)) continue;
        if (el.scrollWidth > el.clientWidth + 1) out.clipped.push(el.localName + '.' + el.className);
    }
    out.scrollWidth = document.documentElement.scrollWidth;
    return out;
}"""


def test_no_text_is_cut_or_split_mid_word_on_a_phone(site, serve_dir, page):
    """At 390x844: no page scrolls sideways, no box clips its text, no
    certificate number wraps (it did over up to 7 lines in list tables) and no
    Latin word, table header included, breaks across lines."""
    base = serve_dir(site["dir"])
    problems = {}
    for name, rel in site["pages"].items():
        open_page(page, base, rel)
        found = page.evaluate(BROKEN_TEXT)
        found = {k: v for k, v in found.items() if v and k != "scrollWidth"} | (
            {"scrollWidth": found["scrollWidth"]} if found["scrollWidth"] > PHONE["width"] else {})
        if found:
            problems[name] = found
    assert problems == {}
    assert_no_js_errors(page)


def test_the_split_word_check_sees_a_split_word(tmp_path, serve_dir, page):
    """The check itself: a number in a narrow box with ``overflow-wrap: anywhere``
    (what the list tables had) is reported, as is a clipped box."""
    (tmp_path / "split.html").write_text(
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>t</title>'
        '<style>td { width: 3rem; overflow-wrap: anywhere } .c { width: 2rem; overflow: hidden;'
        ' white-space: nowrap }</style></head><body><main><table><tr><td><a class="cert-no">'
        'SZZZ-2024-TUVSUD-00001</a></td><td>Enterprise</td></tr></table>'
        '<p class="c">Certificates</p></main></body></html>', encoding="utf-8")
    page.goto(f"{serve_dir(tmp_path)}/split.html")
    found = page.evaluate(BROKEN_TEXT)
    assert found["brokenNumbers"] == ["SZZZ-2024-TUVSUD-00001"]
    assert "TUVSUD in a" in found["brokenWords"] and found["clipped"] == ["p.c"]


def test_certificate_tables_are_cards_on_a_phone_and_tables_on_a_desktop(site, serve_dir, new_page):
    base = serve_dir(site["dir"])
    layouts = {}
    for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = new_page(viewport=viewport)
        open_page(page, base, site["pages"]["list"])
        layouts[name] = page.evaluate("""() => {
            const row = document.querySelector('table.certs tbody tr');
            const cells = Array.from(row.children).map(td => td.getBoundingClientRect());
            const label = row.querySelector('.cell-label');
            return {display: getComputedStyle(row).display,
                    stacked: cells.every((c, i) => i === 0 || c.top >= cells[i - 1].bottom - 1),
                    label: getComputedStyle(label).display !== 'none' ? label.innerText : null,
                    head: getComputedStyle(document.querySelector('table.certs thead')).position};
        }""")
    assert layouts["phone"] == {"display": "block", "stacked": True, "label": "证书编号 No.", "head": "absolute"}
    assert layouts["desktop"] == {"display": "table-row", "stacked": False, "label": None, "head": "static"}


def test_the_menu_is_one_short_row_until_opened(site, serve_dir, new_page):
    """The phone menu took 28% of the first screen; now the header is one row
    (at most 8% of 844 px) and the links show when 菜单 Menu is opened; on a
    desktop they are in the row without a click."""
    base = serve_dir(site["dir"])
    page = new_page(viewport=PHONE)
    open_page(page, base, "")
    header = page.locator("header.site").bounding_box()
    assert header["height"] <= 0.08 * PHONE["height"]
    links = page.locator("header.site nav a")
    assert links.count() == 8 and not links.first.is_visible()
    page.locator("details.menu > summary").click()
    assert all(links.nth(i).is_visible() for i in range(8))
    for i in range(8):
        box = links.nth(i).bounding_box()
        assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    page.keyboard.press("Escape")
    desktop = new_page(viewport=DESKTOP)
    open_page(desktop, base, "")
    assert all(desktop.locator("header.site nav a").nth(i).is_visible() for i in range(8))
    assert not desktop.locator("details.menu > summary").is_visible()
    assert desktop.locator("header.site").bounding_box()["height"] <= 80


def chart_text_sizes(svg_text: str) -> tuple[float, list[float]]:
    root = ET.fromstring(svg_text.encode())
    width = float(root.get("viewBox").split()[2])
    return width, [float(t.get("font-size")) for t in root.iter(f"{SVG}text")]


def test_charts_are_readable_on_a_360_px_phone(site, serve_dir, new_page):
    """Chart text was about 6 px on a phone; on a 360 px screen the page shows
    the narrow drawings, whose smallest text is at least 11.5 CSS px as shown;
    from 600 px the wide ones."""
    base = serve_dir(site["dir"])
    page = new_page(viewport=SMALL_PHONE)
    open_page(page, base, "stats/")
    shown = page.locator("figure img").evaluate_all(
        "imgs => imgs.map(i => [i.currentSrc, i.getBoundingClientRect().width, i.complete && i.naturalWidth])")
    assert len(shown) == 7
    for src, displayed, natural in shown:
        assert src.endswith("-narrow.svg") and natural, src
        width, sizes = chart_text_sizes((site["dir"] / "stats" / src.rsplit("/", 1)[1]).read_text(encoding="utf-8"))
        assert min(sizes) * displayed / width >= MIN_CHART_TEXT_PX, (src, min(sizes), displayed, width)
    wide = new_page(viewport=DESKTOP)
    open_page(wide, base, "stats/")
    srcs = wide.locator("figure img").evaluate_all("imgs => imgs.map(i => i.currentSrc)")
    assert srcs and not any(s.endswith("-narrow.svg") for s in srcs)


def test_the_demo_banner_is_on_every_page_type(site, serve_dir, page):
    base = serve_dir(site["dir"])
    for name, rel in site["pages"].items():
        open_page(page, base, rel)
        banner = page.locator("#demo-banner")
        assert banner.is_visible(), name
        assert "演示数据" in banner.inner_text() and "Demo data" in banner.inner_text()


# ---------------------------------------------------------------- screenshots
def test_phone_screenshots_of_a_certificate_a_list_and_the_statistics(site, serve_dir, page):
    """Saved for people to look at (tests/artefacts/, git-ignored): the first
    screen and the whole page at 390x844."""
    ARTEFACTS.mkdir(exist_ok=True)
    base = serve_dir(site["dir"])
    for name in ("certificate", "list", "stats", "search-exact", "report"):
        open_page(page, base, site["pages"][name])
        for suffix, full in (("", False), ("-full", True)):
            path = ARTEFACTS / f"{name}-390x844{suffix}.png"
            path.write_bytes(page.screenshot(full_page=full))
            assert path.stat().st_size > 10_000, path
    assert_no_js_errors(page)
