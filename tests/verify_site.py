"""Helpers for the verification-page tests: build a served site from the
conformance vectors (or from records made here with the real registry code)
and drive the page through its hash."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from urllib.parse import urlsplit

from helpers import VERIFIER_ASSETS

from registry.core import clock
from registry.publish import webverifier

REPO_ROOT = Path(__file__).resolve().parents[1]
VECTORS_PATH = REPO_ROOT / "docs" / "vectors" / "mark-conformance.json"

#: The state the page root reaches once a verdict is shown.
DONE = "document.documentElement.dataset.state === 'done'"

#: A browser whose WebCrypto has no Ed25519 (Chrome < 137, Safari < 17, many
#: in-app WebViews): importKey refuses the algorithm, as theirs does.
NO_WEBCRYPTO_ED25519 = """(() => {
    const importKey = SubtleCrypto.prototype.importKey;
    SubtleCrypto.prototype.importKey = function (format, data, algorithm, ...rest) {
        const name = typeof algorithm === 'string' ? algorithm : algorithm && algorithm.name;
        if (String(name).toLowerCase() === 'ed25519') {
            return Promise.reject(new DOMException('Unrecognized name.', 'NotSupportedError'));
        }
        return importKey.call(this, format, data, algorithm, ...rest);
    };
})()"""


def load_vectors() -> dict:
    return json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


def write_files(root: Path, files: dict) -> None:
    """Write ``{"api/...": text}`` under ``root`` exactly as given (bytes as UTF-8)."""
    for name, text in files.items():
        path = root / name
        assert path.resolve().is_relative_to(root.resolve()), name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")


def build_site(root: Path, files: dict, *, root_public_key: str, today: str, max_age_days: int = 7,
               **options) -> Path:
    write_files(root, files)
    webverifier.install_verifier(root / "v", assets=VERIFIER_ASSETS, root_public_key=root_public_key, today=today,
                                 max_age_days=max_age_days, **options)
    return root


def record_requests(page) -> list[str]:
    """Every URL the page requests, to check nothing leaves 127.0.0.1."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def foreign_requests(urls) -> list[str]:
    return [u for u in urls if urlsplit(u).scheme not in ("data", "blob")
            and urlsplit(u).hostname != "127.0.0.1"]


def verdict_of(page) -> dict:
    return page.evaluate("""() => {
        const box = document.getElementById('verdict');
        return {verdict: box.dataset.verdict, run: document.documentElement.dataset.run,
                text: box.innerText};
    }""")


def verify_via_hash(page, fragment: str, timeout_ms: int = 15000) -> dict:
    """Set ``location.hash`` on an open verification page and wait for the new verdict.

    The fragment must differ from the current one (an unchanged hash fires no
    ``hashchange``); callers verifying the same input twice reuse the result.
    """
    before = page.evaluate("() => Number(document.documentElement.dataset.run || 0)")
    page.evaluate("(h) => { location.hash = h; }", fragment)
    page.wait_for_function(
        f"(before) => Number(document.documentElement.dataset.run) > before && {DONE}",
        arg=before, timeout=timeout_ms)
    return verdict_of(page)


def verify_via_url(page, url: str, timeout_ms: int = 15000) -> dict:
    """Navigate the open verification page to ``url`` (a mark URL as scanned: the
    browser's own URL parser turns it into the fragment the page reads) and
    wait for the new verdict."""
    if page.evaluate("(u) => { try { return new URL(u).href === location.href; } catch { return false; } }", url):
        verify_via_hash(page, "0")  # the same URL again would fire no hashchange
    before = page.evaluate("() => Number(document.documentElement.dataset.run || 0)")
    page.goto(url)
    page.wait_for_function(
        f"(before) => Number(document.documentElement.dataset.run) !== before && {DONE}",
        arg=before, timeout=timeout_ms)
    return verdict_of(page)


def on_site(text: str, site_url: str, base: str) -> str | None:
    """A scanned mark URL of ``site_url`` moved to the test server ``base`` (every
    byte around the site's prefix kept as scanned), or None for a bare input."""
    if site_url not in text:
        return None
    return text.replace(site_url, base, 1)


def build_xss_site(root: Path, *, today: str = "2024-03-02") -> dict:
    """The XSS corpus registry (tests/xss_corpus.py: hostile text in every
    free-text field, signed through ``registry.operations.Registry``),
    published with ``api.write_snapshot`` under ``root/api/``, the
    verifier installed at ``root/v/`` (and at ``root/v-slow/`` with a 0.5 s
    fetch timeout). Returns ``{cert_no: (status, payload digits)}``."""
    from xss_corpus import PASSPHRASE, xss_registry

    from registry.publish import api
    from registry.publish import log as publish_log
    from registry.store import schema

    (root / "registry").mkdir(parents=True, exist_ok=True)
    db_path, keys_dir = xss_registry(root / "registry")
    db = schema.connect(db_path)
    try:
        log_signer = api.load_log_signer(db, keys_dir, PASSPHRASE)
        api.write_snapshot(db, root / "site", log_signer)
        # The trust list has a timestamp key, so verifiers require the log.
        # Cosigned at noon of the verifiers' pinned today (it carries when it is signed).
        publish_log.publish_log(db, root / "site", log_signer,
                                publish_log.load_timestamp_signer(db, keys_dir, PASSPHRASE),
                                timestamp=clock.noon(datetime.date.fromisoformat(today)))
        certificates = {no: (status, text) for no, status, text in db.execute(
            "select cert_no, status, mark_payload from certificates order by cert_no")}
    finally:
        db.close()
    site = root / "site"
    root_key = json.loads((site / "api" / "root-key.json").read_text(encoding="utf-8"))["public_key"]
    webverifier.install_verifier(site / "v", assets=VERIFIER_ASSETS, root_public_key=root_key, today=today)
    webverifier.install_verifier(site / "v-slow", assets=VERIFIER_ASSETS, root_public_key=root_key, today=today,
                                 timeout_ms=500)
    return certificates
