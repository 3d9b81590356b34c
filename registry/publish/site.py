"""The published site's identity: its URL and its log's names, written once.

The site URL is what marks print (``<site>/v/#<digits>``), what the sitemap,
feeds and JSON-LD make absolute links with, and what names the log: the
checkpoint origin is the URL's host and path plus ``/log``. It is the
registry's setting (``meta.site_url``), checked against the QR budget
(:func:`registry.marks.qr.check_site_url`); a build may override it for a
local preview (``publish.py serve``), but the log's origin is always the
registry's, since a log's origin is its identity.
"""

from __future__ import annotations

from registry.log.checkpoint import LogNames, names_for
from registry.marks.qr import check_site_url
from registry.store import schema

DEFAULT_SITE_URL = "https://szzz.example.cn"


def site_url_for(db, override=None) -> str:
    """``override`` (a ``--site-url``), else the registry's ``meta.site_url``, else the
    default; normalised and checked (ConfigError)."""
    return check_site_url(override or schema.get_meta(db, "site_url") or DEFAULT_SITE_URL)


def log_names_for(db) -> LogNames:
    """The registry's log names: ``meta.log_origin`` if configured, else derived from
    its own site URL — never from a per-build ``--site-url``."""
    return names_for(site_url_for(db), origin=schema.get_meta(db, "log_origin"))


def is_demo(db) -> bool:
    """Whether the registry is the invented demo one: ``meta.demo`` is set by
    :func:`registry.store.demo.build` (and copied to the public database, where
    the site reads it); every page of such a build says "演示数据 demo data"."""
    return bool(schema.get_meta(db, "demo"))
