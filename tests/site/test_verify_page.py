"""The verification page in real Chromium (Playwright driving Debian's chromium).

What a user relies on: every conformance vector gives the same verdict in the
browser as in the Python verifier; the verdict is shown in Chinese and
English with the difference between "signature genuine" and "status
current / unknown"; attacker text stays text; scanning a photo of a real mark
verifies it; nothing is fetched from anywhere but the site itself; the CSP
forbids inline script.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import http.server
import io
import json
import random
import re
import shutil
import threading
from pathlib import Path

import pytest
from helpers import VERIFIER_ASSETS, assert_no_js_errors, js_errors
from verify_site import (
    DONE,
    NO_WEBCRYPTO_ED25519,
    build_site,
    build_xss_site,
    foreign_requests,
    load_vectors,
    on_site,
    record_requests,
    verdict_of,
    verify_via_hash,
    verify_via_url,
)
from xss_corpus import XSS_STRINGS

from registry import verify
from registry.core import lifecycle, payload, rules
from registry.core.exceptions import ConfigError, PayloadError, SignatureError
from registry.marks import qr, render
from registry.publish import webverifier
from registry.verify import sources

pytestmark = pytest.mark.browser

VECTORS = load_vectors()
BY_NAME = {v["name"]: v for v in VECTORS["vectors"]}

@pytest.fixture(scope="module")
def conformance_site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("conformance-site")
    return build_site(root, VECTORS["files"], root_public_key=VECTORS["root_public_key"],
                      today=VECTORS["today"], max_age_days=VECTORS["max_age_days"])


LOG_SITE = VECTORS["log_site"]


@pytest.fixture(scope="module")
def log_site(tmp_path_factory) -> Path:
    """The vectors' log site (a registry with a transparency log), the page
    pinning its log origin as the portal installs it."""
    root = tmp_path_factory.mktemp("log-site")
    for name, b64 in LOG_SITE["binary_files"].items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(base64.b64decode(b64))
    return build_site(root, LOG_SITE["files"], root_public_key=VECTORS["root_public_key"], today=VECTORS["today"],
                      max_age_days=VECTORS["max_age_days"], log_origin=LOG_SITE["origin"])


@pytest.fixture(scope="module")
def xss_site(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("xss-site")
    return root / "site", build_xss_site(root)


def python_verdict(vector) -> str:
    return verify.verification_result(
        vector["input"], sources.FilesSource(VECTORS["files"]),
        root_public_key=VECTORS["root_public_key"], today=VECTORS["today"],
        max_age=VECTORS["max_age_days"]).verdict


def open_page(page, url: str, state: str = "done") -> None:
    page.goto(url)
    page.wait_for_function(f"() => document.documentElement.dataset.state === '{state}'")


# --------------------------------------------------------------------------- #
# Conformance: identical verdicts in Python and in the browser
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("backend", ["webcrypto", "fallback"])
def test_every_conformance_vector_gives_the_python_verdict(page, serve_dir, conformance_site, backend):
    """Browser = Python = expected for every vector, with WebCrypto's Ed25519 and
    with the pure-JS fallback a browser without it loads (the same verdicts)."""
    if backend == "fallback":
        page.add_init_script(NO_WEBCRYPTO_ED25519)
    requests = record_requests(page)
    base = serve_dir(conformance_site)
    open_page(page, base + "/v/", state="idle")
    seen, mismatches, previous = {}, [], None
    for vector in VECTORS["vectors"]:
        url = on_site(vector["input"], VECTORS["site_url"], base)
        if url is not None:  # a scanned URL: the browser's URL parser reads it, as on a phone
            got = verify_via_url(page, url)["verdict"]
            previous = None
        elif vector["input"] == previous:  # an unchanged hash fires no hashchange
            got = seen[previous]
        else:
            got = verify_via_hash(page, vector["input"])["verdict"]
            seen[vector["input"]] = got
            previous = vector["input"]
        expected = vector["expected_verdict"]
        py = python_verdict(vector)
        if not (got == py == expected):
            mismatches.append(f"{vector['name']}: browser {got}, python {py}, expected {expected}")
    assert not mismatches, "\n".join(mismatches)
    assert page.evaluate("() => document.documentElement.dataset.ed25519") == backend
    assert any(u.endswith("/v/ed25519-fallback.js") for u in requests) == (backend == "fallback"), \
        "the fallback loads only where WebCrypto lacks Ed25519"
    # HTML in fragments and in signed fields ran nothing.
    assert page.evaluate("() => window.__xss") is None
    assert foreign_requests(requests) == []
    # The only console errors allowed: Chromium's note about the 404 of the
    # certificate that is deliberately missing (verdict not_found).
    assert page.page_errors == []
    errors = [m.text for m in page.console_messages if m.type == "error"]
    assert errors and all("404" in e for e in errors), errors


def test_log_site_vectors_give_the_python_verdict(page, serve_dir, log_site):
    """The vectors of a site with a transparency log (the page pins its
    origin, checks checkpoint, cosignature, inclusion): browser = Python =
    expected, the log checks passed on every valid verdict."""
    files = dict(LOG_SITE["files"]) | {k: base64.b64decode(v) for k, v in LOG_SITE["binary_files"].items()}
    base = serve_dir(log_site)
    mismatches = []
    for vector in LOG_SITE["vectors"]:
        page.goto("about:blank")
        open_page(page, base + "/v/#" + vector["input"])
        got = verdict_of(page)["verdict"]
        py = verify.verification_result(vector["input"], sources.FilesSource(files),
                                        root_public_key=VECTORS["root_public_key"], today=VECTORS["today"],
                                        max_age=VECTORS["max_age_days"]).verdict
        if not (got == py == vector["expected_verdict"]):
            mismatches.append(f"{vector['name']}: browser {got}, python {py}, expected {vector['expected_verdict']}")
        if got == "valid":
            rows = page.locator("#checks li").evaluate_all("(li) => li.map((e) => [e.className, e.dataset.check])")
            assert {c for c, _ in rows} == {"check check-true"}, (vector["name"], rows)
            assert {n for _, n in rows if n} == {"log-signature", "log-fresh", "inclusion", "consistency"}
    assert not mismatches, "\n".join(mismatches)
    assert_no_js_errors(page)


def test_page_reverifies_on_hashchange_and_ignores_a_superseded_run(page, serve_dir, conformance_site):
    base = serve_dir(conformance_site)
    open_page(page, base + "/v/#" + BY_NAME["revoked"]["input"])
    assert verdict_of(page)["verdict"] == "revoked"
    # Two changes in a row: only the last one's verdict may be shown.
    page.evaluate("([a, b]) => { location.hash = a; location.hash = b; }",
                  [BY_NAME["non-digit"]["input"], BY_NAME["valid-current-key"]["input"]])
    page.wait_for_function(f"() => {DONE} && document.getElementById('verdict').dataset.verdict === 'valid'")
    page.wait_for_timeout(300)  # a late result of the first change would overwrite it now
    assert verdict_of(page)["verdict"] == "valid"


def test_browser_payload_parser_agrees_with_python_on_random_corruptions(page, serve_dir, conformance_site):
    """Property (issue: bad input): single-character changes of a valid payload
    parse to the same fields in JS and Python, or fail in both; and none is valid."""
    base = serve_dir(conformance_site)
    open_page(page, base + "/v/", state="idle")
    good = BY_NAME["valid-current-key"]["input"]
    rng = random.Random(20250615)
    samples = [good]
    for _ in range(300):
        i = rng.randrange(len(good))
        samples.append(good[:i] + rng.choice("0123456789A# ") + good[i + 1:])
    samples += [good[:n] for n in range(0, len(good), 17)] + ["9" * 17 * k for k in range(1, 25)]
    js = page.evaluate("""async (texts) => {
        const p = await import('./payload.js');
        return texts.map((t) => {
            try {
                const m = p.parseText(t);
                return [m.keyId, m.signedOn, m.expires, m.recordDigest, m.certNo,
                        Array.from(m.signature, (b) => b.toString(16).padStart(2, '0')).join('')];
            } catch (e) {
                if (!(e instanceof p.PayloadError)) throw e;
                return null;
            }
        });
    }""", samples)
    for text, got in zip(samples, js, strict=True):
        try:
            m = payload.parse_text(text)
            expected = [m.key_id, m.signed_on, m.expires, m.record_digest, m.cert_no, m.signature.hex()]
        except PayloadError:
            expected = None
        assert got == expected, text
    changed = [t for t in samples[1:301] if t != good]
    verdicts = {verify_via_hash(page, t)["verdict"] for t in changed[:40] if t != good}
    assert "valid" not in verdicts


def test_lifecycle_table_in_the_page_is_the_registrys(page, serve_dir, conformance_site):
    base = serve_dir(conformance_site)
    open_page(page, base + "/v/", state="idle")
    table = page.evaluate("""async () => {
        const {TRANSITIONS} = await import('./constants.js');
        return Object.fromEntries([...TRANSITIONS].map(([t, m]) => [t, [...m]]));
    }""")
    assert table == {event: [[b, a] for b, a in moves.items()]
                     for event, moves in lifecycle.TRANSITIONS.items()}


# --------------------------------------------------------------------------- #
# What the visitor sees
# --------------------------------------------------------------------------- #
GOOD_GREEN = "rgb(11, 107, 46)"  # verify.css --good (light scheme)


def open_details(page) -> None:
    if page.evaluate("() => !document.getElementById('checks-section').open"):
        page.click("#checks-section summary")


def green_things(page) -> list[str]:
    """Visible text drawn in the "good" green, or boxes bordered with it."""
    return page.evaluate("""(green) => [...document.querySelectorAll('main *')].filter((e) => {
        if (!e.getClientRects().length) return false;
        const cs = getComputedStyle(e);
        const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.data.trim());
        return (own && cs.color === green) || cs.borderTopColor === green;
    }).map((e) => e.id || e.className || e.tagName)""", GOOD_GREEN)


def test_verdicts_are_explained_in_chinese_and_english(page, serve_dir, conformance_site):
    base = serve_dir(conformance_site)
    open_page(page, base + "/v/#" + BY_NAME["valid-current-key"]["input"])
    box = page.locator("#verdict")
    assert box.get_attribute("role") == "status" and box.get_attribute("aria-live") == "polite"
    assert box.get_attribute("data-verdict") == "valid"
    text = box.inner_text()
    assert "标志真实" in text and "Genuine mark" in text and "SZZZ-2024-TUVSUD-00001" in text
    # What a consumer compares comes right after the verdict, checks last.
    order = page.evaluate("""() => [...document.querySelectorAll('main > *')]
        .filter((e) => e.getClientRects().length).map((e) => e.id || e.className)""")
    assert order[:4] == ["verdict", "certificate", "advice", "checks-section"], order
    fields = page.locator("#certificate").inner_text()
    assert fields.index("高精度数控机床") < fields.index("证书编号") < fields.index("有效期至")
    assert "2027-04-30" in fields
    link = page.locator("#certificate a.cert-no")
    assert link.inner_text() == "SZZZ-2024-TUVSUD-00001"
    assert link.get_attribute("href") == "../certificates/SZZZ-2024-TUVSUD-00001/"
    assert page.locator("#report").is_hidden()
    assert page.locator("#checks-section").get_attribute("open") is None  # collapsed
    open_details(page)
    assert "签名真实" in page.locator("#fact-signature").inner_text()
    assert "状态最新" in page.locator("#fact-status").inner_text()
    assert "南德认证检测" in page.locator("#more-fields").inner_text()
    assert page.locator("#checks li").count() == 6
    assert green_things(page), "a valid verdict is shown in green"

    verify_via_hash(page, BY_NAME["revoked"]["input"])
    assert "证书已撤销" in box.inner_text() and "revoked" in box.inner_text()
    fields = page.locator("#certificate").inner_text()
    assert "已撤销" in fields and "2025-03-01" in fields and "产品质量抽查不合格" in fields  # status, date, reason
    assert page.locator("#report").is_visible()
    assert page.locator("#report-link").get_attribute("href") == "../report/"
    assert page.locator("a[href='tel:12315']").is_visible()
    open_details(page)
    assert "已撤销" in page.locator("#fact-status").inner_text()
    assert "状态最新" not in page.locator("#checks-section").inner_text()

    for name in ("suspended", "revoked", "withdrawn", "expired-event", "stale-status", "corrupt-signature"):
        verify_via_hash(page, BY_NAME[name]["input"])
        open_details(page)
        assert green_things(page) == [], f"{name}: a green mark on a verdict that is not valid"

    verify_via_hash(page, BY_NAME["stale-status"]["input"])
    assert box.get_attribute("data-verdict") == "status_unknown"
    open_details(page)
    assert "签名真实" in page.locator("#fact-signature").inner_text()
    assert "状态未知" in page.locator("#fact-status").inner_text()
    assert "Status unknown" in page.locator("#checks").inner_text()

    verify_via_hash(page, BY_NAME["corrupt-signature"]["input"])
    assert box.get_attribute("data-verdict") == "bad_signature"
    open_details(page)
    assert "签名不可信" in page.locator("#fact-signature").inner_text()
    assert page.locator("#certificate").is_hidden()
    assert page.locator("#report").is_visible()

    verify_via_hash(page, BY_NAME["valid-printed-before-renewal"]["input"])
    assert box.get_attribute("data-verdict") == "valid"
    assert "换证之前" in box.inner_text() and "renewal" in box.inner_text()
    assert_no_js_errors(page)


def test_empty_fragment_says_so_in_words_not_parser_text(page, serve_dir, conformance_site):
    base = serve_dir(conformance_site)
    open_page(page, base + "/v/#")
    assert verdict_of(page)["verdict"] == "malformed"
    text = page.locator("#verdict").inner_text()
    assert "没有标志内容" in text and "holds no mark data" in text
    assert "payload" not in text and "1..400" not in text
    verify_via_hash(page, "12345")
    text = page.locator("#verdict").inner_text()
    assert "不是完整的认证标志数据" in text and "digits" not in text


def test_status_time_is_beijing_time_and_never_in_the_future(page, serve_dir, conformance_site):
    """The statement is dated the end of its build's day in Suzhou (23:59:59+08:00):
    shown in Beijing time, and as "now" while that moment is still to come."""
    base = serve_dir(conformance_site)
    open_page(page, base + "/v/#" + BY_NAME["valid-current-key"]["input"])
    # The vectors' statement: 2025-06-10T15:59:59Z = 2025-06-10 23:59 in Beijing; today is pinned to 2025-06-15.
    fields = page.locator("#certificate").inner_text()
    assert "2025-06-10 23:59（北京时间 Beijing time）" in fields, fields
    assert "T15:59:59Z" not in fields
    # The same statement seen at noon of that day (the page pinned to 2025-06-10): "as of" is now, not tonight.
    webverifier.install_verifier(conformance_site / "v-noon", assets=VERIFIER_ASSETS, today="2025-06-10",
                                 root_public_key=VECTORS["root_public_key"], max_age_days=VECTORS["max_age_days"])
    open_page(page, base + "/v-noon/#" + BY_NAME["valid-current-key"]["input"])
    assert verdict_of(page)["verdict"] == "valid"
    assert "2025-06-10 12:00（北京时间 Beijing time）" in page.locator("#certificate").inner_text()
    shown = page.evaluate("""async () => {
        const {beijingTime} = await import('./verifier.js');
        const now = Date.parse('2025-06-14T08:00:00Z');
        return [beijingTime('2025-06-14T15:59:59Z', now), beijingTime('2025-06-13T16:00:00Z', now)];
    }""")
    assert shown == ["2025-06-14 16:00", "2025-06-14 00:00"]


def test_browser_without_ed25519_gets_a_verdict_from_the_fallback(page, serve_dir, conformance_site):
    """Older browsers lack WebCrypto Ed25519: the page loads the pure-JS
    fallback and gives the same verdict (every vector: the conformance test)."""
    page.add_init_script(NO_WEBCRYPTO_ED25519)
    requests = record_requests(page)
    base = serve_dir(conformance_site)
    open_page(page, base + "/v/#" + BY_NAME["valid-current-key"]["input"])
    assert verdict_of(page)["verdict"] == "valid"
    assert page.evaluate("() => document.documentElement.dataset.ed25519") == "fallback"
    # One file: the fallback bundled with @noble/ed25519 and @noble/hashes (no chain of module requests).
    assert [u.rsplit("/v/", 1)[1] for u in requests if u.endswith(".js")] == ["ed25519-fallback.js"]
    verify_via_hash(page, BY_NAME["corrupt-signature"]["input"])
    assert verdict_of(page)["verdict"] == "bad_signature"
    assert_no_js_errors(page)


def test_browser_with_no_ed25519_at_all_shows_the_number_unchecked(page, serve_dir, conformance_site):
    """Neither WebCrypto nor the fallback (here: it cannot be loaded): never a
    verdict calling a genuine mark forged; the number, labelled unchecked, and
    the link to its page."""
    page.add_init_script(NO_WEBCRYPTO_ED25519)
    page.route("**/ed25519-fallback.js", lambda route: route.abort())
    base = serve_dir(conformance_site)
    open_page(page, base + "/v/#" + BY_NAME["valid-current-key"]["input"])
    assert verdict_of(page)["verdict"] == "unsupported"
    assert "此浏览器无法验证" in page.locator("#verdict").inner_text()
    card = page.locator("#certificate")
    assert "未经密码学核对" in card.inner_text() and "Not cryptographically checked" in card.inner_text()
    assert card.locator("a.cert-no").get_attribute("href") == "../certificates/SZZZ-2024-TUVSUD-00001/"
    assert "高精度数控机床" not in card.inner_text()  # nothing unsigned is shown as if checked
    assert page.locator("#report").is_hidden()
    assert page.evaluate("() => document.documentElement.dataset.ed25519") == "none"


def test_landing_page_offers_scanning_and_is_keyboard_usable(page, serve_dir, conformance_site):
    base = serve_dir(conformance_site)
    open_page(page, base + "/v/", state="idle")
    assert page.locator("#verdict").get_attribute("data-verdict") == ""
    assert "扫描" in page.locator("#v-title").inner_text()
    # Tab reaches the skip link, then the scan button, by keyboard alone.
    focused = []
    for _ in range(6):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("() => document.activeElement.id || document.activeElement.className"))
    assert "scan-button" in focused and "scan-photo" in focused
    # "Choose a picture" opens the gallery (a saved screenshot, an SVG mark), not the camera;
    # the camera is its own control.
    assert page.locator("#scan-photo").get_attribute("accept") == "image/*,.svg"
    assert page.locator("#scan-photo").get_attribute("capture") is None
    assert page.locator("label[for=scan-photo]").is_visible()
    assert page.locator("#scan-camera").get_attribute("capture") == "environment"
    with page.expect_file_chooser() as chooser:
        page.click("#scan-button")  # no BarcodeDetector here: the camera input
    assert chooser.value.element.get_attribute("id") == "scan-camera"
    assert_no_js_errors(page)


def test_hostile_text_in_signed_records_is_shown_as_text(page, serve_dir, xss_site):
    """Every certificate of the XSS corpus registry (hostile HTML in product,
    enterprise, body, scope, models...): the verdict matches its status, the
    text is shown as text, no element is injected, no script runs."""
    site, certificates = xss_site
    base = serve_dir(site)
    open_page(page, base + "/v/", state="idle")
    shown = ""
    for cert_no, (status, text) in certificates.items():
        got = verify_via_hash(page, text)
        assert got["verdict"] == status, (cert_no, got["text"])
        shown += page.locator("#certificate").inner_text()
        injected = page.evaluate("""() => document.querySelectorAll(
            'main img, main script, main svg, main iframe, main style, main b, main a[href^="javascript"]').length""")
        assert injected == 0, cert_no
    page.wait_for_timeout(300)  # give an injected onerror/onload the chance to run
    assert page.evaluate("() => window.__xss") is None
    for payload_text in ("<script>window.__xss=1</script>", '<img src=x onerror="window.__xss=1">',
                         '"><svg onload=window.__xss=1>'):
        assert payload_text in shown
    assert sum(s in shown for s in XSS_STRINGS) >= len(XSS_STRINGS) - 3
    assert_no_js_errors(page)


def test_status_fetch_timeout_gives_status_unknown(page, xss_site):
    """A site that never answers for the certificate: the page stops waiting
    (AbortController) and says the signature is genuine but the status unknown."""
    site, certificates = xss_site
    _cert_no, (_status, text) = next(iter(certificates.items()))
    release = threading.Event()

    class Slow(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            if "/api/certificates/" in self.path:
                release.wait(10)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Slow, directory=str(site)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        open_page(page, f"http://127.0.0.1:{server.server_address[1]}/v-slow/#" + text)
        assert verdict_of(page)["verdict"] == "status_unknown"
        open_details(page)
        assert "签名真实" in page.locator("#fact-signature").inner_text()
        assert "no answer within 0.5 s" in page.locator("#v-reason").inner_text()
    finally:
        release.set()
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- #
# Scanning a photo of a real mark (headless Chromium has no BarcodeDetector)
# --------------------------------------------------------------------------- #
def _photo_of(png: bytes) -> bytes:
    """The mark as a phone photo: tilted, on a grey table, large JPEG."""
    from PIL import Image, ImageFilter

    mark = Image.open(io.BytesIO(png)).convert("RGB")
    mark = mark.rotate(7, expand=True, fillcolor=(150, 150, 145))
    photo = Image.new("RGB", (mark.width * 3, mark.height * 2), (150, 150, 145))
    photo.paste(mark, (mark.width // 2, mark.height // 3))
    photo = photo.resize((photo.width * 3 // 2, photo.height * 3 // 2)).filter(ImageFilter.GaussianBlur(1.2))
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=80)
    return out.getvalue()


def test_scanning_a_photo_of_a_real_mark_verifies_it(page, serve_dir, conformance_site, tmp_path):
    requests = record_requests(page)
    base = serve_dir(conformance_site)
    open_page(page, base + "/v/", state="idle")
    assert page.evaluate("() => 'BarcodeDetector' in window") is False
    assert not any(u.endswith("/jsQR.js") for u in requests), "jsQR must load only when scanning"

    text = BY_NAME["valid-current-key"]["input"]
    info = render.MarkInfo("SZZZ-2024-TUVSUD-00001", "SZZZ", "valid", text, payload.mark_url(base, text))
    png = render.render_png(info, qr.make_qr(base, text))
    (tmp_path / "mark.png").write_bytes(png)
    page.set_input_files("#scan-photo", str(tmp_path / "mark.png"))
    page.wait_for_function(f"() => {DONE} && document.getElementById('verdict').dataset.verdict !== ''")
    assert verdict_of(page)["verdict"] == "valid"
    assert page.evaluate("() => location.hash.slice(1)") == text
    assert any(u.endswith("/v/jsQR.js") for u in requests)

    revoked = BY_NAME["revoked"]["input"]
    info = render.MarkInfo("SZZZ-2024-CQC-00004", "SZZZ", "revoked", revoked, payload.mark_url(base, revoked))
    (tmp_path / "photo.jpg").write_bytes(_photo_of(render.render_png(info, qr.make_qr(base, revoked))))
    page.set_input_files("#scan-photo", str(tmp_path / "photo.jpg"))
    page.wait_for_function("() => document.getElementById('verdict').dataset.verdict === 'revoked'")

    # The mark's own SVG file (as downloaded from the portal) reads too.
    svg = BY_NAME["valid-other-programme"]["input"]
    info = render.MarkInfo("SZSC-2024-CQC-00013", "SZSC", "valid", svg, payload.mark_url(base, svg))
    (tmp_path / "mark.svg").write_text(render.render_svg(info, qr.make_qr(base, svg)), encoding="utf-8")
    page.set_input_files("#scan-photo", str(tmp_path / "mark.svg"))
    page.wait_for_function("(t) => location.hash.slice(1) === t && "
                           "document.getElementById('verdict').dataset.verdict === 'valid'", arg=svg)

    # A mark URL of another host is verified here (never followed), with a warning.
    other = render.MarkInfo("X", "SZZZ", "valid", text, "https://szzz.example.cn/v/#" + text)
    (tmp_path / "other.png").write_bytes(render.render_png(other, qr.make_qr("https://szzz.example.cn", text)))
    page.set_input_files("#scan-photo", str(tmp_path / "other.png"))
    # The verdict before was valid too: wait for this picture's run (its mark in the fragment).
    page.wait_for_function(f"(t) => location.hash.slice(1) === t && {DONE} && "
                           "document.getElementById('verdict').dataset.verdict === 'valid'", arg=text)
    assert "szzz.example.cn" in page.locator("#scan-status").inner_text()
    assert page.url.startswith(base)
    # A QR code that is not a mark is shown as text and not opened.
    import segno
    segno.make("https://evil.example/login", error="M").save(str(tmp_path / "phish.png"), scale=8)
    page.set_input_files("#scan-photo", str(tmp_path / "phish.png"))
    page.wait_for_function("() => document.getElementById('scan-status').textContent.includes('不是认证标志')")
    assert page.evaluate("() => location.hash.slice(1)") == text and page.url.startswith(base)
    assert foreign_requests(requests) == []
    assert_no_js_errors(page)


# --------------------------------------------------------------------------- #
# The installed page: CSP, pinned settings, install errors
# --------------------------------------------------------------------------- #
def test_csp_forbids_inline_script_in_the_browser(page, serve_dir, conformance_site):
    """Only the page's own inline script and style run (allowed by their
    hashes): a script or handler added to the page does not."""
    base = serve_dir(conformance_site)
    open_page(page, base + "/v/", state="idle")
    page.evaluate("""() => {
        const s = document.createElement('script');
        s.textContent = 'window.__inline = 1';
        document.head.append(s);
        const img = document.createElement('img');
        img.setAttribute('onerror', 'window.__inline = 2');
        img.src = 'data:,x';
        document.body.append(img);
    }""")
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.__inline") is None
    errors = js_errors(page)
    assert errors and all("Content Security Policy" in e or "Refused" in e for e in errors), errors


def test_installed_page_pins_settings_and_allows_only_its_own_inline_code(tmp_path):
    import base64
    import hashlib
    from html.parser import HTMLParser

    root_key = VECTORS["root_public_key"]
    out = webverifier.install_verifier(tmp_path / "v", assets=VERIFIER_ASSETS, root_public_key=root_key, max_age_days=3,
                                       report_url="https://www.example.gov.cn/report")
    page = (out / "index.html").read_text(encoding="utf-8")

    class Scan(HTMLParser):
        metas, scripts, handlers, texts = {}, [], [], {}
        inside = None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "meta":
                self.metas[a.get("name") or a.get("http-equiv")] = a.get("content")
            if tag == "script":
                self.scripts.append(a)
            if tag in ("script", "style"):
                self.inside = tag
                self.texts.setdefault(tag, []).append("")
            self.handlers += [k for k in a if k.startswith("on")]

        def handle_endtag(self, tag):
            self.inside = None

        def handle_data(self, data):
            if self.inside:
                self.texts[self.inside][-1] += data

    scan = Scan()
    scan.feed(page)
    # One inline module (the bundle) and one inline style, each allowed by its
    # SHA-256 (computed here, not by the code under test), nothing else inline.
    assert scan.scripts == [{"type": "module", "async": None}]
    [script], [style] = scan.texts["script"], scan.texts["style"]
    allowed = {t: "'sha256-" + base64.b64encode(hashlib.sha256(t.encode()).digest()).decode() + "'"
               for t in (script, style)}
    assert scan.metas["Content-Security-Policy"] == (
        f"default-src 'self'; script-src 'self' {allowed[script]}; style-src 'self' {allowed[style]}; "
        "img-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'none'")
    assert len(script) > 20_000 and "createVerifier" not in script  # the minified bundle
    assert scan.metas["szzz-root-key"] == root_key
    assert scan.metas["szzz-max-age-days"] == "3"
    assert scan.metas["szzz-api-base"] == "../api/"
    assert scan.metas["szzz-report-url"] == "https://www.example.gov.cn/report"
    assert "szzz-today" not in scan.metas  # the test hook only when asked for
    assert scan.handlers == []
    assert "{{" not in page and "http://" not in page
    sizes = webverifier.page_bytes(out)
    assert set(sizes["lazy"]) == {"scan.js", "jsQR.js"} and sizes["lazy"]["jsQR.js"] > 100_000
    assert sizes["fallback"]["ed25519-fallback.js"] > 10_000  # the npm Ed25519 bundled in
    assert "demo" not in page.split("<main>")[0].split("</header>")[1]  # no banner unless a demo build
    demo = webverifier.install_verifier(tmp_path / "demo", assets=VERIFIER_ASSETS, root_public_key=root_key,
                                        demo=True)
    banner = '<aside class="demo" aria-label="演示数据 Demo data"><p><strong>演示数据</strong>'
    assert banner in (demo / "index.html").read_text(encoding="utf-8")


def test_install_refuses_bad_settings_and_keeps_the_previous_install(tmp_path):
    key = VECTORS["root_public_key"]
    out = webverifier.install_verifier(tmp_path / "v", assets=VERIFIER_ASSETS, root_public_key=key)
    before = (out / "index.html").read_bytes()
    no_jsqr = dataclasses.replace(VERIFIER_ASSETS, jsqr=tmp_path / "missing.js")
    with pytest.raises(ConfigError, match=r"jsQR.*npm ci"):
        webverifier.install_verifier(out, assets=no_jsqr, root_public_key=key)
    no_noble = dataclasses.replace(VERIFIER_ASSETS, noble=tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"Ed25519 fallback.*npm ci"):
        webverifier.install_verifier(out, assets=no_noble, root_public_key=key)
    with pytest.raises(ConfigError, match="relative URL"):
        webverifier.install_verifier(out, assets=VERIFIER_ASSETS, root_public_key=key, api_base="https://evil.example/api/")
    with pytest.raises(ConfigError, match="relative URL"):
        webverifier.install_verifier(out, assets=VERIFIER_ASSETS, root_public_key=key, report_url="javascript:alert(1)")
    with pytest.raises(SignatureError, match="32 bytes"):
        webverifier.install_verifier(out, assets=VERIFIER_ASSETS, root_public_key="AAAA")
    with pytest.raises(ConfigError, match="today"):
        webverifier.install_verifier(out, assets=VERIFIER_ASSETS, root_public_key=key, today="15/06/2025")
    assert (out / "index.html").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v"]  # no staging debris


# --------------------------------------------------------------------------- #
# Every verdict at 390x844: screenshots, and no text cut or split mid-word
# --------------------------------------------------------------------------- #
ARTEFACTS = Path(__file__).resolve().parents[1] / "artefacts" / "verify-page"

#: Text that overflows its box where it is clipped, a page wider than the
#: phone, and Latin words or numbers broken across lines (Chinese may break
#: between any two characters; hyphens and slashes are break points).
LAYOUT_PROBLEMS = """() => {
    const problems = [];
    if (document.documentElement.scrollWidth > window.innerWidth) {
        problems.push(`page is ${document.documentElement.scrollWidth}px wide, the screen ${window.innerWidth}px`);
    }
    for (const e of document.querySelectorAll('body *')) {
        if (!e.getClientRects().length) continue;
        const cs = getComputedStyle(e);
        if (cs.overflowX !== 'visible' && e.scrollWidth > e.clientWidth + 1 && e.tagName !== 'INPUT') {
            problems.push(`cut: ${e.id || e.className || e.tagName} (${e.scrollWidth} > ${e.clientWidth})`);
        }
    }
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const parent = n.parentElement;
        if (!parent || !parent.getClientRects().length || parent.closest('script, style, noscript')) continue;
        for (const m of n.data.matchAll(/[A-Za-z0-9_.,:'()]{2,}/g)) {
            const r = document.createRange();
            r.setStart(n, m.index);
            r.setEnd(n, m.index + m[0].length);
            const lines = new Set([...r.getClientRects()].filter((x) => x.width > 0).map((x) => Math.round(x.bottom)));
            if (lines.size > 1) problems.push(`split mid-word: ${m[0]}`);
        }
    }
    return problems;
}"""


def test_every_verdict_fits_a_phone_screen(page, serve_dir, conformance_site):
    """One screenshot per verdict (and the landing page, an empty link, and a
    browser without Ed25519) at 390x844 under tests/artefacts/verify-page/;
    with the details open as well as closed, nothing is cut and no word or
    number is split across lines."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    base = serve_dir(conformance_site)
    first = {}
    for vector in VECTORS["vectors"]:
        first.setdefault(vector["expected_verdict"], vector)
    shots = {"landing": base + "/v/", "empty-link": base + "/v/#"}
    shots.update({f"{verdict}-{v['name']}": base + "/v/#" + v["input"]
                  for verdict, v in first.items() if not v["input"].startswith("http")})
    problems = []
    for name, url in shots.items():
        page.goto("about:blank")
        page.goto(url)
        page.wait_for_function("() => ['done', 'idle'].includes(document.documentElement.dataset.state)")
        assert page.viewport_size == {"width": 390, "height": 844}
        page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)
        problems += [f"{name}: {p}" for p in page.evaluate(LAYOUT_PROBLEMS)]
        if page.locator("#checks-section").is_visible():
            open_details(page)
            page.screenshot(path=str(ARTEFACTS / f"{name}-details.png"), full_page=True)
            problems += [f"{name} (details): {p}" for p in page.evaluate(LAYOUT_PROBLEMS)]
    # A browser with no Ed25519 at all.
    unsupported = page.context.new_page()
    unsupported.add_init_script(NO_WEBCRYPTO_ED25519)
    unsupported.route("**/ed25519-fallback.js", lambda route: route.abort())
    unsupported.goto(base + "/v/#" + BY_NAME["valid-current-key"]["input"])
    unsupported.wait_for_function(f"() => {DONE}")
    unsupported.screenshot(path=str(ARTEFACTS / "unsupported.png"), full_page=True)
    problems += [f"unsupported: {p}" for p in unsupported.evaluate(LAYOUT_PROBLEMS)]
    print(f"screenshots: {ARTEFACTS}")
    assert len(first) == 11  # every verdict of docs/verification.md
    assert not problems, "\n".join(problems)


