"""Pelican settings of the 苏州制造 public portal (development / local build).

``publish.py`` reads this file with ``pelican.settings.read_settings`` and
overrides ``OUTPUT_PATH`` and ``SZZZ`` (see ``docs/site.md``). Everything
that makes the build fast, reproducible and safe is fixed here:

* ``DISPLAY_PAGES_ON_MENU = False`` — Pelican's default lists every page on
  every page, which makes a build quadratic (5,000 pages: 267 s, 3.7 GB;
  ../shared/reference/baseline-measurements.md §5);
* no articles, no Pelican feeds, tags or archives: the registry's own pages,
  feeds and sitemap are written by the ``szzz_registry`` generator plugin;
* ``DELETE_OUTPUT_DIRECTORY = False`` — publish.py adds ``api/``, ``v/``,
  ``marks/``, ``log/`` and ``downloads/`` to the same staging
  directory after Pelican ran;
* Jinja autoescape on: every registry text is attacker-controlled;
* no wall-clock time: ``DEFAULT_DATE`` and ``LOCALE`` fixed, and the build
  time comes from ``SZZZ["build_time"]`` (registry.clock.build_time).
"""

from pathlib import Path

_ROOT = Path(__file__).resolve().parent

SITENAME = "苏州制造品牌认证 · Made in Suzhou Certification"
SITEURL = ""
AUTHOR = "苏州制造品牌认证公共登记平台"
PATH = str(_ROOT / "content")
THEME = str(_ROOT / "site" / "theme")
OUTPUT_PATH = str(_ROOT / "output" / "site")
DELETE_OUTPUT_DIRECTORY = False
RELATIVE_URLS = True
TIMEZONE = "Asia/Shanghai"
DEFAULT_LANG = "zh-CN"
LOCALE = ("C.UTF-8", "C")
DEFAULT_DATE = (2020, 12, 28)
DEFAULT_DATE_FORMAT = "%Y-%m-%d"

# Only pages; no blog machinery.
ARTICLE_PATHS = []
PAGE_PATHS = ["pages"]
STATIC_PATHS = ["images", "extra"]
# The site icon at the root, where browsers look for it (scripts/make_favicon.py).
EXTRA_PATH_METADATA = {
    "extra/favicon.ico": {"path": "favicon.ico"},
    "extra/favicon.svg": {"path": "favicon.svg"},
}
DIRECT_TEMPLATES = []
PAGE_URL = "{slug}/"
PAGE_SAVE_AS = "{slug}/index.html"
ARTICLE_SAVE_AS = ""
ARTICLE_URL = ""
ARTICLE_LANG_SAVE_AS = ""
PAGE_LANG_SAVE_AS = ""
DRAFT_SAVE_AS = ""
DRAFT_PAGE_SAVE_AS = ""
CATEGORY_SAVE_AS = ""
CATEGORIES_SAVE_AS = ""
TAG_SAVE_AS = ""
TAGS_SAVE_AS = ""
AUTHOR_SAVE_AS = ""
AUTHORS_SAVE_AS = ""
ARCHIVES_SAVE_AS = ""
YEAR_ARCHIVE_SAVE_AS = ""
MONTH_ARCHIVE_SAVE_AS = ""
DAY_ARCHIVE_SAVE_AS = ""
# Mandatory for speed: the default lists every page in every page's menu.
DISPLAY_PAGES_ON_MENU = False
DISPLAY_CATEGORIES_ON_MENU = False
MENUITEMS = ()

# Pelican's own feeds are off: the plugin writes feeds/all.atom.xml and
# feeds/bodies/<code>.atom.xml from the signed events.
FEED_ALL_ATOM = None
FEED_ALL_RSS = None
CATEGORY_FEED_ATOM = None
CATEGORY_FEED_RSS = None
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None
TRANSLATION_FEED_ATOM = None
TRANSLATION_FEED_RSS = None
TAG_FEED_ATOM = None
TAG_FEED_RSS = None

CACHE_CONTENT = False
LOAD_CONTENT_CACHE = False
SLUGIFY_SOURCE = "basename"

MARKDOWN = {
    "extension_configs": {
        "markdown.extensions.extra": {},
        "markdown.extensions.toc": {"permalink": False},
    },
    "output_format": "html5",
}

JINJA_ENVIRONMENT = {
    "autoescape": True,
    "trim_blocks": True,
    "lstrip_blocks": True,
    "extensions": [],
}

PLUGIN_PATHS = [str(_ROOT / "plugins" / "pelican")]
PLUGINS = ["szzz_registry"]

# The registry plugin's one settings dict (docs/site.md lists every key).
# publish.py overrides it; these defaults build from output/data/registry.db.
SZZZ = {
    "db": str(_ROOT / "output" / "data" / "registry.db"),
    "site_url": "",
    "datasette_url": "",  # e.g. "/datasette/" when one is served; empty: no Datasette links
    "build_time": None,
    "per_page": 100,
    "feed_entries": 200,
    "sitemap_urls": 50_000,
}
