"""Atom feeds of certificate status changes, the sitemap and robots.txt.

Feeds (RFC 4287): ``feeds/all.atom.xml`` and ``feeds/bodies/<code>.atom.xml``
hold the newest ``SZZZ["feed_entries"]`` (default 200) certificate events,
newest first. Entry ids are tag URIs (RFC 4151) made from the event's
global sequence number — ``tag:<authority>,2020-12-28:szzz/event/<seq>`` —
so an entry keeps its id across rebuilds and hosts; dates are the events'
own dates (00:00 in Suzhou, UTC+8), never the build's wall clock.

Everything is written with ``xml.sax.saxutils`` escaping: event reasons and
names are attacker-controlled text.
"""

import re
from xml.sax.saxutils import escape, quoteattr

from registry.core import lifecycle
from szzz_registry import urls

ATOM_NS = "http://www.w3.org/2005/Atom"
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
SITEMAP_MAX_URLS = 50_000  # sitemaps.org: at most 50,000 URLs (and 50 MB) per sitemap file
TAG_DATE = "2020-12-28"  # date of 苏府〔2020〕128号, fixed forever in entry ids


# What XML 1.0 cannot carry: C0 controls other than TAB/LF/CR, surrogates,
# U+FFFE/FFFF. Validation refuses them, but a feed must stay well-formed
# whatever the database holds, so they become U+FFFD.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(value):
    return _NOT_XML.sub("\ufffd", "" if value is None else str(value))


def _xml_text(value):
    return escape(_clean(value))


def _attr(value):
    return quoteattr(_clean(value))


def event_time(date):
    return f"{date}T00:00:00+08:00"


def tag_uri(authority, seq):
    return f"tag:{authority},{TAG_DATE}:szzz/event/{seq}"


def atom(events, *, title, feed_rel, site_url, authority, updated, limit=200):
    """One Atom document (text) for ``events`` (any order; newest ``limit`` kept)."""
    newest = sorted(events, key=lambda e: e["seq"], reverse=True)[:limit]
    feed_dir = feed_rel.rsplit("/", 1)[0] + "/"
    root = urls.root_for(feed_dir)

    def link(rel):
        # Absolute when the site URL is known; else relative to the feed file.
        return urls.absolute(site_url, rel) if site_url else root + rel

    if newest:
        updated = event_time(newest[0]["date"])
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<feed xmlns="{ATOM_NS}" xml:lang="zh-CN">',
        f"<title>{_xml_text(title)}</title>",
        f"<id>tag:{authority},{TAG_DATE}:szzz/{_xml_text(feed_rel)}</id>",
        f"<updated>{updated}</updated>",
        f"<link rel=\"self\" href={_attr(link(feed_rel))}/>",
        f"<link rel=\"alternate\" type=\"text/html\" href={_attr(link('notices/'))}/>",
        "<author><name>苏州制造品牌认证公共登记平台</name></author>",
    ]
    for ev in newest:
        cert = ev["cert"]
        zh, en = lifecycle.EVENT_NAMES.get(ev["type"], (ev["type"], ev["type"]))
        status_zh, status_en = lifecycle.STATUS_NAMES[cert["status"]]
        product = cert["product_row"]
        summary = (
            f"{cert['cert_no']} {product['name_zh']}：{zh}（{en}），{ev['date']}，"
            f"认证机构 {ev['actor']}，事件序号 {ev['seq']}。"
            + (f"原因：{ev['reason']}。" if ev.get("reason") else "")
            + f"当前状态 Current status: {status_zh} {status_en}."
        )
        href = link(urls.certificate(cert["cert_no"])) + "#history"
        out += [
            "<entry>",
            f"<title>{_xml_text(cert['cert_no'] + ' ' + zh + ' · ' + en)}</title>",
            f"<id>{tag_uri(authority, ev['seq'])}</id>",
            f"<updated>{event_time(ev['date'])}</updated>",
            f"<published>{event_time(ev['date'])}</published>",
            f"<link rel=\"alternate\" type=\"text/html\" href={_attr(href)}/>",
            f"<category term={_attr(ev['type'])} label={_attr(zh + ' ' + en)}/>",
            f"<summary>{_xml_text(summary)}</summary>",
            "</entry>",
        ]
    out.append("</feed>")
    return "\n".join(out) + "\n"


def sitemap(entries, site_url):
    """``entries``: (site-relative URL, lastmod date or None), in output order."""
    return _sitemap_document("urlset", "url", entries, site_url)


def sitemap_index(files, site_url):
    """A sitemap index (sitemaps.org): ``files`` = (site-relative name, lastmod or None)."""
    return _sitemap_document("sitemapindex", "sitemap", files, site_url)


def _sitemap_document(root, element, entries, site_url):
    """A sitemaps.org document: ``<root>`` of one ``<element>`` (``loc``, optional
    ``lastmod``) per (site-relative URL, lastmod or None) entry, in order."""
    out = ['<?xml version="1.0" encoding="utf-8"?>', f'<{root} xmlns="{SITEMAP_NS}">']
    out += [sitemap_line(element, rel, lastmod, site_url) for rel, lastmod in entries]
    out.append(f"</{root}>")
    return "\n".join(out) + "\n"


def sitemap_prefix(element, rel, site_url):
    """How the line of ``rel`` in a sitemap document starts (up to its ``loc``'s end)."""
    return f"<{element}><loc>{_xml_text(urls.absolute(site_url, rel))}</loc>"


def sitemap_line(element, rel, lastmod, site_url):
    """One line of a sitemap document: ``<element>`` with ``loc`` and, when known, ``lastmod``."""
    line = sitemap_prefix(element, rel, site_url)
    if lastmod:
        line += f"<lastmod>{_xml_text(lastmod)}</lastmod>"
    return line + f"</{element}>"


def robots(site_url):
    """``robots.txt`` (RFC 9309): everything may be crawled; the sitemap index,
    when the site's absolute URL is known (a Sitemap line must be absolute).
    The verify page is not disallowed: it says ``noindex`` itself, which a
    crawler can only read when it may fetch the page."""
    lines = ["# 苏州制造品牌认证公共登记平台 · Made in Suzhou certification registry",
             "User-agent: *", "Allow: /"]
    if site_url:
        lines.append(f"Sitemap: {urls.absolute(site_url, 'sitemap.xml')}")
    return "\n".join(lines) + "\n"
