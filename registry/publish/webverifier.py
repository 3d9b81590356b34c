"""Install the browser verifier (the page a mark's QR code opens) into a site.

The verifier's source lives in ``site/verify/``: an HTML template and plain
ES modules, no framework, nothing from a CDN. :func:`install_verifier`
builds it into ``out_dir`` (``<site>/v/`` in the published portal): it pins
the scheme's root public key and the settings into ``<meta>`` tags of the
page, generates ``constants.js`` from the Python rules
(:func:`constants_module`: signing domains, the payload layout and input
limits, verdicts, checks, tolerances, the key-use table of
:mod:`registry.core.rules` and the lifecycle's transitions — so the browser
applies the very tables the registry enforces, never a hand-kept copy),
bundles the page's modules with that generated file into one minified module
(:func:`bundle`, esbuild from npm) and writes it, with the minified style,
into the page, so a visitor's browser gets the page's code in the page's own
response, not one request per module or a second wave. Loaded only when
needed, each its own file: the pure-JS Ed25519 ``ed25519-fallback.js``
(bundled with ``@noble/ed25519`` and the SHA-512 of ``@noble/hashes``), for
a browser whose WebCrypto has no Ed25519, and ``scan.js`` with the npm QR
decoder ``jsqr``, when a visitor scans a photo. All npm packages are
installed by ``npm ci``.

Rules enforced here:

* no inline code but the page's own: its Content-Security-Policy
  (:func:`page_csp`) allows the inline bundle and style by their SHA-256 and
  scripts from the site's files only, and code that would end its inline
  element early stops the install (see ``docs/verify-page.md`` "Files");
* relative URLs only, so the page works from any host and sub-path;
* all or nothing: the verifier is assembled in a temporary directory beside
  ``out_dir`` and renamed into place, so a failed install leaves the previous
  one untouched.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from registry.core import canonical, fs, keys, lifecycle, payload, rules
from registry.core.exceptions import ConfigError
from registry.log import checkpoint

TEMPLATE = "index.html"
GENERATED = "constants.js"
# What the page loads, each built by esbuild from site/verify/ (bundle()):
# verify.js with every module it imports statically and the generated
# constants.js, for every verification; ed25519-fallback.js with the npm
# Ed25519 and SHA-512 it imports, only in a browser whose WebCrypto has no
# Ed25519 (canonical.js imports it dynamically); scan.js only when a visitor
# scans. The two lazy ones stay outside the main bundle (esbuild --external).
PAGE_BUNDLE = "verify.js"
FALLBACK_BUNDLE = "ed25519-fallback.js"
SCANNER = "scan.js"
LAZY_BUNDLES = (FALLBACK_BUNDLE, SCANNER)
STYLE = "verify.css"
# Other .js, .css and .svg files of site/verify/ (the modules verify.js is
# built from, the icon) are copied as they are: the page does not load the
# modules (the bundle has them), readers and tests may (docs/verify-page.md).
COPIED_SUFFIXES = (".js", ".css", ".svg")
# The Ed25519 fallback's npm modules (ed25519-fallback.js imports these paths
# below itself): @noble/ed25519's one module and the @noble/hashes modules its
# SHA-512 needs (sha2.js imports the other three). They are bundled into
# ed25519-fallback.js, not installed.
NOBLE_ED25519 = ("ed25519/index.js", "noble/ed25519.js")
NOBLE_HASHES = ("sha2.js", "_md.js", "_u64.js", "utils.js")
# The oldest JavaScript the bundles may use: what the modules themselves use
# (BigInt, optional chaining); esbuild then never rewrites code into newer
# syntax (e.g. ES2021's ??=) that the browsers the fallback exists for lack.
BUNDLE_TARGET = "es2020"
# esbuild's error report: "✘ [ERROR] <what>", a blank line, "    <file>:<line>:<column>:".
ESBUILD_ERROR = re.compile(r"\[ERROR\] (?P<what>[^\n]*)\n\s*\n\s*(?P<where>[^\s:]+:\d+:\d+):")
# The page's policy (its <meta>). The page's own script (the bundle) and
# style are inline, so that a cold load is one response and not two waves of
# requests (docs/verify-page.md "Second round"); each is allowed by its SHA-256 and
# nothing else inline is. img-src adds blob: for one thing: a chosen SVG mark
# is drawn through an <img> of the file the visitor picked
# (URL.createObjectURL), never fetched.
CSP_TEMPLATE = ("default-src 'self'; script-src 'self' {script}; style-src 'self' {style}; "
                "img-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'none'")
# The HTTP header's policy for the page (registry/publish/headers.py adds
# frame-ancestors, which a <meta> cannot carry). A browser enforces both
# policies; this one holds no script or style rule, so a header written
# before the page's code changed can never block its inline code.
HEADER_CSP = "object-src 'none'; base-uri 'none'; form-action 'none'"
# What every verification loads (the page: its script and style are inside),
# and what only a browser without WebCrypto Ed25519 loads.
EAGER = (TEMPLATE,)
# Text that would end an inline <script> or <style> early (or, in a script,
# open an HTML comment that changes how the parser finds its end).
INLINE_BREAK = {"script": re.compile(r"</script|<!--", re.IGNORECASE),
                "style": re.compile(r"</style", re.IGNORECASE)}
FALLBACK = (FALLBACK_BUNDLE,)
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DEFAULT_SITE_NAME = "苏州制造 · Made in Suzhou"
DEFAULT_REPORT_URL = "../report/"


@dataclass(frozen=True)
class VerifierAssets:
    """Where the verifier's source (``site/verify/``), the npm QR decoder
    (``node_modules/jsqr/dist/jsQR.js``), the npm Ed25519 fallback
    (``node_modules/@noble``: ``ed25519/`` and ``hashes/``) and the npm
    bundler (``node_modules/.bin/esbuild``) are: the application knows its
    checkout (``publish.py``); the library never guesses a repository path."""

    source_dir: Path
    jsqr: Path
    noble: Path
    esbuild: Path

    @classmethod
    def in_checkout(cls, root) -> VerifierAssets:
        root = Path(root)
        return cls(root / "site" / "verify", root / "node_modules" / "jsqr" / "dist" / "jsQR.js",
                   root / "node_modules" / "@noble", root / "node_modules" / ".bin" / "esbuild")

    def noble_files(self) -> list[tuple[Path, str]]:
        """``(source, path below the page)`` of every fallback module."""
        src, dest = NOBLE_ED25519
        return [(Path(self.noble) / src, dest)] + [
            (Path(self.noble) / "hashes" / name, f"noble/hashes/{name}") for name in NOBLE_HASHES]


def _relative_url(name, value):
    """Refuse URLs that would make the page fetch from or link to elsewhere
    unexpectedly: the API base must be relative (rule: works from any host)."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name} must be a non-empty relative URL, observed {value!r}")
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", value) or value.startswith("//") or "\\" in value:
        raise ConfigError(f"{name} must be a relative URL (no scheme or host), observed {value!r}")
    return value


