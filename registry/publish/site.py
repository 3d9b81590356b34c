"""The published site's identity: its URL and its log's names, decided in one place.

The site URL is what marks print (``<site>/v/#<digits>``), what the sitemap,
feeds and JSON-LD make absolute links with, and what names the log: the
checkpoint origin is the URL's host and path plus ``/log``
(:func:`registry.store.trust.log_names`). It is the registry's setting
(``meta.site_url``, given once to ``szzz init --site-url``), checked against
the QR budget (:func:`registry.marks.qr.check_site_url`). A registry that has
it is the one truth: a ``--site-url`` of ``szzz mark`` or ``publish.py
build`` may repeat it but never differ (ConfigError). Only a registry without
one — the demo, or one made by the library without a URL — takes the option
(a local preview), else the placeholder; its log origin stays the
placeholder's, since a log's origin is its identity.
"""

from __future__ import annotations

from registry.core.exceptions import ConfigError
from registry.log.checkpoint import LogNames
from registry.marks.qr import check_site_url, max_site_url_length
from registry.store import schema, trust

DEFAULT_SITE_URL = "https://szzz.example.cn"
def site_url_help() -> str:
    """What ``szzz init`` asks for when ``--site-url`` is missing (docs/cli.md)."""
    return ("the public address of the registry's site, e.g. --site-url https://szzz.suzhou.gov.cn "
            f"(lowercase http(s)://host[/path], at most {max_site_url_length()} characters: it is printed "
            "into every QR mark, docs/mark-payload.md, and names the transparency log, HOST/PATH/log)")


def registry_site_url(url: str | None) -> str:
    """Check the site URL a real (non-demo) registry is created with: the QR
    budget and form (:func:`check_site_url`), and not the placeholder, which
    would name every mark and the log after a site nobody serves."""
    if not url:
        raise ConfigError("a registry needs its site URL: " + site_url_help())
    try:
        checked = check_site_url(url)
    except ConfigError as e:
        raise ConfigError(f"{e}; the URL is printed into every QR mark, which must stay small enough "
                          "to scan (docs/mark-payload.md, size budget)") from None
    if checked.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0] == DEFAULT_SITE_URL.split("://", 1)[1]:
        raise ConfigError(f"site URL {url!r} is the placeholder of the demo; expected the address where "
                          "this registry will be served (it is printed into every QR mark and names the log)")
    return checked


def site_url_for(db, override=None) -> str:
    """The registry's site URL, normalised and checked (ConfigError).

    ``meta.site_url`` when set, and then ``override`` (a ``--site-url``) must
    equal it; otherwise ``override``, else the placeholder.
    """
    stored = schema.get_meta(db, "site_url")
    if stored:
        url = check_site_url(stored)
        if override is not None and check_site_url(override) != url:
            raise ConfigError(
                f"--site-url {override!r} differs from the registry's site URL {url!r} (szzz init "
                "--site-url); one registry has one URL for its marks, pages and log: observed "
                f"{check_site_url(override)!r}, expected {url!r} or no --site-url")
        return url
    return check_site_url(override or DEFAULT_SITE_URL)


def preview_site_url(db_path, local_url: str) -> str | None:
    """The ``--site-url`` that ``publish.py serve`` builds the registry at
    ``db_path`` with: none when the registry has its own (pages use relative
    links, so the local server works either way), else ``local_url``, so the
    demo's marks scan to the local server."""
    db = schema.connect(db_path, readonly=True)
    try:
        return None if schema.get_meta(db, "site_url") else local_url
    finally:
        db.conn.close()


def log_names_for(db) -> LogNames:
    """The registry's log names (:func:`registry.store.trust.log_names`): ``meta.log_origin``
    if configured, else derived from its own site URL — never from a per-build ``--site-url``."""
    return trust.log_names(db)


def is_demo(db) -> bool:
    """Whether the registry is the invented demo one: ``meta.demo`` is set by
    :func:`registry.store.demo.build` (and copied to the public database, where
    the site reads it); every page of such a build says "演示数据 demo data"."""
    return bool(schema.get_meta(db, "demo"))
