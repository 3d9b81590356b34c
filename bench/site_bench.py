"""Benchmark of the Pelican site build against plain Pelican, in the same run.

    python bench/site_bench.py --certificates 10000        # builds a demo registry first
    python bench/site_bench.py --db output/data/registry.db

Measures, each in a fresh child process (so peak RSS is per build):

1. the portal site: Pelican with ``pelicanconf.py`` and the ``szzz_registry``
   generator over the registry (every certificate, product, enterprise,
   body, standard page, the lists, feeds, stats and sitemap);
2. the baseline: plain Pelican (``DISPLAY_PAGES_ON_MENU = False``, the
   default ``simple`` theme, no feeds) rendering as many trivial Markdown
   pages as the registry has certificates.

Prints wall time, pages written, pages/s and peak RSS of both, and the ratio
site / baseline (acceptance: ≤ 3 for 10k certificates, issue 4). Figures,
never assertions: machines differ; the ratio is what compares.
"""

import argparse
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _count_files(out, suffix=".html"):
    return sum(1 for _ in Path(out).rglob("*" + suffix))


def _site(db, out, queue):
    from pelican import Pelican
    from pelican.settings import read_settings

    settings = read_settings(str(ROOT / "pelicanconf.py"), override={
        "OUTPUT_PATH": str(out),
        "SZZZ": {"db": str(db), "site_url": "https://szzz.example/",
                 "datasette_url": "/datasette/", "build_time": "2025-06-01T15:59:59Z"},
    })
    start = time.perf_counter()
    Pelican(settings).run()
    wall = time.perf_counter() - start
    queue.put({"wall": wall, "pages": _count_files(out),
               "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def _baseline(n, work, queue):
    from pelican import Pelican
    from pelican.settings import read_settings

    content = Path(work) / "content" / "pages"
    content.mkdir(parents=True)
    for i in range(n):
        (content / f"p{i}.md").write_text(f"Title: Page {i}\n\nTrivial page {i}.\n",
                                          encoding="utf-8")
    out = Path(work) / "out"
    settings = read_settings(override={
        "PATH": str(Path(work) / "content"), "OUTPUT_PATH": str(out),
        "DISPLAY_PAGES_ON_MENU": False, "DELETE_OUTPUT_DIRECTORY": False,
        "FEED_ALL_ATOM": None, "CATEGORY_FEED_ATOM": None, "TRANSLATION_FEED_ATOM": None,
        "AUTHOR_FEED_ATOM": None, "AUTHOR_FEED_RSS": None, "CACHE_CONTENT": False,
        "ARTICLE_PATHS": [], "PAGE_PATHS": ["pages"],
    })
    start = time.perf_counter()
    Pelican(settings).run()
    wall = time.perf_counter() - start
    queue.put({"wall": wall, "pages": _count_files(out / "pages"),
               "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def _child(target, *args):
    queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    if proc.exitcode:
        raise SystemExit(f"{target.__name__} failed with exit code {proc.exitcode}")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="registry database (default: build a demo registry)")
    parser.add_argument("--certificates", type=int, default=1000)
    args = parser.parse_args()
    import logging
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="site-bench-") as tmp_name:
        tmp = Path(tmp_name)
        db = args.db
        if not db:
            from registry.store import demo
            db = tmp / "demo.db"
            start = time.perf_counter()
            demo.build(db, tmp / "keys", certificates=args.certificates, today="2025-06-01")
            print(f"demo registry: {args.certificates} certificates in "
                  f"{time.perf_counter() - start:.1f} s")
        import sqlite3
        conn = sqlite3.connect(db)
        n = conn.execute("select count(*) from certificates").fetchone()[0]
        conn.close()
        site = _child(_site, db, tmp / "site")
        base = _child(_baseline, n, tmp / "baseline")
    ratio = site["wall"] / base["wall"]
    print(f"certificates: {n}")
    print(f"portal site : {site['wall']:7.2f} s  {site['pages']:6d} pages  "
          f"{site['pages'] / site['wall']:7.0f} pages/s  peak RSS {site['rss_mb']:.0f} MB")
    print(f"plain Pelican: {base['wall']:7.2f} s  {base['pages']:6d} pages  "
          f"{base['pages'] / base['wall']:7.0f} pages/s  peak RSS {base['rss_mb']:.0f} MB")
    print(f"ratio site/plain Pelican (same number of certificates / trivial pages): {ratio:.2f}")
    print(json.dumps({"certificates": n, "site": site, "baseline": base, "ratio": ratio}))


if __name__ == "__main__":
    main()