def test_the_page_is_one_response_with_its_bundle_built_from_the_modules_and_the_rules(
        page, serve_dir, conformance_site, tmp_path):
    """install_verifier bundles the page's modules and the generated constants
    into one minified module (esbuild) and writes it, with the minified
    style, into the page: a valid verdict loads the page and its icon from
    v/, and nothing else of the page's own; the lazily loaded files stay out."""
    requests = record_requests(page)
    base = serve_dir(conformance_site)
    open_page(page, base + "/v/#" + BY_NAME["valid-current-key"]["input"])
    assert verdict_of(page)["verdict"] == "valid"
    own = sorted(u.split("/v/", 1)[1].split("#")[0] for u in requests if "/v/" in u)
    assert own == ["", "icon.svg"]
    html_text = (conformance_site / "v" / "index.html").read_text(encoding="utf-8")
    bundle = html_text.split('<script type="module" async>', 1)[1].split("</script>", 1)[0]
    # Minified (no comments, far smaller than its sources), static imports all
    # resolved, the lazy files imported only dynamically, the rules' own tables inside.
    sources = sum(p.stat().st_size for p in VERIFIER_ASSETS.source_dir.glob("*.js"))
    assert "/**" not in bundle and len(bundle) < 0.6 * sources
    assert not re.search(r"^import |\bimport\s*\{|from\s*\"\./", bundle, re.M)
    assert set(re.findall(r"import\(\"([^\"]+)\"\)", bundle)) == {"./ed25519-fallback.js", "./scan.js"}
    assert json.dumps(lifecycle.STATUS_NAMES["revoked"][0], ensure_ascii=False) in bundle
    assert json.dumps(rules.MEANING["valid"][0], ensure_ascii=False) not in bundle  # not used by the page
    # No esbuild, no install (the previous one stays).
    out = webverifier.install_verifier(tmp_path / "v", assets=VERIFIER_ASSETS,
                                       root_public_key=VECTORS["root_public_key"])
    before = (out / "index.html").read_bytes()
    with pytest.raises(ConfigError, match=r"esbuild is missing; run `npm ci`"):
        webverifier.install_verifier(out, assets=dataclasses.replace(VERIFIER_ASSETS, esbuild=tmp_path / "none"),
                                     root_public_key=VECTORS["root_public_key"])
    assert (out / "index.html").read_bytes() == before


