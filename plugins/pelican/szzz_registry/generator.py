"""The Pelican generator that writes the registry's pages, feeds and sitemap.

Pelican-plugins style (sitemap, search): ``register()`` connects
``get_generators`` to :class:`RegistryGenerator`; the one settings dict is
``SZZZ`` (docs/site.md). ``generate_context`` reads the registry (so a bad
registry stops the build before anything is written) and
``generate_output`` renders every page straight from the in-memory rows with
templates compiled once, writing each file directly (the build's
atomicity comes from publish.py's staging directory, swapped in whole).

Why not Pelican's Writer: its ``write_file`` re-parses each page to rewrite
relative URLs, which costs more than rendering; our templates produce
relative links themselves (``root`` = ``../`` × depth). Why not Markdown
files per certificate: Pelican would read and parse tens of thousands of
files (issue 4, "never make Pelican read thousands of Markdown files").
"""

import logging
import os
from pathlib import Path

from pelican import signals
from pelican.generators import Generator

from registry.core import clock, industries, lifecycle, reference, rules
from registry.core.exceptions import BuildError, ConfigError
from registry.publish import headers
from szzz_registry import charts, feeds, jsonld, search, stats, urls
from szzz_registry import data as registry_data

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
    # None: render every page. Else an incremental build (docs/publishing.md,
    # "Incremental builds"): {"previous": the previous build's site directory,
    # "certificates": [cert_no], "products": [id], "enterprises": [uscc]} — the
    # records that changed since it; every page none of them feeds is the
    # previous build's file, hard-linked (:class:`Dirty` is the dependency map).
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
LIST_KINDS = {
    "status": ("按状态", "By status"),
    "district": ("按地区", "By district"),
    "industry": ("按行业", "By industry"),
    "body": ("按认证机构", "By certification body"),
    "programme": ("按认证项目", "By programme"),
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


class Dirty:
    """Which pages a set of changed records feeds: the site's half of the
    dependency map in docs/publishing.md ("Incremental builds").

    A certificate feeds its own page, its product's, its enterprise's, its
    body's and its standards' pages, and the lists of its district, industry,
    body and programme, and every status list (it may have left one). A
    product feeds its page, its enterprise's and its certificates'; an
    enterprise, its page, its products' and their certificates', and every
    district and industry list (a new enterprise makes its lists exist).
    Registry-wide pages (home, list index, statistics, notices, feeds,
    sitemap, search index) are rendered by every build. ``None`` fields mean
    everything is dirty (a full build).
    """

    def __init__(self, data, changes):
        self.full = changes is None
        if self.full:
            return
        changed_products = set(changes.get("products", ()))
        changed_enterprises = set(changes.get("enterprises", ()))
        certs = set(changes.get("certificates", ()))
        for p in data.products.values():
            if p["id"] in changed_products or p["enterprise"] in changed_enterprises:
                certs.update(c["cert_no"] for c in p["certificates"])
        by_no = {c["cert_no"]: c for c in data.certificates if c["cert_no"] in certs}
        self.certificates = set(by_no)
        self.products = changed_products | {c["product"] for c in by_no.values()}
        self.enterprises = changed_enterprises | {
            data.products[p]["enterprise"] for p in self.products if p in data.products}
        self.bodies = {c["body"] for c in by_no.values()}
        self.standards = {s["code"] for c in by_no.values() for s in c["standards"]}
        self.lists = {("body", c["body"]) for c in by_no.values()}
        self.lists |= {("programme", c["programme"]) for c in by_no.values()}
        self.lists |= {("district", c["enterprise_row"]["district"]) for c in by_no.values()}
        self.lists |= {("industry", c["enterprise_row"]["division"] or "-") for c in by_no.values()}
        self.all_lists = {"status"} | ({"district", "industry"} if changed_enterprises else set())

    def page(self, kind, key) -> bool:
        """Whether page ``kind`` (certificate, product, …) of ``key`` must be rendered."""
        return self.full or key in getattr(self, {"certificate": "certificates", "product": "products",
                                                  "enterprise": "enterprises", "body": "bodies",
                                                  "standard": "standards"}[kind])

    def listing(self, kind, key) -> bool:
        return self.full or kind in self.all_lists or (kind, key) in self.lists


class RegistryGenerator(Generator):
    """Writes the certificate, product, enterprise, body and standard pages,
    the lists, notices, statistics, search page, feeds and sitemap."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cfg = settings_of(self.settings)
        self.data = None
        self.sitemap = []  # (site-relative URL, lastmod)
        self.written = 0
        self.reused = 0
        self._dirs = set()
        incremental = self.cfg["incremental"]
        self.previous = Path(incremental["previous"]) if incremental else None

    # ------------------------------------------------------------- context
    def generate_context(self):
        self.data = registry_data.load(self.cfg["db"])
        build_time = self.cfg["build_time"]
        if not build_time:
            build_time = clock.iso_z(clock.build_time(self.data.latest_event_date))
        authority = self.cfg["tag_authority"] or _authority(self.cfg["site_url"])
        self.common = {
            "SITENAME": self.settings.get("SITENAME"),
            "csp": headers.page_csp(self.cfg["datasette_url"]),
            "build_time": build_time,
            "as_of": build_time[:10],
            "last_seq": self.data.last_seq,
            "datasette_url": self.cfg["datasette_url"],
            "datasette_db": self.cfg["datasette_database"],
            "site_url": self.cfg["site_url"],
            "demo": self.data.demo,
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
        out = Path(self.output_path)
        # Templates are compiled once; don't stat their files on every page.
        self.env.auto_reload = False
        self._templates_used = {name: self.get_template(name) for name in (
            "home", "certificate", "product", "enterprise", "body", "standard", "list",
            "lists", "notices", "stats", "search")}
        d = self.data
        dirty = self.dirty = Dirty(d, self.cfg["incremental"])
        self.render("home", "", title=None, stats=stats.compute(d), data_as_of=True,
                    recent=list(reversed(d.events[-10:])), notices=d.notices[:5])
        for c in d.certificates:
            url = urls.certificate(c["cert_no"])
            if not self.reuse(url, dirty.page("certificate", c["cert_no"]), lastmod=c["status_date"]):
                self.render("certificate", url, c=c, record_seq=c["last_seq"],
                            title=f"{c['cert_no']} {c['product_row']['name_zh']}",
                            jsonld=jsonld.script_json(jsonld.certification(c, self.cfg["site_url"])),
                            lastmod=c["status_date"])
        for p in d.products.values():
            url = urls.product(p["id"])
            if not self.reuse(url, dirty.page("product", p["id"])):
                self.render("product", url, p=p, title=p["name_zh"],
                            jsonld=jsonld.script_json(jsonld.product(p, self.cfg["site_url"])))
        for e in d.enterprises.values():
            url = urls.enterprise(e["uscc"])
            if not self.reuse(url, dirty.page("enterprise", e["uscc"])):
                self.render("enterprise", url, e=e, title=e["name_zh"],
                            jsonld=jsonld.script_json(jsonld.organization(e, self.cfg["site_url"])))
        for b in d.bodies.values():
            url = urls.body(b["code"])
            if not self.reuse(url, dirty.page("body", b["code"])):
                self.render("body", url, b=b, title=b["name_zh"],
                            counts=_status_counts(b["certificates"]))
        for s in d.standards.values():
            url = urls.standard(s)
            if not self.reuse(url, dirty.page("standard", s["code"])):
                self.render("standard", url, s=s, title=s["code"],
                            shown=s["certificates"][: self.cfg["per_page"]])
        self.write_lists()
        self.render("notices", "notices/", title="信息通报", notices=d.notices, data_as_of=True,
                    alerts=[n for n in d.notices if n["kind"] == "counterfeit_alert"],
                    others=[n for n in d.notices if n["kind"] != "counterfeit_alert"])
        self.write_stats(out)
        self.render("search", "search/", title="搜索", noindex=True)
        self.write_feeds(out)
        self.write_sitemap(out)
        self.write_text("robots.txt", feeds.robots(self.cfg["site_url"]))
        # The search page's index (docs/site-search.md), from the same rows.
        search.write(out / "search" / "index", d, self.context.get("pages", []))
        log.info("szzz_registry: wrote %d files, reused %d from %s", self.written, self.reused,
                 self.cfg["db"])

    # ------------------------------------------------------------- helpers
    def render(self, template, rel_url, *, lastmod=None, noindex=False, **context):
        rel_dir = urls.file_path(rel_url)
        top = rel_dir.split("/", 1)[0]
        if top in FOREIGN_DIRS:
            raise BuildError(f"szzz_registry: refusing to write {rel_dir}: {top}/ belongs "
                             "to publish.py")
        html = self._templates_used[template].render(
            self.common, root=urls.root_for(rel_url), page_url=rel_url, **context)
        self.write_text(rel_dir + "index.html", html)
        if not noindex:
            self.sitemap.append((rel_url, lastmod))

    def reuse(self, rel_url, dirty, *, lastmod=None) -> bool:
        """In an incremental build, a page no changed record feeds (``not dirty``) is
        the previous build's file, hard-linked (never written in place: the
        previous build is still served). False: render it (dirty, a full build,
        or no previous file)."""
        if dirty or self.previous is None:
            return False
        rel_path = urls.file_path(rel_url) + "index.html"
        path = os.path.join(self.output_path, rel_path)
        parent = os.path.dirname(path)
        if parent not in self._dirs:
            os.makedirs(parent, exist_ok=True)
            self._dirs.add(parent)
        try:
            os.link(self.previous / rel_path, path)
        except FileNotFoundError:
            return False
        self.reused += 1
        self.sitemap.append((rel_url, lastmod))
        return True

    def write_text(self, rel_path, text):
        # Plain writes: publish.py runs Pelican into a staging directory that
        # it swaps in whole, so the build is atomic at that level; a per-file
        # rename would double the file-system work of the largest step.
        path = os.path.join(self.output_path, rel_path)
        parent = os.path.dirname(path)
        if parent not in self._dirs:
            os.makedirs(parent, exist_ok=True)
            self._dirs.add(parent)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        self.written += 1

    def write_lists(self):
        d, per_page = self.data, self.cfg["per_page"]
        groups = {kind: {} for kind in LIST_KINDS}
        for status in lifecycle.STATUSES:
            groups["status"][status] = []
        for district in reference.DISTRICTS:
            groups["district"][district] = []
        for code in d.bodies:
            groups["body"][code] = []
        for code in reference.PROGRAMMES:
            groups["programme"][code] = []
        # Every enterprise page links to its district and industry list, so
        # those lists exist even when empty.
        for e in d.enterprises.values():
            groups["district"].setdefault(e["district"], [])
            groups["industry"].setdefault(e["division"] or "-", [])
        for c in d.certificates:
            e = c["enterprise_row"]
            groups["status"][c["status"]].append(c)
            groups["district"].setdefault(e["district"], []).append(c)
            groups["industry"].setdefault(e["division"] or "-", []).append(c)
            groups["body"][c["body"]].append(c)
            groups["programme"].setdefault(c["programme"], []).append(c)
        index = []
        for kind, by_key in groups.items():
            entries = []
            for key in sorted(by_key) if kind in ("industry",) else by_key:
                certs = by_key[key]
                label = _list_label(kind, key, d)
                entries.append((key, label, len(certs)))
                pages = max(1, -(-len(certs) // per_page))
                dirty = self.dirty.listing(kind, key)
                for n in range(1, pages + 1):
                    if self.reuse(urls.listing(kind, key, n), dirty):
                        continue
                    self.render(
                        "list", urls.listing(kind, key, n), kind=kind, key=key, label=label,
                        title=f"{LIST_KINDS[kind][0]}：{label[0]}",
                        certs=certs[(n - 1) * per_page: n * per_page],
                        page=n, pages=pages, total=len(certs),
                        page_link=lambda m, kind=kind, key=key: urls.listing(kind, key, m),
                    )
            index.append((kind, entries))
        self.render("lists", "lists/", title="证书名录", index=index, data_as_of=True)

    def write_stats(self, out):
        figures = stats.compute(self.data)
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

    def write_feeds(self, out):
        d, limit = self.data, self.cfg["feed_entries"]
        common = {"site_url": self.cfg["site_url"], "authority": self.authority,
                      "updated": self.common["build_time"], "limit": limit}
        self.write_text("feeds/all.atom.xml", feeds.atom(
            d.events, title="苏州制造认证状态变更 · Certificate status changes",
            feed_rel="feeds/all.atom.xml", **common))
        by_body = {code: [] for code in d.bodies}
        for ev in d.events:
            by_body[ev["cert"]["body"]].append(ev)
        for code, events in by_body.items():
            rel = urls.body_feed(code)
            self.write_text(urls.file_path(rel), feeds.atom(
                events, title=f"{d.bodies[code]['name_zh']}（{code}）证书状态变更 · "
                              "Certificate status changes",
                feed_rel=rel, **common))

    def write_sitemap(self, out):
        """``sitemap.xml``, a sitemap index, and ``sitemap-<n>.xml`` (n from 1) of at
        most ``sitemap_urls`` URLs each (sitemaps.org: 50,000 a file)."""
        entries = list(self.sitemap)
        for page in self.context.get("pages", []):
            entries.append((page.url, None))
        per_file = self.cfg["sitemap_urls"]
        files = []
        for n, start in enumerate(range(0, max(1, len(entries)), per_file), 1):
            part = entries[start:start + per_file]
            name = f"sitemap-{n}.xml"
            self.write_text(name, feeds.sitemap(part, self.cfg["site_url"]))
            files.append((name, max((d for _, d in part if d), default=None)))
        self.write_text("sitemap.xml", feeds.sitemap_index(files, self.cfg["site_url"]))


def _status_counts(certs):
    counts = dict.fromkeys(lifecycle.STATUSES, 0)
    for c in certs:
        counts[c["status"]] += 1
    return counts


def _list_label(kind, key, d):
    """(zh, en) label of one list."""
    if kind == "status":
        return lifecycle.STATUS_NAMES[key]
    if kind == "district":
        return (key, reference.DISTRICTS.get(key, ""))
    if kind == "industry":
        names = industries.MANUFACTURING_DIVISIONS.get(key[1:], (key, ""))
        return (f"{key} {names[0]}", names[1])
    if kind == "body":
        b = d.bodies[key]
        return (b["name_zh"], b["name_en"])
    return reference.PROGRAMMES.get(key, (key, ""))


def _authority(site_url):
    host = urls.origin(site_url)
    return host.split("://", 1)[1].split(":")[0] if host else "szzz-registry"


def get_generators(pelican):
    return RegistryGenerator


def register():
    """Pelican entry point: add the registry generator."""
    signals.get_generators.connect(get_generators)
