#!/usr/bin/env python3
"""Benchmark of the browser verification page (site/verify/, issues 3 and 14).

The site: the conformance vectors' ``log_site`` (docs/vectors/mark-conformance.json:
the published files of a registry with a transparency log and a timestamp key),
the verifier installed as the portal installs it (log origin pinned), today
pinned to the vectors' day. A valid mark (``log-fresh-statement``), real
Chromium, 127.0.0.1. Prints:

* bytes for one valid verdict as served by Debian's nginx with the
  configuration ``publish.py nginx`` writes (gzip level 6, the header table,
  keep-alive; Brotli off, so the figures are the budget's gzip): the gzipped
  bodies per file, how many responses, and the response headers apart; the
  Ed25519 fallback (loaded only where WebCrypto lacks Ed25519) and the
  scanner are listed apart, on demand;
* cold loopback: navigation start to the verdict (``performance.mark``
  "szzz-verdict"), a new browser context each run, median and p90; the
  baseline in the same run is a trivial page with one same-origin script
  (navigation to its mark), and the ratio of the two medians;
* the same cold verdict on a throttled phone profile (Chrome DevTools
  Protocol: 150 ms round trip, 1.6 Mbps down, 750 kbps up, CPU slowed 4x),
  with WebCrypto's Ed25519 and with the fallback;
* what a privacy bucket of 64 certificate files would weigh (the vectors'
  own files, gzipped together): docs/verify-page.md "Privacy".

The timed loads take turns (trivial page, page, trivial page, page, ...), so
that a machine whose load changes during the run weighs on both alike.
``--before CHECKOUT`` also installs the page of another checkout (e.g. main's
worktree, by its own code and node_modules, in a subprocess) beside this one,
on the same site and server, and times it in the same turns: before and
after in one run, against one baseline.

Usage: .venv/bin/python bench/verify_page_bench.py [--runs 20] [--throttled-runs 7] [--before DIR]
Goals (issue 14): cold median <= 150 ms or <= 2x the trivial page; throttled
<= 1.2 s; <= 30 KB gzipped for a valid verdict, fallback excluded.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from helpers import CHROMIUM_ARGS, Nginx, free_port  # tests/helpers.py

from registry.publish import headers, webverifier

CHROMIUM = "/usr/bin/chromium"
VECTORS = ROOT / "docs" / "vectors" / "mark-conformance.json"
VALID = "log-fresh-statement"
PHONE = {"latency": 150, "downloadThroughput": 1_600_000 / 8, "uploadThroughput": 750_000 / 8}
CPU_SLOWDOWN = 4


def serve(root: Path, prefix: Path):
    """nginx serving ``root`` as the portal is served: ``publish.py nginx``'s
    configuration (the header table, gzip at level 6, content-hash ETags,
    keep-alive), without Brotli, so that the bytes are the budget's gzip."""
    port = free_port()
    prefix.mkdir()
    root.chmod(0o755)  # nginx's workers run as nobody when the bench runs as root
    etags = prefix / "etags.map"
    etags.write_text(headers.etag_map(root), encoding="utf-8")
    (prefix / "szzz.conf").write_text(headers.nginx_config(
        root=root, listen=f"127.0.0.1:{port}", datasette=[], etag_map_file=etags, brotli=False), encoding="utf-8")
    server = Nginx(prefix, prefix / "szzz.conf")
    base = f"http://127.0.0.1:{port}"
    server.start(base + "/baseline/")
    return server, base


def build(tmp: Path) -> tuple[Path, dict, dict]:
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    site = vectors["log_site"]
    for name, text in site["files"].items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text, encoding="utf-8", newline="")
    for name, b64 in site["binary_files"].items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_bytes(base64.b64decode(b64))
    webverifier.install_verifier(tmp / "v", assets=webverifier.VerifierAssets.in_checkout(ROOT),
                                 root_public_key=vectors["root_public_key"], today=vectors["today"],
                                 max_age_days=vectors["max_age_days"], log_origin=site["origin"])
    (tmp / "baseline").mkdir()
    (tmp / "baseline" / "index.html").write_text(
        '<!doctype html><meta charset="utf-8"><title>baseline</title><script src="b.js"></script><p>ok',
        encoding="utf-8")
    (tmp / "baseline" / "b.js").write_text(
        "document.documentElement.dataset.state = 'done'; performance.mark('baseline-done');\n")
    return tmp, {v["name"]: v for v in site["vectors"]}, vectors