def test_code_that_would_end_its_inline_element_is_refused():
    """The bundle and the style are written inline: a "</script" in the code
    would end the element and expose the rest as HTML. (esbuild writes
    "<\\/script" in strings; the page refuses whatever else gets through.)"""
    template = (VERIFIER_ASSETS.source_dir / "index.html").read_text(encoding="utf-8")
    settings = {"root_public_key": VECTORS["root_public_key"], "api_base": "../api/", "max_age_days": 7,
                "timeout_ms": 8000, "site_name": "x", "report_url": "../report/"}
    page = webverifier.render_page(template, script="let a = 1;", style="p{color:red}", **settings)
    assert "<script type=\"module\" async>let a = 1;</script>" in page
    for script, style, refused in (('x = "</SCRIPT><script>alert(1)";', "", "verify.js: observed '</SCRIPT'"),
                                   ("x = 1 <!-- 2;", "", "verify.js: observed '<!--'"),
                                   ("", "p{}</style><script>alert(1)</script>", "verify.css: observed '</style'")):
        with pytest.raises(ConfigError, match=re.escape(refused) + r" at character \d+, expected none"):
            webverifier.render_page(template, script=script, style=style, **settings)
    # Text in the code that looks like a placeholder stays as it is.
    assert "{{site_name}}" in webverifier.render_page(template, script='x = "{{site_name}}";', style="", **settings)