def _report_url(value):
    """The report link may be relative or an https:// page (e.g. the bureau's)."""
    if isinstance(value, str) and re.match(r"^https://[^\s\"'<>]+$", value):
        return value
    return _relative_url("report_url", value)


def browser_constants() -> dict:
    """Everything the browser verifier takes from the Python rules, as data."""
    return {
        **rules.browser_constants(),
        "DOMAINS": {"certificate": canonical.CERTIFICATE, "event": canonical.EVENT,
                    "trustList": canonical.TRUST_LIST, "status": canonical.STATUS,
                    "statusSnapshot": canonical.STATUS_SNAPSHOT, "mark": canonical.MARK},
        "PAYLOAD": {
            "VERSION": payload.VERSION, "KEY_ID_BYTES": keys.KEY_ID_BYTES,
            "DIGEST_BYTES": payload.DIGEST_BYTES, "MAX_CERT_NO": payload.MAX_CERT_NO,
            "CERT_NO_PATTERN": payload.CERT_NO_PATTERN, "GROUP_BYTES": payload.GROUP_BYTES,
            "DIGITS_FOR_BYTES": list(payload.DIGITS_FOR_BYTES), "MAX_TEXT": payload.MAX_TEXT,
            "MAX_INPUT": payload.MAX_INPUT, "HEADER_BYTES": payload.HEADER_BYTES,
            "SIGNATURE_BYTES": payload.SIGNATURE_BYTES,
            "AT": {"VERSION": payload.AT_VERSION, "KEY_ID": payload.AT_KEY_ID,
                   "SIGNED_ON": payload.AT_SIGNED_ON, "EXPIRES": payload.AT_EXPIRES,
                   "DIGEST": payload.AT_DIGEST, "LENGTH": payload.AT_LENGTH},
        },
        "TRANSITIONS": {event: [[before, after] for before, after in moves.items()]
                        for event, moves in lifecycle.TRANSITIONS.items()},
    }


