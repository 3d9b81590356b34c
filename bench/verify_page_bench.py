#!/usr/bin/env python3
"""Benchmark of the browser verification page (site/verify/, issue 3 §6).

Prints, for a valid mark served from 127.0.0.1 (the conformance vectors'
published files + the installed verifier, real Chromium):

* bytes transferred for one verification (page, style, modules, trust list,
  certificate file), as served by a plain static server (``python -m
  http.server``: no compression) and by one that gzips text (what a real web
  server does), and the lazily loaded scanner (scan.js + jsQR) on top;
* time from navigation start to the verdict (``performance.mark`` set when
  ``data-state="done"``), cold (new browser context each time) and warm
  (same context, the hash changes), median and p90;
* a baseline measured in the same run: navigation to ``load`` of a trivial
  page with one same-origin script on the same server, and the raw cost of
  one WebCrypto Ed25519 verify in the same browser; the verdict time is
  printed as a ratio to the trivial page.

Usage: .venv/bin/python bench/verify_page_bench.py [--runs 20]
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import io
import json
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from registry.publish import webverifier

CHROMIUM = "/usr/bin/chromium"
VECTORS = ROOT / "docs" / "vectors" / "mark-conformance.json"
VALID = "valid-current-key"
TEXT_TYPES = (".html", ".js", ".css", ".json")


class Handler(http.server.SimpleHTTPRequestHandler):
    """A static server; with ``gzip=True`` it compresses text like a real one."""

    gzip = False
    extensions_map: ClassVar[dict[str, str]] = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".json": "application/json"}

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if self.gzip and path.is_file() and path.suffix in TEXT_TYPES \
                and "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(path.read_bytes(), 6)
            self.send_response(200)
            self.send_header("Content-Type", self.guess_type(str(path)))
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            return io.BytesIO(body)
        return super().send_head()

    def log_message(self, *args):
        pass


def serve(root: Path, compress: bool):
    handler = type("H", (Handler,), {"gzip": compress})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def build(tmp: Path) -> tuple[Path, dict]:
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    for name, text in vectors["files"].items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text, encoding="utf-8", newline="")
    webverifier.install_verifier(tmp / "v", assets=webverifier.VerifierAssets.in_checkout(ROOT),
                                 root_public_key=vectors["root_public_key"], today=vectors["today"],
                                 max_age_days=vectors["max_age_days"])
    (tmp / "baseline").mkdir()
    (tmp / "baseline" / "index.html").write_text(
        '<!doctype html><meta charset="utf-8"><title>baseline</title><script src="b.js"></script><p>ok',
        encoding="utf-8")
    (tmp / "baseline" / "b.js").write_text(
        "document.documentElement.dataset.state = 'done'; performance.mark('baseline-done');\n")
    return tmp, {v["name"]: v for v in vectors["vectors"]}


def transferred(page, url: str, done: str) -> dict:
    """Bytes (headers + body as sent) of every response while ``url`` verifies."""
    responses = []
    page.on("requestfinished", lambda event: responses.append(event))  # noqa: PLW0108 - Playwright needs a plain callable
    page.goto(url)
    page.wait_for_function(done)
    page.wait_for_timeout(100)
    sizes = {}
    for request in responses:
        s = request.sizes()
        name = request.url.split("/", 3)[3].split("#")[0]
        sizes[name] = s["responseHeadersSize"] + s["responseBodySize"]
    return sizes


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    from helpers import CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    done = "() => document.documentElement.dataset.state === 'done'"
    with tempfile.TemporaryDirectory() as tmp:
        root, vectors = build(Path(tmp))
        mark = vectors[VALID]["input"]
        plain, plain_url = serve(root, compress=False)
        gz, gz_url = serve(root, compress=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)

            print(f"verification page, valid mark ({VALID}), 127.0.0.1, Chromium {browser.version}")
            for label, base in (("plain static server (no compression)", plain_url), ("gzip static server", gz_url)):
                context = browser.new_context()
                page = context.new_page()
                sizes = transferred(page, f"{base}/v/#{mark}", done)
                lazy = {}
                for name in ("v/scan.js", "v/jsQR.js"):
                    r = page.request.get(f"{base}/{name}", headers={"Accept-Encoding": "gzip"})
                    lazy[name] = len(r.body()) if base == plain_url else len(gzip.compress(r.body(), 6))
                page_files = sum(v for k, v in sizes.items() if k.startswith("v/"))
                api_files = sum(v for k, v in sizes.items() if k.startswith("api/"))
                print(f"  bytes transferred, {label}: page {page_files:,} + api {api_files:,} "
                      f"= {page_files + api_files:,} B ({len(sizes)} responses); "
                      f"scanner on demand: +{sum(lazy.values()):,} B")
                context.close()

            # Baseline in the same run: a trivial page with one script; raw WebCrypto verify.
            def cold(url, mark_name):
                times = []
                for _ in range(args.runs + 1):
                    context = browser.new_context()
                    page = context.new_page()
                    page.goto(url)
                    page.wait_for_function(done)
                    times.append(page.evaluate(
                        f"() => performance.getEntriesByName('{mark_name}')[0].startTime"))
                    context.close()
                return times[1:]  # the first run warms the browser process

            base_times = cold(f"{gz_url}/baseline/", "baseline-done")
            verdict_times = cold(f"{gz_url}/v/#{mark}", "szzz-verdict")
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{gz_url}/v/")
            page.wait_for_function("() => document.documentElement.dataset.state === 'idle'")
            warm = []
            others = [vectors[n]["input"] for n in ("valid-other-programme", VALID)]
            for i in range(args.runs):
                warm.append(page.evaluate("""async (h) => {
                    const before = Number(document.documentElement.dataset.run);
                    const t0 = performance.now();
                    location.hash = h;
                    while (!(Number(document.documentElement.dataset.run) > before
                             && document.documentElement.dataset.state === 'done')) {
                        await new Promise((r) => setTimeout(r, 1));
                    }
                    return performance.now() - t0;
                }""", others[i % 2]))
            ed = page.evaluate("""async () => {
                const kp = await crypto.subtle.generateKey({name: 'Ed25519'}, false, ['sign', 'verify']);
                const msg = new Uint8Array(94);
                const sig = await crypto.subtle.sign({name: 'Ed25519'}, kp.privateKey, msg);
                const n = 500; const t0 = performance.now();
                for (let i = 0; i < n; i++) await crypto.subtle.verify({name: 'Ed25519'}, kp.publicKey, sig, msg);
                return (performance.now() - t0) / n;
            }""")
            context.close()
            browser.close()
        plain.shutdown()
        gz.shutdown()

    med_b, med_v = statistics.median(base_times), statistics.median(verdict_times)
    print(f"  baseline, trivial page with one script, navigation -> done: median {med_b:.1f} ms, "
          f"p90 {percentile(base_times, 0.9):.1f} ms ({args.runs} cold loads)")
    print(f"  verification, navigation -> verdict (cold context): median {med_v:.1f} ms, "
          f"p90 {percentile(verdict_times, 0.9):.1f} ms ({args.runs} runs); "
          f"ratio to baseline {med_v / med_b:.1f}x")
    print(f"  verification, hashchange -> verdict (warm page): median {statistics.median(warm):.1f} ms, "
          f"p90 {percentile(warm, 0.9):.1f} ms")
    print(f"  raw WebCrypto Ed25519 verify in the same browser: {ed * 1000:.0f} µs "
          f"(a valid verdict needs 5 verifies: trust list, mark, revision, event, status statement)")


if __name__ == "__main__":
    main()
