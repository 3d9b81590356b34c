"""The Pelican generator that writes the registry's pages, feeds and sitemap.

Pelican-plugins style (sitemap, search): ``register()`` connects
``get_generators`` to :class:`RegistryGenerator`; the one settings dict is
``SZZZ`` (docs/site.md). ``generate_context`` reads the registry (so a bad
registry stops the build before anything is written) and
``generate_output`` renders the pages straight from the in-memory rows with
templates compiled once, writing each file directly (the build's
atomicity comes from publish.py's staging directory, swapped in whole).

A full build renders every page. An incremental one (``SZZZ["incremental"]``)
starts from an earlier build's pages (:mod:`szzz_registry.reuse`), reads only
the records whose pages it renders (:class:`szzz_registry.dirty.Dirty`, the
dependency map) and rewrites only those pages, the registry-wide ones, the
sitemap lines and the search-index files that changed.

Why not Pelican's Writer: its ``write_file`` re-parses each page to rewrite
relative URLs, which costs more than rendering; our templates produce
relative links themselves (``root`` = ``../`` × depth). Why not Markdown
files per certificate: Pelican would read and parse tens of thousands of
files (issue 4, "never make Pelican read thousands of Markdown files").
"""

import logging
import os

from pelican import signals
from pelican.generators import Generator

from registry.core import clock, industries, lifecycle, reference, rules
from registry.core.exceptions import BuildError, ConfigError
from registry.publish import headers
from szzz_registry import charts, feeds, jsonld, queries, reuse, search, sitemap, stats, urls
from szzz_registry import data as registry_data
from szzz_registry.dirty import Dirty
from szzz_registry.figures import Figures
from szzz_registry.lists import LIST_KINDS, Lists

log = logging.getLogger(__name__)

DEFAULTS = {
    "db": None,
    "site_url": "",
    "datasette_url": "",  # no Datasette configured: the pages link to none (issue 11)
    "datasette_database": "registry",
    "build_time": None,
    "per_page": 100,
    "feed_entries": 200,
    "tag_authority": None,
    "sitemap_urls": feeds.SITEMAP_MAX_URLS,
    # A file to record the registry-wide figures in (figures.py; publish.py:
    # beside site/, never published); the next incremental build starts from it.
    "figures": None,
    # None: render every page. Else an incremental build (docs/publishing.md,
    # "Incremental builds"): {"previous": an earlier build's site directory,
    # "take": whether its pages are ours to move (a spare build nobody serves)
    # or to hard-link (the build being served), "since_seq": its last event,
    # "figures": the file of its registry-wide figures (or None),
    # "certificates": [cert_no], "products": [id], "enterprises": [uscc]} — the
    # records that changed since it; every page none of them feeds is the
    # earlier build's file (:class:`Dirty` is the dependency map).
    "incremental": None,
}

# Directories other writers own (portal-shared.md): never written here.
FOREIGN_DIRS = ("api", "v", "marks", "log", "downloads")

NOTICE_KINDS = {
    "notice": ("信息通报", "Notice"),
    "counterfeit_alert": ("假冒标志预警", "Counterfeit-mark alert"),
    "supervision": ("监督检查通报", "Supervision notice"),
}
STANDARD_KINDS = {
    "general": ("通用要求（地方标准）", "General requirement (local standard)"),
    "group": ("团体标准（认证技术标准）", "Group standard (technical standard)"),
    "national": ("国家标准", "National standard"),
    "industry": ("行业标准", "Industry standard"),
    "local": ("地方标准", "Local standard"),
}

def settings_of(settings):
    """The ``SZZZ`` dict with defaults; refuses unknown keys (typos stop the build)."""
    given = settings.get("SZZZ") or {}
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"SZZZ: unknown setting(s) {', '.join(unknown)}; "
                          f"expected keys {', '.join(DEFAULTS)}")
    cfg = dict(DEFAULTS, **given)
    if not cfg["db"]:
        raise ConfigError("SZZZ['db'] is not set: the path of the registry database to publish")
    for key in ("per_page", "feed_entries", "sitemap_urls"):
        if not isinstance(cfg[key], int) or cfg[key] < 1:
            raise ConfigError(f"SZZZ[{key!r}] = {cfg[key]!r}, expected a positive integer")
    if cfg["sitemap_urls"] > feeds.SITEMAP_MAX_URLS:
        raise ConfigError(f"SZZZ['sitemap_urls'] = {cfg['sitemap_urls']}, expected at most "
                          f"{feeds.SITEMAP_MAX_URLS} (the sitemaps.org limit per file)")
    if cfg["site_url"] and not urls.origin(cfg["site_url"]):
        raise ConfigError(f"SZZZ['site_url'] = {cfg['site_url']!r}, expected an absolute "
                          "http(s) URL or empty")
    if cfg["datasette_url"] and not cfg["datasette_url"].endswith("/"):
        cfg["datasette_url"] += "/"
    return cfg