def constants_module() -> str:
    """``constants.js``: :func:`browser_constants` as frozen ES module exports."""
    lines = [
        "// Generated by registry/publish/webverifier.py from registry/core/rules.py,",
        "// payload.py, canonical.py and lifecycle.py. Do not edit: the browser applies",
        "// the registry's own tables (docs/verification.md).",
        "const deepFreeze = (v) => {",
        "  if (v && typeof v === \"object\") { Object.values(v).forEach(deepFreeze); Object.freeze(v); }",
        "  return v;",
        "};",
    ]
    for name, value in browser_constants().items():
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        if name == "TRANSITIONS":
            # event type -> Map(status before (null: not issued yet) -> status after)
            lines.append(f"export const TRANSITIONS = new Map(Object.entries({text})"
                         ".map(([type, moves]) => [type, new Map(moves)]));")
        else:
            # Pure: a table no module of the page imports is left out of its bundle.
            lines.append(f"export const {name} = /* @__PURE__ */ deepFreeze({text});")
    return "\n".join(lines) + "\n"


# A landmark of its own (as the site's pages have it), so that no text of the
# page lies outside one (axe "region").
DEMO_BANNER = ('<aside class="demo" aria-label="演示数据 Demo data"><p><strong>演示数据</strong> '
               '本站证书均为虚构，不代表任何真实认证。<span lang="en"><strong>Demo data</strong>: every '
               'certificate on this site is invented and certifies nothing.</span></p></aside>\n')


def csp_hash(text: str) -> str:
    """The CSP source of an inline script or style: ``'sha256-<base64>'`` of its UTF-8 bytes."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def page_csp(script: str, style: str) -> str:
    """The page's Content-Security-Policy for its inline ``script`` and ``style``."""
    return CSP_TEMPLATE.format(script=csp_hash(script), style=csp_hash(style))


def render_page(template: str, *, script: str, style: str, root_public_key, api_base, max_age_days,
                timeout_ms, site_name, report_url, today=None, log_origin="", log_base="../log/",
                cert_base="../certificates/", demo=False) -> str:
    """Fill the page template; every value is HTML-escaped into an attribute or text
    (the demo banner is this module's own constant text). ``script`` (the
    bundle) and ``style`` go inline, as they are, with their hashes in the
    policy; ConfigError if either holds text that would end it early."""
    for name, element, code in ((PAGE_BUNDLE, "script", script), (STYLE, "style", style)):
        bad = INLINE_BREAK[element].search(code)
        if bad:
            raise ConfigError(f"{name}: observed {bad.group(0)!r} at character {bad.start()}, expected none "
                              "in code written inline into the page")
    hooks = ""
    if today is not None:
        # Test hook: pins the verifier's "today" (docs/verify-page.md). Only
        # written when asked for; never in a published site.
        hooks = f'<meta name="szzz-today" content="{html.escape(today)}">\n'
    values = {
        "root_key": root_public_key,
        "api_base": api_base,
        "max_age_days": str(max_age_days),
        "timeout_ms": str(timeout_ms),
        "report_url": report_url,
        "site_name": site_name,
        "log_origin": log_origin,
        "log_base": log_base,
        "cert_base": cert_base,
    }
    page = template.replace("{{test_hooks}}", hooks).replace("{{demo_banner}}", DEMO_BANNER if demo else "")
    for name, value in values.items():
        page = page.replace("{{" + name + "}}", html.escape(value, quote=True))
    # Our constant and two base64 hashes: nothing in it to escape.
    policy = page_csp(script, style)
    page = page.replace("{{csp}}", policy)
    left = re.search(r"\{\{\w+\}\}", page.replace("{{style}}", "", 1).replace("{{script}}", "", 1))
    if left:
        raise ConfigError(f"{TEMPLATE}: placeholder {left.group(0)} was not filled")
    if page.count("{{style}}") != 1 or page.count("{{script}}") != 1:
        raise ConfigError(f"{TEMPLATE}: expected one {{{{style}}}} and one {{{{script}}}} placeholder")
    if f'<meta http-equiv="Content-Security-Policy" content="{policy}">' not in page:
        raise ConfigError(f"{TEMPLATE}: the Content-Security-Policy meta is missing")
    # The code last, by position: text in it is never taken for a placeholder.
    before, after = page.split("{{style}}")
    page = before + style + after
    before, after = page.split("{{script}}")
    return before + script + after


