"""The HTTP header policy of the published site, as data, and what is made from it.

One table (:data:`RULES`) says, for every file a build publishes under
``site/``, which class it belongs to, its ``Content-Type`` and its
``Cache-Control``, and in which phase a deployment uploads it. Everything
that serves or uploads the site reads that table:

* ``publish.py serve`` (:func:`headers_for`, :func:`etag`);
* the nginx configuration (:func:`nginx_config`, :func:`etag_map`);
* the ``_headers`` file of Netlify / Cloudflare Pages (:func:`netlify_headers`);
* the per-object upload metadata of object stores and the upload order of
  ``publish.py deploy`` (:func:`upload_plan`).

Rules are tried in order and the first match wins (as nginx tries regex
locations in order); ``tests/publish/test_headers.py`` classifies every file
of a real build and checks that each lands in the class intended for it and
that no rule is shadowed. ``docs/publishing.md`` ("Headers and caches") is
the table in prose, with each class's maximum staleness.

ETags are the file's SHA-256 (:func:`etag`), never its mtime or size: a
reproducible build may rewrite a file with other bytes of the same size and
the same mtime, and the verify page's ``fetch(…, {cache: "no-cache"})``
revalidates with ``If-None-Match``; a validator that survived a change of
bytes would answer 304 for a revoked certificate's old file.
"""

import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from registry.core.exceptions import HeaderPolicyError
from registry.publish.webverifier import HEADER_CSP as VERIFY_PAGE_CSP

IMMUTABLE = "public, max-age=31536000, immutable"
# Revalidate on every use (RFC 9111 §5.2.2.4): a cache may keep the bytes but
# must ask the origin, which answers 304 only for the same content hash.
NO_CACHE = "no-cache"
SHORT = "public, max-age=300"
SHORT_SECONDS = 300

# Upload phases of a deployment (docs/publishing.md "Deploy"): what nothing
# live refers to yet first, what points at it next, what makes it live last.
PHASE_IMMUTABLE, PHASE_CONTENT, PHASE_LIVE = 0, 1, 2
PHASE_NAMES = {PHASE_IMMUTABLE: "immutable", PHASE_CONTENT: "pages and api", PHASE_LIVE: "live"}

TILE = r"log/tile/(?:entries|[0-9]+)/(?:x[0-9]{3}/)*[0-9]{3}(?:\.p/[0-9]{1,3})?"


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: str          # a regex over the path below site/, whole match (Python re and PCRE alike)
    content_type: str
    cache_control: str
    phase: int
    why: str

    @property
    def regex(self) -> re.Pattern[str]:
        return _compiled(self.pattern)


_COMPILED: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    if pattern not in _COMPILED:
        _COMPILED[pattern] = re.compile(pattern)
    return _COMPILED[pattern]


HTML = "text/html; charset=utf-8"
JSON = "application/json"