def test_a_module_that_does_not_build_is_refused_naming_it(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(VERIFIER_ASSETS.source_dir, source)
    (source / "rules.js").write_text("export const = ;\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^verify\.js: esbuild failed \(exit 1\): "
                                          r"rules\.js:1:13: Expected identifier but found \"=\"$"):
        webverifier.install_verifier(tmp_path / "v", assets=dataclasses.replace(VERIFIER_ASSETS, source_dir=source),
                                     root_public_key=VECTORS["root_public_key"])
    assert not (tmp_path / "v").exists()


def test_log_tiles_are_fetched_while_the_signatures_are_checked(page, serve_dir, log_site):
    """The proof's tiles are requested as soon as the checkpoint and the
    certificate file are here, before the trust list is even answered (held
    back here until a tile is requested): no round trip waits on the
    verification. The verdict is still given only after every check."""
    base = serve_dir(log_site)
    held, seen = [], []

    def hold_trust_list(route):
        held.append(route)
        if seen:
            route.continue_()

    def on_request(request):
        if "/log/tile/" in request.url and not seen:
            seen.append(request.url)
            for route in held:
                route.continue_()

    page.on("request", on_request)
    page.route("**/api/trust-list.json", hold_trust_list)
    page.goto(base + "/v/#" + LOG_SITE["vectors"][0]["input"])
    page.wait_for_function(f"() => {DONE}", timeout=15000)
    assert seen, "no tile was requested before the trust list was answered"
    assert verdict_of(page)["verdict"] == "valid"
    assert page.evaluate("() => document.documentElement.dataset.state") == "done"


AXE = VERIFIER_ASSETS.noble.parent / "axe-core" / "axe.min.js"
AXE_RUN = """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
    .map((v) => `${v.id}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ') + ' ' + n.failureSummary).join('; ')}`)"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violation_in_any_verdict(new_page, serve_dir, tmp_path, scheme):
    """axe-core (npm) on the page of a demo build (banner shown) at 390x844:
    the landing page, every verdict with its details open, and a browser
    without Ed25519; in the light and the dark colour scheme."""
    root = build_site(tmp_path, VECTORS["files"], root_public_key=VECTORS["root_public_key"],
                      today=VECTORS["today"], max_age_days=VECTORS["max_age_days"], demo=True)
    base = serve_dir(root)
    page = new_page(viewport={"width": 390, "height": 844}, color_scheme=scheme)
    page.add_init_script(path=str(AXE))
    first = {}
    for vector in VECTORS["vectors"]:
        first.setdefault(vector["expected_verdict"], vector)
    found = {}
    for name, fragment in [("landing", None), *((v, first[v]["input"]) for v in sorted(first))]:
        page.goto("about:blank")
        if fragment is None:
            open_page(page, base + "/v/", state="idle")
        else:
            open_page(page, base + "/v/#" + fragment)
            open_details(page)
        assert page.evaluate("typeof axe") == "object", "axe-core was not injected"
        found[name] = page.evaluate(AXE_RUN)
    unsupported = new_page(viewport={"width": 390, "height": 844}, color_scheme=scheme)
    unsupported.add_init_script(path=str(AXE))
    unsupported.add_init_script(NO_WEBCRYPTO_ED25519)
    unsupported.route("**/ed25519-fallback.js", lambda route: route.abort())
    open_page(unsupported, base + "/v/#" + BY_NAME["valid-current-key"]["input"])
    found["unsupported"] = unsupported.evaluate(AXE_RUN)
    assert len(found) == 13
    assert {k: v for k, v in found.items() if v} == {}
