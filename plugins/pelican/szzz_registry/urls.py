"""The site's URL layout (docs/site.md; portal-shared.md is the contract).

Every link the plugin writes is relative to the page it is on, so the site
works from any host and any sub-path (``python -m http.server`` included).
Functions here return paths relative to the site root ending in ``/`` for
directory pages; templates prefix them with ``root`` (``../`` × depth).

Path segments come from registry identifiers. Those are validated when
written, but a segment that could climb out of the output directory (``..``,
``/``, NUL) stops the build here too: a path is never built from an
unchecked string.
"""

import re
from urllib.parse import quote, urlsplit

from registry.core.exceptions import BuildError

_SAFE_SEGMENT = re.compile(r"^[^/\\\x00-\x1f]{1,120}$")


def slug(code):
    """Standard code -> URL slug: lowercase, non-alphanumerics -> ``-``.

    ``DB3205/T 1001-2021`` -> ``db3205-t-1001-2021``.
    """
    out = re.sub(r"[^a-z0-9]+", "-", code.lower()).strip("-")
    if not out:
        raise BuildError(f"standard code {code!r} gives an empty URL slug")
    return out


def segment(value):
    """A checked path segment (for the file system and, quoted, for hrefs)."""
    text = str(value)
    if not _SAFE_SEGMENT.match(text) or text in (".", ".."):
        raise BuildError(f"{text!r} cannot be used as a URL path segment")
    return text


def q(value):
    """Percent-encode a segment for an href (district names are Chinese)."""
    return quote(segment(value), safe="")


def certificate(cert_no):
    return f"certificates/{q(cert_no)}/"


def product(pid):
    return f"products/{q(pid)}/"


def enterprise(uscc):
    return f"enterprises/{q(uscc)}/"


def body(code):
    return f"bodies/{q(code)}/"


def standard(row):
    return f"standards/{q(row['slug'])}/"


def listing(kind, key, first=None):
    """A page of a list: the first (``first`` None), or the one starting at
    certificate ``first`` (paging.py: pages are named by their first certificate)."""
    base = f"lists/{kind}/{q(key)}/"
    return base if first is None else f"{base}page/{q(first)}/"


def body_feed(code):
    return f"feeds/bodies/{q(code)}.atom.xml"


def mark(cert_no, ext):
    return f"marks/{q(cert_no)}.{ext}"


def api_certificate(cert_no):
    return f"api/certificates/{q(cert_no)}.json"


def verify(payload_text):
    # The payload goes in the fragment: it never reaches a server.
    return f"v/#{payload_text}" if payload_text else "v/"


def depth(rel_dir):
    """Number of directories below the root of a page path ``a/b/``."""
    return len([p for p in rel_dir.split("/") if p])


def root_for(rel_dir):
    return "../" * depth(rel_dir) or "./"


def file_path(rel_url):
    """Unquoted file path of a directory URL (``lists/district/吴中区/``)."""
    from urllib.parse import unquote
    return unquote(rel_url)


def safe_href(value):
    """An attacker-supplied website as a link only when it is http(s).

    ``javascript:``, ``data:`` and the like become plain text (returns None).
    """
    if not value:
        return None
    try:
        parts = urlsplit(str(value).strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return parts.geturl()


def origin(url):
    """``https://host:port`` of an absolute URL, or None for relative ones."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def absolute(site_url, rel):
    """``site_url`` + site-relative path, or the relative path when no site URL."""
    if not site_url:
        return rel
    return site_url.rstrip("/") + "/" + rel