RULES: tuple[Rule, ...] = (
    # C2SP tlog-tiles: a full tile or entry bundle never changes; a partial
    # tile of width W is the first W hashes of its full tile, so it never
    # changes either. "Content-addressed": its name is its position in an
    # append-only tree.
    Rule("tile", TILE, "application/octet-stream", IMMUTABLE, PHASE_IMMUTABLE,
         "tlog-tiles: tiles and entry bundles never change under their name"),
    Rule("checkpoint", r"log/checkpoint", "text/plain; charset=utf-8", NO_CACHE, PHASE_LIVE,
         "tlog-tiles requires text/plain; charset=utf-8; the newest tree head, uploaded last"),
    Rule("vkey", r"log/vkey", "text/plain; charset=utf-8", NO_CACHE, PHASE_CONTENT,
         "the log's note verifier key (transparency-log.md); changes only when the log key does"),
    Rule("status", r"api/status\.json", JSON, NO_CACHE, PHASE_LIVE,
         "the signed status snapshot: says which statuses are current"),
    Rule("certificate", r"api/certificates/[^/]+\.json", JSON, NO_CACHE, PHASE_CONTENT,
         "a certificate's signed records and events: what the verifier reads"),
    # Uploaded with the certificate files: a verifier that reads one of a pair
    # from the previous build sees last_seq disagree (status unknown, never a
    # wrong verdict: verification.md rule 6), for as short a time as possible.
    Rule("status-statement", r"api/status/[0-9a-f]+\.json", JSON, NO_CACHE, PHASE_CONTENT,
         "the log-signed statuses of one bucket of certificates: what the verifier reads"),
    Rule("api", r"api/(?:trust-list|root-key|log)\.json|api/events/[^/]+\.json", JSON, NO_CACHE,
         PHASE_CONTENT, "trust list, log description, change feed"),
    Rule("certificate-page", r"certificates/[^/]+/index\.html", HTML, NO_CACHE, PHASE_CONTENT,
         "a certificate's page shows its status"),
    Rule("page", r"(?:.+/)?index\.html", HTML, SHORT, PHASE_CONTENT,
         "other pages: lists and summaries, at most 5 minutes old"),
    Rule("feed", r"feeds/(?:.+/)?[^/]+\.atom\.xml", "application/atom+xml", SHORT, PHASE_CONTENT,
         "Atom feeds (RFC 4287 media type)"),
    Rule("sitemap", r"sitemap(?:-[0-9]+)?\.xml", "application/xml", SHORT, PHASE_CONTENT,
         "sitemaps protocol"),
    Rule("robots", r"robots\.txt", "text/plain; charset=utf-8", SHORT, PHASE_CONTENT, "robots.txt"),
    Rule("download-csv", r"downloads/[^/]+\.csv", "text/csv; charset=utf-8", NO_CACHE,
         PHASE_CONTENT, "downloads state every status"),
    Rule("download-db", r"downloads/[^/]+\.db", "application/vnd.sqlite3", NO_CACHE,
         PHASE_CONTENT, "the public database as a download"),
    Rule("search-index", r"search/index/[^/]+\.json", JSON, SHORT, PHASE_CONTENT,
         "the site search index (site-search.md)"),
    Rule("mark", r"marks/[^/]+\.(?:svg|png)", "", SHORT, PHASE_CONTENT,
         "printable marks of valid certificates (type by suffix)"),
    Rule("script", r"(?:.+/)?[^/]+\.js", "text/javascript; charset=utf-8", SHORT, PHASE_CONTENT,
         "the verifier's and the theme's modules: stable names, so not immutable"),
    Rule("style", r"(?:.+/)?[^/]+\.css", "text/css; charset=utf-8", SHORT, PHASE_CONTENT, "style sheets"),
    Rule("image", r"(?:.+/)?[^/]+\.(?:svg|png|ico)", "", SHORT, PHASE_CONTENT,
         "icons, charts, illustrations (type by suffix)"),
)

# Media types of the rules that take theirs from the suffix ("" above).
BY_SUFFIX = {".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/vnd.microsoft.icon"}

# Debian's libnginx-mod-http-brotli-filter; gzip is nginx's own.
BROTLI_MODULE = Path("/usr/lib/nginx/modules/ngx_http_brotli_filter_module.so")

# Compressed on the fly (text/html always is, by gzip and brotli alike).
COMPRESSED = ("text/plain text/css text/javascript application/json application/xml application/atom+xml "
              "image/svg+xml text/csv")



def compressed_types() -> str:
    """gzip_types / brotli_types: COMPRESSED, and each rule's type with its
    charset parameter as the rule sets it (quoted): nginx compares the whole
    Content-Type a ``default_type`` sets, so "text/javascript" alone never
    matched the scripts' "text/javascript; charset=utf-8" and the verify
    page's bundle went out uncompressed (issue 14's byte budget)."""
    plain = COMPRESSED.split()
    # text/html too: nginx compresses a bare "text/html" always, but the pages'
    # "text/html; charset=utf-8" only when listed (issue 14: every page went
    # out uncompressed, the verify page at 6.1 KB instead of 2.3 KB).
    full = sorted({r.content_type for r in RULES
                   if ";" in r.content_type and r.content_type.split(";")[0] in [*plain, "text/html"]})
    return " ".join([*plain, *(f'"{t}"' for t in full)])


SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Frame-Options", "DENY"),
)
# Only an HTTP header can forbid framing (CSP Level 3: frame-ancestors is
# ignored in a <meta>), so the header is the page's policy plus this.
FRAME_ANCESTORS = "frame-ancestors 'none'"


def page_csp(datasette_url: str | None) -> str:
    """The Content-Security-Policy of every page of the Pelican site (its
    ``<meta>``, written by ``plugins/pelican``, and the HTTP header).

    No inline script or style anywhere, no WebAssembly or eval; the Datasette
    origin (when it is another origin) is allowed for ``connect-src`` only.
    """
    connect = "'self'"
    parts = urlsplit(datasette_url or "")
    if parts.scheme in ("http", "https") and parts.netloc:
        connect += f" {parts.scheme}://{parts.netloc}"
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
            f"connect-src {connect}; form-action 'self'")


def csp_header(path: str, datasette_url: str | None) -> str | None:
    """The CSP header of the HTML file ``path`` (below site/), None for other files.

    The same policy as the page's ``<meta>``: a browser enforces both, so
    they must agree. The verify page's header holds only the rules of its
    policy that do not name its inline code
    (:data:`registry.publish.webverifier.HEADER_CSP`; its ``<meta>`` has the
    rest, with the hashes of that code)."""
    if not path.endswith(".html"):
        return None
    policy = VERIFY_PAGE_CSP if path.startswith("v/") else page_csp(datasette_url)
    return f"{policy}; {FRAME_ANCESTORS}"


def rule_for(path: str) -> Rule:
    """The rule of ``path`` (a ``/``-separated path below site/), or UnclassifiedError."""
    for rule in RULES:
        if rule.regex.fullmatch(path):
            return rule
    raise HeaderPolicyError(f"{path}: no rule of the header policy (registry/publish/headers.py RULES) "
                            "matches this published file; add one before publishing it")


def content_type(rule: Rule, path: str) -> str:
    return rule.content_type or BY_SUFFIX[os.path.splitext(path)[1]]