INSTALL_BEFORE = """
import json, sys
from registry.publish import webverifier
out, root, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
webverifier.install_verifier(out, assets=webverifier.VerifierAssets.in_checkout(root), **options)
"""


def build_before(site: Path, checkout: Path, vectors: dict) -> None:
    """``site/v-before/``: the page as ``checkout``'s own code installs it (same settings)."""
    options = {"root_public_key": vectors["root_public_key"], "today": vectors["today"],
               "max_age_days": vectors["max_age_days"], "log_origin": vectors["log_site"]["origin"]}
    subprocess.run([sys.executable, "-c", INSTALL_BEFORE, str(site / "v-before"), str(checkout), json.dumps(options)],
                   check=True, cwd=checkout, env={**os.environ, "PYTHONPATH": str(checkout)})


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


DONE = "() => document.documentElement.dataset.state === 'done'"


def one_load(browser, url, mark_name, *, throttle=False, fallback=False, sizes=None):
    """Navigation start -> ``mark_name`` in a fresh context (ms); records response sizes in ``sizes``."""
    context = browser.new_context()
    page = context.new_page()
    if fallback:
        from verify_site import NO_WEBCRYPTO_ED25519  # tests/verify_site.py: WebCrypto refusing Ed25519

        page.add_init_script(NO_WEBCRYPTO_ED25519)
    if throttle:
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {"offline": False, **PHONE})
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
    finished = []
    page.on("requestfinished", lambda request: finished.append(request))  # noqa: PLW0108 - Playwright needs a plain callable
    # Hands off the page until it is done: Playwright's waiting functions
    # inject and run scripts in it (~20 ms of the main thread, traced), which
    # would land inside the verification and not inside the trivial page's.
    page.goto(url, wait_until="commit")
    page.wait_for_timeout(3000 if throttle else 700)
    while not page.evaluate(DONE):
        page.wait_for_timeout(100)
    took = page.evaluate(f"() => performance.getEntriesByName('{mark_name}')[0].startTime")
    if sizes is not None:
        page.wait_for_timeout(100)
        for request in finished:
            s = request.sizes()
            sizes[request.url.split("/", 3)[3].split("#")[0]] = (s["responseBodySize"], s["responseHeadersSize"])
    context.close()
    return took


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--throttled-runs", type=int, default=7)
    parser.add_argument("--before", type=Path, help="another checkout whose page is timed in the same turns")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as nginx_prefix:
        root, marks, vectors = build(Path(tmp))
        pages = {"page": "v"}
        if args.before:
            build_before(root, args.before.resolve(), vectors)
            pages = {"before": "v-before", "after": "v"}
        mark = marks[VALID]["input"]
        server, base = serve(root, Path(nginx_prefix) / "nginx")
        urls = {name: f"{base}/{d}/#{mark}" for name, d in pages.items()}
        with contextlib.ExitStack() as cleanup, sync_playwright() as pw:
            cleanup.callback(server.stop)
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            print(f"verification page, valid mark ({VALID}), 127.0.0.1, Chromium {browser.version}, "
                  "nginx (publish.py nginx's configuration, gzip level 6)"
                  + (f"; before = {args.before}" if args.before else ""))
            for name, d in pages.items():
                url = urls[name]
                sizes: dict[str, tuple[int, int]] = {}
                one_load(browser, url, "szzz-verdict", sizes=sizes)
                page_files = {k: v[0] for k, v in sizes.items() if k.startswith(f"{d}/")}
                data_files = {k: v[0] for k, v in sizes.items() if not k.startswith(f"{d}/")}
                heads = sum(h for _, h in sizes.values())
                # The budget counts what the server sends compressed; the
                # response headers (nginx's header table: CSP, cache policy,
                # ETag ...) are listed apart: HTTP/2 and 3 compress them.
                print(f"  [{name}] bytes for a valid verdict, gzipped bodies: "
                      f"{sum(page_files.values()) + sum(data_files.values()):,} B in {len(sizes)} responses "
                      f"= page {sum(page_files.values()):,} + data {sum(data_files.values()):,}; "
                      f"response headers (HTTP/1.1) +{heads:,} B")
                for file, (n, h) in sorted(sizes.items(), key=lambda kv: -kv[1][0]):
                    print(f"    {n:7,} {file} (+{h} B headers)")
                fallback_sizes: dict[str, tuple[int, int]] = {}
                one_load(browser, url, "szzz-verdict", fallback=True, sizes=fallback_sizes)
                extra = {k: v[0] for k, v in fallback_sizes.items() if k not in sizes}
                print(f"  [{name}] Ed25519 fallback, only where WebCrypto lacks Ed25519: +{sum(extra.values()):,} B "
                      f"({', '.join(sorted(extra))})")
                lazy = 0
                context = browser.new_context()
                for file in ("scan.js", "jsQR.js"):
                    r = context.request.get(f"{base}/{d}/{file}", headers={"Accept-Encoding": "gzip"})
                    lazy += len(gzip.compress(r.body(), 6))
                context.close()
                print(f"  [{name}] scanner on demand (scan.js + jsQR.js, gzipped): +{lazy:,} B")

            def in_turns(targets, runs, **kw):
                """{name: [ms, ...]}: one load of each target in turn, ``runs`` rounds (after one warm-up round)."""
                times = {name: [] for name in targets}
                for warm_up in [True] + [False] * runs:
                    for name, (target, mark_name, extra) in targets.items():
                        took = one_load(browser, target, mark_name, **kw, **extra)
                        if not warm_up:
                            times[name].append(took)
                return times

            trivial = (f"{base}/baseline/", "baseline-done", {})
            loopback = in_turns({"trivial": trivial} | {n: (u, "szzz-verdict", {}) for n, u in urls.items()},
                                args.runs)
            throttled = in_turns({"trivial": trivial} | {n: (u, "szzz-verdict", {}) for n, u in urls.items()}
                                 | {f"{n}, fallback": (u, "szzz-verdict", {"fallback": True}) for n, u in urls.items()},
                                 args.throttled_runs, throttle=True)
            browser.close()

    med_b = statistics.median(loopback["trivial"])
    print(f"  cold loopback, in turns, trivial page with one script, navigation -> done: median {med_b:.1f} ms, "
          f"p90 {percentile(loopback['trivial'], 0.9):.1f} ms ({args.runs} runs)")
    for name in pages:
        med_v = statistics.median(loopback[name])
        print(f"  [{name}] cold loopback, navigation -> verdict: median {med_v:.1f} ms, "
              f"p90 {percentile(loopback[name], 0.9):.1f} ms ({args.runs} runs); "
              f"ratio to the trivial page {med_v / med_b:.2f}x")
    print(f"  throttled phone (150 ms RTT, 1.6 Mbps, CPU x{CPU_SLOWDOWN}), in turns: trivial page median "
          f"{statistics.median(throttled['trivial']):.0f} ms ({args.throttled_runs} runs each)")
    for name in pages:
        print(f"  [{name}] throttled verdict median {statistics.median(throttled[name]):.0f} ms, "
              f"p90 {percentile(throttled[name], 0.9):.0f} ms; with the Ed25519 fallback median "
              f"{statistics.median(throttled[name + ', fallback']):.0f} ms")

    files = [t for n, t in vectors["files"].items() if n.startswith("api/certificates/") and len(t) > 100]
    together = len(gzip.compress("".join(files).encode(), 6))
    print(f"  a privacy bucket of 64 certificate files (the vectors' {len(files)} files gzipped together: "
          f"{together / len(files):.0f} B each): about {64 * together / len(files) / 1000:.1f} KB gzipped")


if __name__ == "__main__":
    main()