def bundle(esbuild, work_dir: Path, entry: str, out_file: Path, *, external=(), loader_css=False) -> None:
    """Build ``work_dir/entry`` into ``out_file`` with esbuild: with the
    modules it imports statically (except ``external`` ones, left as imports
    of sibling files), minified, no newer syntax than :data:`BUNDLE_TARGET`,
    UTF-8 kept as is. A stylesheet (``loader_css``) is only minified.
    ConfigError naming the entry and esbuild's message when it fails."""
    args = [str(Path(esbuild).resolve()), entry, f"--outfile={out_file}", "--minify", "--charset=utf8",
            "--log-level=warning", "--color=false"]
    if not loader_css:
        args += ["--bundle", "--format=esm", f"--target={BUNDLE_TARGET}",
                 *(f"--external:./{name}" for name in external)]
    done = subprocess.run(args, cwd=work_dir, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not out_file.is_file():
        # One line: esbuild's first error with the file:line:column it names.
        first = ESBUILD_ERROR.search(done.stderr)
        why = f"{first['where']}: {first['what']}" if first else " ".join(done.stderr.split())[:500]
        raise ConfigError(f"{entry}: esbuild failed (exit {done.returncode}): {why}")


def install_verifier(out_dir, *, assets: VerifierAssets, root_public_key, max_age_days=7,
                     api_base="../api/", site_name=DEFAULT_SITE_NAME, report_url=DEFAULT_REPORT_URL,
                     timeout_ms=8000, today=None, log_origin=None, log_base="../log/",
                     cert_base="../certificates/", demo=False) -> Path:
    """Write the verification page into ``out_dir`` (replacing what is there), from ``assets``.

    ``root_public_key`` is the scheme root's raw Ed25519 public key, base64url
    without padding (as in ``api/root-key.json``): it is pinned into the
    page, which trusts nothing else. ``api_base`` is where ``trust-list.json``
    and ``certificates/`` are, relative to the page. ``today`` (YYYY-MM-DD)
    pins the verifier's clock and exists for tests only. ``log_origin`` (e.g.
    ``szzz.example.cn/log``) pins the transparency log's origin: the page then
    also checks the checkpoint, its freshness, the latest event's inclusion and
    consistency with the largest tree it saw (site/verify/logcheck.js); without
    it the page does no log step. ``log_base`` is where ``checkpoint`` and
    ``tile/`` are, relative to the page; ``cert_base`` where the site's
    certificate pages are (``<cert_base><cert_no>/``). ``demo`` (the registry's
    ``meta.demo`` is set: :func:`registry.publish.site.is_demo`) puts the
    "演示数据 demo data" banner on the page. Returns ``out_dir``.
    """
    keys.public_from_b64(root_public_key)  # SignatureError naming the problem
    if isinstance(max_age_days, bool) or not isinstance(max_age_days, int) or max_age_days < 0:
        raise ConfigError(f"max_age_days must be an integer ≥ 0, observed {max_age_days!r}")
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or not 100 <= timeout_ms <= 120000:
        raise ConfigError(f"timeout_ms must be an integer in 100..120000, observed {timeout_ms!r}")
    api_base = _relative_url("api_base", api_base)
    if not api_base.endswith("/"):
        raise ConfigError(f"api_base must end with '/', observed {api_base!r}")
    report_url = _report_url(report_url)
    if not isinstance(site_name, str) or not site_name.strip():
        raise ConfigError(f"site_name must be non-empty text, observed {site_name!r}")
    if log_origin is not None:
        checkpoint.names_for(origin=log_origin)  # ConfigError naming a bad key name
    for name, base in (("log_base", log_base), ("cert_base", cert_base)):
        _relative_url(name, base)
        if not base.endswith("/"):
            raise ConfigError(f"{name} must end with '/', observed {base!r}")
    if today is not None and not DATE_RE.match(str(today)):
        raise ConfigError(f"today must be YYYY-MM-DD, observed {today!r}")

    source, jsqr = Path(assets.source_dir), Path(assets.jsqr)
    template_path = source / TEMPLATE
    if not template_path.is_file():
        raise ConfigError(f"{template_path}: the verifier's page template is missing")
    if not jsqr.is_file():
        raise ConfigError(f"{jsqr}: the QR decoder jsQR is missing; run `npm ci` in the checkout "
                          "(package.json pins jsqr)")
    for path, _dest in assets.noble_files():
        if not path.is_file():
            raise ConfigError(f"{path}: the Ed25519 fallback is missing; run `npm ci` in the checkout "
                              "(package.json pins @noble/ed25519 and @noble/hashes)")
    settings = {"root_public_key": root_public_key, "api_base": api_base, "max_age_days": max_age_days,
                "timeout_ms": timeout_ms, "site_name": canonical.nfc(site_name), "report_url": report_url,
                "today": today, "log_origin": log_origin or "", "log_base": log_base, "cert_base": cert_base,
                "demo": bool(demo)}
    template = template_path.read_text(encoding="utf-8")
    if not Path(assets.esbuild).is_file():
        raise ConfigError(f"{assets.esbuild}: the bundler esbuild is missing; run `npm ci` in the checkout "
                          "(package.json pins esbuild)")
    out_dir = Path(out_dir)
    with fs.staged_dir(out_dir) as staging, tempfile.TemporaryDirectory(prefix="szzz-verify-build-") as work:
        # The build directory: the source modules, the generated constants and
        # the fallback's npm modules, laid out as the imports name them.
        work_dir = Path(work)
        for path in sorted(source.iterdir()):
            if path.is_file() and path.suffix in COPIED_SUFFIXES and path.name != GENERATED:
                shutil.copyfile(path, work_dir / path.name)
                if path.name not in (PAGE_BUNDLE, STYLE, *LAZY_BUNDLES):
                    shutil.copyfile(path, staging / path.name)
        (work_dir / GENERATED).write_text(constants_module(), encoding="utf-8")
        (staging / GENERATED).write_text(constants_module(), encoding="utf-8")
        for path, dest in assets.noble_files():
            (work_dir / dest).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, work_dir / dest)
        bundle(assets.esbuild, work_dir, PAGE_BUNDLE, work_dir / "out" / PAGE_BUNDLE, external=LAZY_BUNDLES)
        for name in LAZY_BUNDLES:
            bundle(assets.esbuild, work_dir, name, staging / name)
        bundle(assets.esbuild, work_dir, STYLE, work_dir / "out" / STYLE, loader_css=True)
        page = render_page(template, script=(work_dir / "out" / PAGE_BUNDLE).read_text(encoding="utf-8").strip(),
                           style=(work_dir / "out" / STYLE).read_text(encoding="utf-8").strip(), **settings)
        (staging / TEMPLATE).write_text(page, encoding="utf-8")
        shutil.copyfile(jsqr, staging / "jsQR.js")
    return out_dir


def page_bytes(out_dir) -> dict:
    """Sizes of the files a visitor's browser fetches for one verification
    (page, style, modules), and of the lazily loaded scanner, in bytes."""
    out_dir = Path(out_dir)
    lazy = [SCANNER, "jsQR.js"]
    return {
        "eager": {name: (out_dir / name).stat().st_size for name in EAGER},
        "lazy": {name: (out_dir / name).stat().st_size for name in lazy},
        "fallback": {name: (out_dir / name).stat().st_size for name in FALLBACK},
    }