class RegistryGenerator(Generator):
    """Writes the certificate, product, enterprise, body and standard pages,
    the lists, notices, statistics, search page, feeds and sitemap."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cfg = settings_of(self.settings)
        self.data = self.conn = self.clone = self.grouped = None
        self.ranks = {}
        self.written = self.rendered = 0
        # Record pages (certificate, product, enterprise, body, standard) kept from
        # the earlier build as they were, in an incremental build.
        self.reused = self.record_pages = 0
        self._dirs = set()
        self.incremental = self.cfg["incremental"]
        # How the sitemap, the search index and the figures were brought up to
        # date: "written" whole (counted) or, in an incremental build, "patched" /
        # "updated" in place.
        self.ways = {}

    # ------------------------------------------------------------- context
    def generate_context(self):
        self.conn = registry_data.open_readonly(self.cfg["db"])
        conn, inc = self.conn, self.incremental
        facts = queries.facts(conn)
        figures = None
        if inc is None:
            self.dirty = Dirty.everything()
            self.data = registry_data.load_records(conn)
        else:
            self.dirty = Dirty.of(conn, inc)
            self.data = registry_data.load_records(conn, self.dirty.enterprises)
            # The earlier build's registry-wide figures, brought up to date.
            figures = Figures.read(inc["figures"], inc["since_seq"]) if inc.get("figures") else None
            if figures is not None and not figures.update(conn, self.dirty, facts["last_seq"]):
                figures = None
            # The earlier build's pages, in this build's directory: moved when
            # they are ours (a spare build), else hard-linked while we read.
            if inc.get("take"):
                reuse.take(inc["previous"], self.output_path)
            else:
                self.clone = reuse.Clone(inc["previous"], self.output_path)
        self.ways["figures"] = "updated" if figures else "counted"
        self.figures = figures or Figures.compute(conn, facts["last_seq"])
        build_time = self.cfg["build_time"]
        if not build_time:
            build_time = clock.iso_z(clock.build_time(facts["latest_event_date"]))
        authority = self.cfg["tag_authority"] or _authority(self.cfg["site_url"])
        self.common = {
            "SITENAME": self.settings.get("SITENAME"),
            "csp": headers.page_csp(self.cfg["datasette_url"]),
            "build_time": build_time,
            "as_of": build_time[:10],
            "last_seq": facts["last_seq"],
            "datasette_url": self.cfg["datasette_url"],
            "datasette_db": self.cfg["datasette_database"],
            "site_url": self.cfg["site_url"],
            "demo": facts["demo"],
            "VERDICTS": rules.VERDICTS,
            "MEANING": rules.MEANING,
            "u": urls,
            "STATUS_NAMES": lifecycle.STATUS_NAMES,
            "EVENT_NAMES": lifecycle.EVENT_NAMES,
            "DISTRICTS": reference.DISTRICTS,
            "PROGRAMMES": reference.PROGRAMMES,
            "DIMENSIONS": reference.EVALUATION_DIMENSIONS,
            "TIERS": reference.TIERS,
            "DIVISIONS": industries.MANUFACTURING_DIVISIONS,
            "NOTICE_KINDS": NOTICE_KINDS,
            "STANDARD_KINDS": STANDARD_KINDS,
            "LIST_KINDS": LIST_KINDS,
        }
        self.authority = authority
        # Names the macros in macros.html use: globals, so that imports stay
        # cached (an import "with context" is re-evaluated on every page).
        statics = ("u", "STATUS_NAMES", "EVENT_NAMES", "DISTRICTS", "PROGRAMMES", "DIMENSIONS",
                   "TIERS", "DIVISIONS", "NOTICE_KINDS", "STANDARD_KINDS", "LIST_KINDS",
                   "VERDICTS", "MEANING")
        self.env.globals.update({k: self.common[k] for k in statics})
        # Content pages (about/, report/ ...) reach the shared context too, so
        # that Pelican-rendered pages get the same CSP and footer.
        self.context.update({k: v for k, v in self.common.items() if k != "SITENAME"})

    # -------------------------------------------------------------- output
    def generate_output(self, writer):
        try:
            self._generate_output()
        finally:
            self.conn.close()
            if self.clone is not None:
                self.clone.stop()

    def _generate_output(self):
        # Templates are compiled once; don't stat their files on every page.
        self.env.auto_reload = False
        self._templates_used = {name: self.get_template(name) for name in (
            "home", "certificate", "product", "enterprise", "body", "standard", "list",
            "lists", "notices", "stats", "search")}
        if self.clone is not None:
            self.clone.wait()
        d, dirty, conn, per_page = self.data, self.dirty, self.conn, self.cfg["per_page"]
        figures = stats.compute(self.figures)
        self.render("home", "", title=None, stats=figures, data_as_of=True,
                    recent=queries.events(conn, limit=10), notices=d.notices[:5])
        for c in d.certificates:
            if dirty.page("certificate", c["cert_no"]):
                self.render("certificate", urls.certificate(c["cert_no"]), c=c, record_seq=c["last_seq"],
                            title=f"{c['cert_no']} {c['product_row']['name_zh']}",
                            jsonld=jsonld.script_json(jsonld.certification(c, self.cfg["site_url"])))
        for p in d.products.values():
            if dirty.page("product", p["id"]):
                self.render("product", urls.product(p["id"]), p=p, title=p["name_zh"],
                            jsonld=jsonld.script_json(jsonld.product(p, self.cfg["site_url"])))
        for e in d.enterprises.values():
            if dirty.page("enterprise", e["uscc"]):
                self.render("enterprise", urls.enterprise(e["uscc"]), e=e, title=e["name_zh"],
                            jsonld=jsonld.script_json(jsonld.organization(e, self.cfg["site_url"])))
        for b in d.bodies.values():
            if dirty.page("body", b["code"]):
                self.render("body", urls.body(b["code"]), b=b, title=b["name_zh"],
                            counts=self.figures.of_body(b["code"]))
        for s in d.standards.values():
            if dirty.page("standard", s["code"]):
                total, shown = queries.standard(conn, s["code"], per_page)
                self.render("standard", urls.standard(s), s=s, title=s["code"], total=total, shown=shown)
        index = self.figures.list_index(d.bodies)
        Lists(self).write(index)
        self.render("notices", "notices/", title="信息通报", notices=d.notices, data_as_of=True,
                    alerts=[n for n in d.notices if n["kind"] == "counterfeit_alert"],
                    others=[n for n in d.notices if n["kind"] != "counterfeit_alert"])
        self.write_stats(figures)
        self.render("search", "search/", title="搜索")
        self.write_feeds()
        pages = self.context.get("pages", [])
        self.write_sitemap(index, pages)
        self.write_text("robots.txt", feeds.robots(self.cfg["site_url"]))
        # The search page's index (docs/site-search.md), from the same rows.
        self.write_search_index(index, pages)
        if self.cfg["figures"]:
            self.figures.write(self.cfg["figures"])
        if self.incremental is not None:
            records = sum(self.figures.by("status").values()) + self.figures.enterprises + conn.execute(
                "select count(*) from products").fetchone()[0]
            self.reused = records + len(d.bodies) + len(d.standards) - self.record_pages
        log.info("szzz_registry: wrote %d files, kept %d pages of %s (%s)", self.written, self.reused,
                 self.incremental["previous"] if self.incremental else "-", self.cfg["db"])

    # ------------------------------------------------------------- helpers
    def render(self, template, rel_url, **context):
        rel_dir = urls.file_path(rel_url)
        top = rel_dir.split("/", 1)[0]
        if top in FOREIGN_DIRS:
            raise BuildError(f"szzz_registry: refusing to write {rel_dir}: {top}/ belongs "
                             "to publish.py")
        html = self._templates_used[template].render(
            self.common, root=urls.root_for(rel_url), page_url=rel_url, **context)
        self.write_text(rel_dir + "index.html", html)
        self.rendered += 1
        self.record_pages += template in ("certificate", "product", "enterprise", "body", "standard")

    def write_text(self, rel_path, text):
        # Plain writes: publish.py runs Pelican into a staging directory that
        # it swaps in whole, so the build is atomic at that level; a per-file
        # rename would double the file-system work of the largest step. In an
        # incremental build a file may be a hard link into the build being
        # served: it gets a new inode (reuse.write_text).
        path = os.path.join(self.output_path, rel_path)
        parent = os.path.dirname(path)
        if parent not in self._dirs:
            os.makedirs(parent, exist_ok=True)
            self._dirs.add(parent)
        reuse.write_text(path, text, replace=self.incremental is not None)
        self.written += 1

    def write_stats(self, figures):
        bars = {
            "district": ("有效证书按地区 Valid certificates by district", figures["by_district"]),
            "industry": ("有效证书按行业 Valid certificates by industry", figures["by_industry"]),
            "body": ("有效证书按认证机构 Valid certificates by body", figures["by_body"]),
            "programme": ("有效证书按认证项目 Valid certificates by programme",
                          figures["by_programme"]),
            "status": ("全部证书按状态 All certificates by status", figures["by_status"]),
        }
        sizes = {}
        # Each chart twice: <name>.svg (wide screens) and <name>-narrow.svg (phones).
        for suffix, layout in (("", charts.WIDE), ("-narrow", charts.NARROW)):
            for key, text in self._charts(figures, bars, layout).items():
                self.write_text(f"stats/{key}{suffix}.svg", text)
                sizes.setdefault(key, {})[suffix or "wide"] = charts.size_of(text)
        self.render("stats", "stats/", title="统计", f=figures, bars=bars, sizes=sizes,
                    data_as_of=True)

    @staticmethod
    def _charts(figures, bars, layout):
        svg = {
            "progress": charts.progress_chart(
                figures["progress"], target=figures["target"], target_date=stats.TARGET_DATE,
                title="累计认证产品数 Certified products over time",
                desc=(f"至今累计 {figures['products_certified']} 个产品获得认证；"
                      f"目标：到 2023 年 100 个以上认证高端产品。"),
                chart_id="progress", target_label="2023年目标 100 · Target 2023: 100",
                x_label="年份 Year", y_label="产品数 Products", layout=layout),
        }
        for key, (title, items) in bars.items():
            svg[key] = charts.bar_chart(
                [(label, n) for label, n, _ in items], title=title,
                desc="；".join(f"{label}：{n}" for label, n, _ in items) or "无数据 No data",
                value_label="证书数 Certificates", chart_id=key, layout=layout)
        svg["actions"] = charts.grouped_bars(
            figures["years"],
            [("暂停 Suspensions", figures["suspensions"]),
             ("撤销 Revocations", figures["revocations"])],
            title="每年暂停与撤销 Suspensions and revocations per year",
            desc="；".join(f"{y}年：暂停 {s}，撤销 {r}" for y, s, r in zip(
                figures["years"], figures["suspensions"], figures["revocations"], strict=True))
            or "无数据 No data",
            value_label="次数 Events", chart_id="actions", layout=layout)
        return svg

    def write_feeds(self):
        """The Atom feed of every certificate event, and each body's: those a changed
        certificate is in, and those of bodies without events, dated by the build."""
        limit = self.cfg["feed_entries"]
        common = {"site_url": self.cfg["site_url"], "authority": self.authority,
                  "updated": self.common["build_time"], "limit": limit}
        self.write_text("feeds/all.atom.xml", feeds.atom(
            queries.events(self.conn, limit=limit), title="苏州制造认证状态变更 · Certificate status changes",
            feed_rel="feeds/all.atom.xml", **common))
        with_events = set(self.figures.by("body"))
        for code, b in self.data.bodies.items():
            if code in with_events and not self.dirty.page("body", code):
                continue
            rel = urls.body_feed(code)
            self.write_text(urls.file_path(rel), feeds.atom(
                queries.events(self.conn, limit=limit, body=code) if code in with_events else [],
                title=f"{b['name_zh']}（{code}）证书状态变更 · Certificate status changes",
                feed_rel=rel, **common))

    def write_sitemap(self, index, pages):
        """``sitemap.xml``, a sitemap index, and ``sitemap-<n>.xml`` (n from 1) of at
        most ``sitemap_urls`` URLs each (sitemaps.org: 50,000 a file)."""
        per_file, site_url = self.cfg["sitemap_urls"], self.cfg["site_url"]
        if not self.dirty.full and not self.dirty.new_pages:
            changed = [(c["cert_no"], c["status_date"], self.rank(c["cert_no"]))
                       for c in self.data.certificates if c["cert_no"] in self.dirty.certificates]
            if sitemap.patch(self.output_path, changed, site_url, per_file):
                self.ways["sitemap"] = "patched"
                return
        self.ways["sitemap"] = "written"
        items = sitemap.entries(self.conn, index, self.data, pages)
        sitemap.write(self.output_path, items, site_url, per_file, replace=self.incremental is not None)

    def rank(self, cert_no) -> int:
        """How many certificates come before ``cert_no`` (its place in the sitemap and
        the search index): O(its rank) in SQLite, counted once."""
        if cert_no not in self.ranks:
            self.ranks[cert_no] = self.conn.execute(
                "select count(*) from certificates where cert_no < ?", (cert_no,)).fetchone()[0]
        return self.ranks[cert_no]

    def write_search_index(self, index, pages):
        out = os.path.join(self.output_path, "search", "index")
        labels = search.labels(index, self.data.bodies)
        if not (self.dirty.full or self.dirty.new_certificates or self.dirty.rekeyed) and search.update(
                out, self.conn, self.data, self.figures, self.rank, self.dirty.certificates,
                self.dirty.enterprises, labels, pages) is not None:
            self.ways["search"] = "updated"
            return
        self.ways["search"] = "written"
        data = self.data if self.dirty.full else registry_data.load_records(self.conn)
        search.write(out, data, labels, pages)


def _authority(site_url):
    host = urls.origin(site_url)
    return host.split("://", 1)[1].split(":")[0] if host else "szzz-registry"


def get_generators(pelican):
    return RegistryGenerator


def register():
    """Pelican entry point: add the registry generator."""
    signals.get_generators.connect(get_generators)