def etag_of(data: bytes) -> str:
    """A strong ETag from the bytes alone: ``"<first 32 hex digits of SHA-256>"``."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def etag(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return '"' + digest.hexdigest()[:32] + '"'


def headers_for(path: str, *, datasette_url: str | None = None) -> list[tuple[str, str]]:
    """Content-Type, Cache-Control and security headers of ``path`` below site/
    (no ETag: the caller has the bytes)."""
    rule = rule_for(path)
    headers = [("Content-Type", content_type(rule, path)), ("Cache-Control", rule.cache_control),
               *SECURITY_HEADERS]
    policy = csp_header(path, datasette_url)
    if policy:
        headers.append(("Content-Security-Policy", policy))
    return headers


def site_files(site: Path) -> Iterator[str]:
    """Every file below ``site`` as a ``/``-separated relative path, sorted."""
    site = Path(site)
    found = []
    for root, dirs, files in os.walk(site):
        dirs.sort()
        rel = Path(root).relative_to(site).as_posix()
        for name in files:
            found.append(name if rel == "." else f"{rel}/{name}")
    yield from sorted(found)


# ------------------------------------------------------------------ nginx

def etag_map(site: Path) -> str:
    """Lines of an nginx ``map "$realpath_root$uri" $szzz_etag`` for every file of ``site``.

    Keyed by the *resolved* root, so that after an atomic switch of the root
    (a symlink) and before nginx reloads this map, no key matches: the files
    go out without an ETag (always 200, never a wrong 304) until the reload."""
    root = os.path.realpath(site)
    lines = [f"# content-hash ETags of {root} (publish.py nginx); reload nginx after each deploy"]
    for rel in site_files(Path(site)):
        lines.append(f'"{_nginx_escape(root + "/" + rel)}" \'{etag(Path(root) / rel)}\';')
    return "\n".join(lines) + "\n"


def _nginx_escape(text: str) -> str:
    if any(c in text for c in "\"'\\;{}$\n\r\t ") or not text:
        raise HeaderPolicyError(f"{text!r}: observed a quote, backslash, semicolon, brace, dollar or "
                                "space, expected none in a path written into the nginx ETag map")
    return text


LISTEN = re.compile(r"[0-9A-Za-z.:\[\]]+")
SERVER_NAME = re.compile(r"[0-9A-Za-z_.*-]+(?: [0-9A-Za-z_.*-]+)*")
BACKEND = re.compile(r"[0-9A-Za-z.\[\]:-]+:[0-9]{1,5}")
URL_PATH = re.compile(r"/(?:[0-9A-Za-z_.~-]+/)*")


def _pcre(pattern: str) -> str:
    # nginx regex locations see the URI with its leading "/".
    return f"^/(?:{pattern})$"


def nginx_config(*, root: Path, listen: str, datasette: Iterable[str], etag_map_file: Path,
                 datasette_url: str = "/datasette/", server_name: str = "_",
                 brotli: bool = False) -> str:
    """An nginx ``http``-level configuration: the ETag map, the Datasette upstream and
    one ``server`` block serving ``root`` with the header table.

    ``datasette``: ``host:port`` of each Datasette process (each run with
    ``datasette_server.py --base-url`` = the path of ``datasette_url``). A request that
    fails on one (connection refused or reset, timeout, 502/503/504) is
    retried on the next, so stopping one process loses no request."""
    backends = list(datasette)
    data_path = urlsplit(datasette_url).path or "/datasette/"
    if not data_path.endswith("/"):
        data_path += "/"
    # Values go into the configuration as words: one with a space, quote,
    # semicolon or brace would write directives of its own.
    for what, value, form in (("--listen", listen, LISTEN), ("--server-name", server_name, SERVER_NAME),
                              ("--datasette-url", data_path, URL_PATH),
                              *(("--datasette", b, BACKEND) for b in backends)):
        if not form.fullmatch(value):
            raise HeaderPolicyError(f"{what} {value!r}: observed a value outside {form.pattern}, "
                                    "expected a plain nginx word")
    _nginx_escape(str(root))
    _nginx_escape(str(etag_map_file))
    out = [
        "# Generated by `publish.py nginx` from registry/publish/headers.py (docs/publishing.md).",
        "# Include at http level (e.g. /etc/nginx/conf.d/szzz.conf).",
        "map_hash_max_size 262144;",
        "map_hash_bucket_size 256;",
        'map "$realpath_root$uri" $szzz_etag {',
        '    default "";',
        f"    include {etag_map_file};",
        "}",
        # 304 only when the client's validator is the current content hash
        # (and never when the file has no ETag: "" must not equal "").
        'map "$szzz_etag|$http_if_none_match" $szzz_not_modified {',
        '    default 0;',
        '    "~^(\\"[0-9a-f]+\\")\\|(?:.*,\\s*)?(?:W/)?\\1(?:\\s*,.*)?$" 1;',
        "}",
        # The verify page has its own policy (webverifier.HEADER_CSP); every other page the site's.
        'map $uri $szzz_csp {',
        f'    default "{page_csp(datasette_url)}; {FRAME_ANCESTORS}";',
        f'    "~^/v/" "{VERIFY_PAGE_CSP}; {FRAME_ANCESTORS}";',
        "}",
    ]
    if backends:
        out += ["upstream szzz_datasette {"]
        out += [f"    server {b} max_fails=1 fail_timeout=5s;" for b in backends]
        out += ["    keepalive 16;", "}"]
    out += [
        "server {",
        f"    listen {listen};",
        f"    server_name {server_name};",
        f"    root {root};",
        "    index index.html;",
        "    charset off;",
        "    sendfile on;",
        "    server_tokens off;",
        # Validators are content hashes only: nginx's own ETag is mtime-size
        # and If-Modified-Since compares mtimes, both blind to new bytes of a
        # reproducible build.
        "    etag off;",
        "    if_modified_since off;",
        "    gzip on;",
        # nginx's default level is 1: the verify page's bundle would cost 2.7 KB
        # more than at 6 (docs/verify-page.md "Files"; issue 14's 30 KB budget).
        "    gzip_comp_level 6;",
        "    gzip_vary on;",
        "    gzip_min_length 256;",
        f"    gzip_types {compressed_types()};",
    ]
    if brotli:
        out += ["    brotli on;", f"    brotli_types {compressed_types()};"]
    out += ["    location / {", "        try_files $uri $uri/ =404;", "    }"]
    for rule in RULES:
        out += [f"    # {rule.name}: {rule.why}", f'    location ~ "{_pcre(rule.pattern)}" {{']
        if rule.content_type:
            out += ["        types { }", f'        default_type "{rule.content_type}";']
        else:
            mapping = " ".join(f"{media} {suffix[1:]};" for suffix, media in BY_SUFFIX.items())
            out += [f"        types {{ {mapping} }}"]
        out += [f'        add_header Cache-Control "{rule.cache_control}" always;',
                "        add_header ETag $szzz_etag;"]
        out += [f'        add_header {name} "{value}" always;' for name, value in SECURITY_HEADERS]
        if rule.content_type == HTML:
            out += ['        add_header Content-Security-Policy $szzz_csp always;']
        out += ["        if ($szzz_not_modified) { return 304; }", "    }"]
    if backends:
        out += [
            # ^~: Datasette's own /-/static/*.css and *.js are not the site's files.
            f"    location ^~ {data_path} {{",
            "        proxy_pass http://szzz_datasette;",
            "        proxy_http_version 1.1;",
            '        proxy_set_header Connection "";',
            "        proxy_set_header Host $host;",
            "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "        proxy_connect_timeout 1s;",
            "        proxy_read_timeout 15s;",
            # GET and HEAD are retried on the next Datasette; a request that
            # reached none answers 502 only after every one failed.
            "        proxy_next_upstream error timeout http_502 http_503 http_504;",
            f"        proxy_next_upstream_tries {len(backends) + 1};",
            "        proxy_next_upstream_timeout 10s;",
            "        add_header X-Content-Type-Options nosniff always;",
            "    }",
        ]
    out += ["}"]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------- _headers file

def netlify_headers(site: Path, *, datasette_url: str | None = None) -> str:
    """A ``_headers`` file (Netlify, Cloudflare Pages): one block per file.

    Per file rather than per pattern: these hosts match ``*`` splats, not
    the table's regular expressions, and a file listed once cannot fall into
    two blocks (Netlify merges every matching block). The hosts make their
    own ETags from the content."""
    out = ["# Generated by `publish.py headers --format netlify` (registry/publish/headers.py)"]
    for rel in site_files(Path(site)):
        if rel == "_headers":
            continue
        urls = [f"/{rel}"]
        if rel == "index.html" or rel.endswith("/index.html"):
            urls.insert(0, "/" + rel[: -len("index.html")])
        for url in urls:
            out.append(url)
            out += [f"  {name}: {value}" for name, value in headers_for(rel, datasette_url=datasette_url)]
    return "\n".join(out) + "\n"


# ------------------------------------------------------ object-store upload

@dataclass(frozen=True)
class Upload:
    path: str
    rule: Rule
    content_type: str
    cache_control: str
    etag: str


def upload_plan(site: Path) -> list[Upload]:
    """Every file of ``site`` with its upload metadata, in upload order: by phase,
    the checkpoint last of all; within a phase, files that share their
    headers together (one upload run each)."""
    plan = []
    for rel in site_files(Path(site)):
        rule = rule_for(rel)
        plan.append(Upload(rel, rule, content_type(rule, rel), rule.cache_control, etag(Path(site) / rel)))
    # The checkpoint is the very last upload: it is what makes the new tree live.
    return sorted(plan, key=lambda u: (u.rule.phase, u.rule.name == "checkpoint", u.content_type,
                                       u.cache_control, u.path))
