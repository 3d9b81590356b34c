#!/usr/bin/env python3
"""Lighthouse (npm, node_modules/lighthouse), mobile, on the verify page.

The site of bench/verify_page_bench.py (the vectors' log site, served by
nginx on 127.0.0.1 as that bench serves it); Playwright launches Debian's
Chromium with a remote debugging port and Lighthouse attaches to it (its default mobile profile:
simulated throttling). Prints the category scores and the metrics for a
valid verdict and for the landing page. Goals (issue 14): Performance >= 95,
Accessibility 100, Best Practices 100 (the page keeps noindex, so SEO is
printed but not a goal).

Usage: .venv/bin/python bench/verify_page_lighthouse.py [--out DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import verify_page_bench as bench

RUN_LIGHTHOUSE = """
import lighthouse from %s;
import fs from 'node:fs';
const [url, port, out] = process.argv.slice(1);
const flags = { port: Number(port), hostname: '127.0.0.1', output: 'json', logLevel: 'error',
  onlyCategories: ['performance', 'accessibility', 'best-practices', 'seo'], formFactor: 'mobile' };
const result = await lighthouse(url, flags);
fs.writeFileSync(out, result.report);
"""
METRICS = ("first-contentful-paint", "largest-contentful-paint", "total-blocking-time", "cumulative-layout-shift",
           "speed-index")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="keep the JSON reports here")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    script = RUN_LIGHTHOUSE % json.dumps(str(ROOT / "node_modules" / "lighthouse" / "core" / "index.js"))
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as nginx_prefix:
        Path(tmp).chmod(0o755)  # nginx's workers (nobody, when run as root) walk into site/
        root, marks, _ = bench.build(Path(tmp) / "site")
        server, base = bench.serve(root, Path(nginx_prefix) / "nginx")
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        from helpers import CHROMIUM_ARGS
        with contextlib.ExitStack() as cleanup, sync_playwright() as pw:
            cleanup.callback(server.stop)
            browser = pw.chromium.launch(executable_path=bench.CHROMIUM, args=[
                *CHROMIUM_ARGS, f"--remote-debugging-port={port}", "--remote-debugging-address=127.0.0.1"])
            browser.new_page()
            for name, url in (("valid verdict", f"{base}/v/#{marks[bench.VALID]['input']}"),
                              ("landing page", f"{base}/v/")):
                out = (args.out or Path(tmp)) / f"lighthouse-{name.split()[0]}.json"
                out.parent.mkdir(parents=True, exist_ok=True)
                subprocess.run(["node", "--input-type=module", "-e", script, url, str(port), str(out)],
                               check=True, cwd=ROOT)
                report = json.loads(out.read_text(encoding="utf-8"))
                scores = {k: round(v["score"] * 100) for k, v in report["categories"].items()}
                metrics = {m: report["audits"][m]["displayValue"] for m in METRICS}
                failing = [a for a, v in report["audits"].items()
                           if v.get("score") is not None and v["score"] < 1 and v.get("scoreDisplayMode") == "binary"]
                print(f"{name}: {scores}; {metrics}; failing binary audits: {failing}")
            browser.close()


if __name__ == "__main__":
    main()
