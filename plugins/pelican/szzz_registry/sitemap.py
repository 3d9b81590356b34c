"""The sitemap: ``sitemap.xml``, an index of ``sitemap-<n>.xml`` files (docs/site.md).

Every page the generator writes is listed once, in the order it writes them —
home, certificates (with their status date as ``lastmod``), products,
enterprises, bodies, standards, the first page of every list, the lists
index, notices and statistics, then Pelican's content pages — except the
search page (``noindex``) and the later pages of a list: those are named by
their first certificate and come and go as the list changes (paging.py), and
every certificate they link to is listed itself. :func:`entries` enumerates
them from the registry (SQL), the same for a full and an incremental build.

An incremental build with no new record has the same pages and changes only
``lastmod`` dates: :func:`patch` rewrites the lines of the changed
certificates in the files that hold them, and those files' lines in the
index, instead of the whole sitemap. A certificate's line is found by its
place: home first, then the certificates by number.
"""

import os
import re

from szzz_registry import feeds, reuse, urls

_LASTMOD = re.compile(r"<lastmod>([^<]*)</lastmod>")


def entries(conn, index, data, pages):
    """Every (site-relative URL, lastmod or None) of the sitemap, in order; ``index``
    is the lists' (``Figures.list_index``), ``data`` holds the bodies and standards,
    ``pages`` are Pelican's content pages."""
    out = [("", None)]
    out += [(urls.certificate(no), date) for no, date in
            conn.execute("select cert_no, status_date from certificates order by cert_no")]
    out += [(urls.product(pid), None) for (pid,) in conn.execute("select id from products order by id")]
    out += [(urls.enterprise(uscc), None) for (uscc,) in
            conn.execute("select uscc from enterprises order by uscc")]
    out += [(urls.body(code), None) for code in data.bodies]
    out += [(urls.standard(s), None) for s in data.standards.values()]
    out += [(urls.listing(kind, key), None) for kind, sizes in index.items() for key in sizes]
    out += [("lists/", None), ("notices/", None), ("stats/", None)]
    out += [(page.url, None) for page in pages]
    return out


def write(out, items, site_url, per_file, *, replace) -> None:
    """Write the sitemap of ``items`` (:func:`entries`) into site directory ``out``;
    files of an earlier, longer sitemap there are removed."""
    files = []
    for n, start in enumerate(range(0, max(1, len(items)), per_file), 1):
        part = items[start:start + per_file]
        name = f"sitemap-{n}.xml"
        reuse.write_text(os.path.join(out, name), feeds.sitemap(part, site_url), replace=replace)
        files.append((name, max((d for _, d in part if d), default=None)))
    reuse.write_text(os.path.join(out, "sitemap.xml"), feeds.sitemap_index(files, site_url),
                     replace=replace)
    n = len(files) + 1
    while os.path.exists(os.path.join(out, f"sitemap-{n}.xml")):
        reuse.remove(os.path.join(out, f"sitemap-{n}.xml"))
        n += 1


def patch(out, changed, site_url, per_file) -> bool:
    """Set the ``lastmod`` of ``changed`` certificates — (number, status date, how many
    certificates come before it) — in the sitemap in site directory ``out``, whose
    pages are otherwise the same. False, with nothing written, when a line is not
    where it should be: then :func:`write` it whole."""
    files = {}
    for cert_no, lastmod, rank in changed:
        name = f"sitemap-{(1 + rank) // per_file + 1}.xml"
        if name not in files:
            try:
                with open(os.path.join(out, name), encoding="utf-8") as f:
                    files[name] = f.read()
            except FileNotFoundError:
                return False
        files[name] = _replace_line(files[name], feeds.sitemap_prefix("url", urls.certificate(cert_no), site_url),
                                    feeds.sitemap_line("url", urls.certificate(cert_no), lastmod, site_url))
        if files[name] is None:
            return False
    with open(os.path.join(out, "sitemap.xml"), encoding="utf-8") as f:
        index = f.read()
    for name, text in files.items():
        newest = max(_LASTMOD.findall(text), default=None)
        index = _replace_line(index, feeds.sitemap_prefix("sitemap", name, site_url),
                              feeds.sitemap_line("sitemap", name, newest, site_url))
        if index is None:
            return False
    for name, text in files.items():
        reuse.write_text(os.path.join(out, name), text, replace=True)
    reuse.write_text(os.path.join(out, "sitemap.xml"), index, replace=True)
    return True


def _replace_line(text, prefix, line):
    """``text`` with its line starting with ``prefix`` replaced by ``line`` (None: no such line)."""
    start = text.find("\n" + prefix)
    if start < 0:
        return None
    end = text.find("\n", start + 1)
    return text[:start + 1] + line + text[end:]
