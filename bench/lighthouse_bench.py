#!/usr/bin/env python3
"""Lighthouse (mobile) on the portal's pages: home, a certificate, search, verify (issue 14).

Builds the portal of a demo registry with ``publish.build`` (the whole
output: Pelican pages, ``v/``, ``api/``, marks ...), serves it from
127.0.0.1 the way a web server does (gzip for text, ``Cache-Control``), and
runs Lighthouse 12 (``node_modules/.bin/lighthouse``, npm) on four pages in
its default mobile profile (Moto G Power screen, simulated slow 4G and 4x
CPU slowdown). Lighthouse attaches through ``--remote-debugging-port`` to a
Debian Chromium that Playwright launched (Lighthouse's own launcher would
look for a Chrome of its own).

Prints, per page, the median of ``--runs`` runs of each category score
(Performance, Accessibility, Best Practices, SEO; 0-100) and of the metrics
behind Performance (FCP, LCP, TBT, CLS, Speed Index), and every audit that
lost points in any run. Goals (issue 14): Performance >= 95, Accessibility
100, Best Practices 100, SEO >= 95 (the verify page says ``noindex`` on
purpose: its SEO is printed, not a goal). Figures, never assertions.

Usage: .venv/bin/python bench/lighthouse_bench.py [--certificates 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import io
import json
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import builders

import publish

CHROMIUM = "/usr/bin/chromium"
LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
METRICS = {"first-contentful-paint": "FCP", "largest-contentful-paint": "LCP",
           "total-blocking-time": "TBT", "cumulative-layout-shift": "CLS", "speed-index": "SI"}
GOALS = {"performance": 95, "accessibility": 100, "best-practices": 100, "seo": 95}
TEXT_TYPES = (".html", ".js", ".mjs", ".css", ".json", ".svg", ".xml", ".txt")


class Handler(http.server.SimpleHTTPRequestHandler):
    """A static server as a host would run it: gzip for text, a cache policy."""

    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
        ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
        ".json": "application/json", ".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8",
        ".xml": "application/xml", ".ico": "image/x-icon"}

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if path.is_file() and path.suffix in TEXT_TYPES and "gzip" in self.headers.get("Accept-Encoding", ""):
            if not self.path.split("?", 1)[0].endswith("/") and (Path(self.translate_path(self.path))).is_dir():
                return super().send_head()   # the redirect to the directory URL
            body = gzip.compress(path.read_bytes(), 6)
            self.send_response(200)
            self.send_header("Content-Type", self.guess_type(str(path)))
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return io.BytesIO(body)
        return super().send_head()

    def end_headers(self):
        # Pages revalidate; theme files and marks may be cached for a day.
        static = any(part in self.path for part in ("/theme/", "/marks/", "/images/", "favicon"))
        self.send_header("Cache-Control", "public, max-age=86400" if static else "no-cache")
        super().end_headers()

    def log_message(self, *args):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(root: Path, port: int) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Handler, directory=str(root)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def lighthouse(url: str, debug_port: int, out: Path) -> dict:
    """One Lighthouse run (mobile, the default profile) on ``url``: its report (LHR)."""
    cmd = [str(LIGHTHOUSE), url, f"--port={debug_port}", "--hostname=127.0.0.1", "--output=json",
           f"--output-path={out}", f"--only-categories={','.join(CATEGORIES)}", "--form-factor=mobile",
           "--disable-full-page-screenshot", "--quiet"]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    return json.loads(out.read_text(encoding="utf-8"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--certificates", type=int, default=200, help="size of the demo registry")
    ap.add_argument("--runs", type=int, default=3, help="Lighthouse runs per page (the median is printed)")
    args = ap.parse_args()
    if not LIGHTHOUSE.exists():
        sys.exit(f"{LIGHTHOUSE} missing: run `make system-deps` (npm ci)")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="lh-bench-") as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        base = f"http://127.0.0.1:{port}/"
        out = tmp / "output"
        server = serve(out / "site", port)   # the path is resolved per request: the build's link
        try:
            started = time.perf_counter()
            built = builders.build_registry(tmp / "registry", demo=args.certificates)
            publish.build(built.db, out, keys_dir=built.keys, passphrase=built.passphrase, site_url=base)
            print(f"demo registry of {args.certificates} certificates built and published in "
                  f"{time.perf_counter() - started:.0f} s; served at {base}")
            conn = sqlite3.connect(out / "data" / "registry.db")
            cert_no, payload = conn.execute("select cert_no, mark_payload from certificates "
                                            "where status = 'valid' order by cert_no limit 1").fetchone()
            conn.close()
            pages = {"home": base, "certificate": f"{base}certificates/{cert_no}/",
                     "search": f"{base}search/?q={cert_no}", "verify": f"{base}v/#{payload}"}
            debug_port = free_port()
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--remote-debugging-port={debug_port}", "--remote-debugging-address=127.0.0.1"])
                browser.new_page().goto(base)   # a tab, so the browser stays up between runs
                results = {}
                for name, url in pages.items():
                    results[name] = [lighthouse(url, debug_port, tmp / f"{name}-{i}.json")
                                     for i in range(args.runs)]
                browser.close()
        finally:
            server.shutdown()
            server.server_close()

    print(f"\nLighthouse {results['home'][0]['lighthouseVersion']}, mobile profile "
          f"({results['home'][0]['configSettings']['formFactor']}, "
          f"{results['home'][0]['configSettings']['throttlingMethod']} throttling), "
          f"median of {args.runs} run(s); goals: " + ", ".join(f"{k} {'≥' if v < 100 else ''}{v}"
                                                              for k, v in GOALS.items()))
    head = f"{'page':<12}" + "".join(f"{c:>16}" for c in CATEGORIES) + "".join(f"{m:>8}" for m in METRICS.values())
    print(head)
    for name, runs in results.items():
        scores = [statistics.median(round(r["categories"][c]["score"] * 100) for r in runs) for c in CATEGORIES]
        metrics = []
        for audit in METRICS:
            value = statistics.median(r["audits"][audit]["numericValue"] for r in runs)
            metrics.append(f"{value:.3f}" if audit == "cumulative-layout-shift" else f"{value / 1000:.2f}s")
        print(f"{name:<12}" + "".join(f"{s:>16g}" for s in scores) + "".join(f"{m:>8}" for m in metrics))
    print("\naudits that lost points (page: audit, score, in how many runs):")
    for name, runs in results.items():
        lost = {}
        for r in runs:
            for category in CATEGORIES:
                for ref in r["categories"][category]["auditRefs"]:
                    audit = r["audits"][ref["id"]]
                    if ref["weight"] and audit["score"] is not None and audit["score"] < 1:
                        key = (category, ref["id"], audit.get("displayValue") or "")
                        lost[key] = lost.get(key, 0) + 1
        for (category, audit, shown), n in sorted(lost.items()):
            print(f"  {name}: [{category}] {audit} {shown} ({n}/{len(runs)})")


if __name__ == "__main__":
    main()
