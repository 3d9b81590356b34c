#!/usr/bin/env python3
"""What the damaged-file check costs an operator's act: printed figures, not timed tests.

Every write transaction first runs ``PRAGMA quick_check``
(``registry.store.schema.check_intact``, issue 10), so its cost is paid by
each single act (a revocation) and once by a whole import. For a registry
(copied to a temporary directory first; the original is never written):

* ``quick_check`` alone, warm (the file in the page cache) and cold (the
  file's pages dropped from the page cache with ``posix_fadvise``, only for
  that file), ``integrity_check`` warm for comparison, and ``check_intact``
  (the file read ahead sequentially, then quick_check) warm and cold;
* one revocation through the library (open, load the key, revoke, close),
  with the check and with it replaced by a no-op, alternated in the same run:
  the ratio is what the check adds to the act;
* one ``szzz cert revoke`` in a fresh process, as an operator runs it.

    SZZZ_PASSPHRASE=… python bench/write_check_bench.py --db r100k.db --keys keys100k

The registry is made with ``szzz demo --certificates N`` (10k: 59 MB,
100k: 604 MB); the passphrase is the one it was made with.
"""

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry.core import keys
from registry.store import schema
from registry.store.operations import Registry

TODAY = "2025-06-01"


def drop_from_page_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def pragma_seconds(db_path, pragma, *, cold=False):
    if cold:
        drop_from_page_cache(db_path)
    conn = sqlite3.connect(db_path)
    try:
        t = time.perf_counter()
        result = conn.execute(f"PRAGMA {pragma}").fetchall()
        elapsed = time.perf_counter() - t
    finally:
        conn.close()
    if result != [("ok",)]:
        raise SystemExit(f"{db_path}: {pragma} says {result[:3]}")
    return elapsed


def check_intact_seconds(db_path, *, cold=False):
    if cold:
        drop_from_page_cache(db_path)
    db = schema.connect(db_path)
    try:
        t = time.perf_counter()
        schema.check_intact(db)
        return time.perf_counter() - t
    finally:
        db.conn.close()


def valid_certificates(db_path, n):
    conn = sqlite3.connect(db_path)
    try:
        return [r[0] for r in conn.execute(
            "select cert_no from certificates where status = 'valid' order by cert_no desc limit ?", [n])]
    finally:
        conn.close()


def revoke_seconds(db_path, keys_dir, passphrase, cert_no):
    t = time.perf_counter()
    with Registry.open(db_path, keys_dir, passphrase) as reg:
        reg.today_override = TODAY
        reg.revoke(cert_no, "benchmark", date=TODAY)
    return time.perf_counter() - t


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--keys", required=True)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    passphrase = keys.passphrase_from_env()
    with tempfile.TemporaryDirectory(prefix="write-check-") as tmp:
        db = Path(tmp) / "registry.db"
        source = sqlite3.connect(args.db)
        target = sqlite3.connect(db)
        source.backup(target)  # a consistent copy, WAL included
        source.close()
        target.execute("PRAGMA journal_mode = WAL")
        target.close()
        keys_dir = Path(tmp) / "keys"
        shutil.copytree(args.keys, keys_dir)
        size = db.stat().st_size
        pages = size // 4096
        print(f"registry: {args.db} copied ({size / 1e6:.0f} MB, {pages} pages)")

        warm = [pragma_seconds(db, "quick_check(1)") for _ in range(args.repeat)]
        cold = [pragma_seconds(db, "quick_check(1)", cold=True) for _ in range(args.repeat)]
        full = [pragma_seconds(db, "integrity_check(1)") for _ in range(args.repeat)]
        intact_warm = [check_intact_seconds(db) for _ in range(args.repeat)]
        intact_cold = [check_intact_seconds(db, cold=True) for _ in range(args.repeat)]
        print(f"quick_check alone               warm  median {statistics.median(warm) * 1000:7.0f} ms")
        print(f"quick_check alone               cold  median {statistics.median(cold) * 1000:7.0f} ms")
        print(f"integrity_check alone           warm  median {statistics.median(full) * 1000:7.0f} ms")
        print(f"check_intact (read ahead + qc)  warm  median {statistics.median(intact_warm) * 1000:7.0f} ms")
        print(f"check_intact (read ahead + qc)  cold  median {statistics.median(intact_cold) * 1000:7.0f} ms"
              f"   {statistics.median(cold) / statistics.median(intact_cold):.1f}x faster than quick_check alone")

        certs = valid_certificates(db, 2 * args.repeat + 1)
        real_check = schema.check_intact
        with_check, without = [], []
        for i in range(args.repeat):
            with_check.append(revoke_seconds(db, keys_dir, passphrase, certs[2 * i]))
            schema.check_intact = lambda db, **options: None  # the baseline: no check
            try:
                without.append(revoke_seconds(db, keys_dir, passphrase, certs[2 * i + 1]))
            finally:
                schema.check_intact = real_check
        a, b = statistics.median(with_check), statistics.median(without)
        print(f"revoke (library) with check      median {a * 1000:7.0f} ms")
        print(f"revoke (library) without check   median {b * 1000:7.0f} ms   ratio {a / b:.2f}x")

        env = dict(os.environ, PYTHONPATH=str(ROOT), SZZZ_TODAY=TODAY)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "registry", "cert", "revoke", certs[-1], "--db", str(db),
                        "--keys", str(keys_dir), "--reason", "benchmark"],
                       check=True, capture_output=True, env=env)
        print(f"szzz cert revoke (new process, warm cache)    {(time.perf_counter() - t) * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
