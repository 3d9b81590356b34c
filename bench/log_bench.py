"""Transparency-log figures: append + tile-writing rate, audit time, proof bytes.

    .venv/bin/python bench/log_bench.py [--entries 1000000] [--certs 5000]

Prints figures, never asserts. Each rate is given with a baseline measured in
the same run on the same machine (plain SHA-256 of the same bytes; writing
the same bytes to one file), so ratios stay meaningful across machines:

1. log append + tile writing for N synthetic entries of realistic size
   (~600 bytes, like an event envelope): one fresh write, and the same log
   appended in publish-sized steps (incremental, as publish.py does);
2. bytes a browser fetches to prove one inclusion in that log (hash tiles
   read by the proof + the checkpoint; the entry itself is rebuilt from the
   certificate file's envelope, so no bundle is needed — given too);
3. ``szzz audit`` time for a real registry of C certificates published with
   the library calls publish.py makes (api/, change feed, log), and the
   linear extrapolation to 100,000 certificates (stated as such);
4. with ``--site DIR``: ``szzz audit`` of a whole site ``publish.py build``
   made (HTML certificate pages included), e.g. one of 100,000 certificates:

       .venv/bin/szzz demo --db big/registry.db --keys big/keys --certificates 100000
       SZZZ_PASSPHRASE=szzz-demo-only .venv/bin/python publish.py build --db big/registry.db --out big/output
       .venv/bin/python bench/log_bench.py --entries 0 --certs 0 --site big/output/site

5. with ``--registry DB --keys DIR`` (a copy of DB is used; passphrase
   ``SZZZ_PASSPHRASE``): publish.py's log step on that registry after one
   revocation, full (every event read, encoded and hashed: a full build's
   step) and incremental (the previous log as the prefix: an incremental
   build's step), each from the same previous log; the full step is the
   baseline and both must sign the same tree:

       SZZZ_PASSPHRASE=szzz-demo-only .venv/bin/python bench/log_bench.py --entries 0 --certs 0 \
           --registry big/registry.db --keys big/keys

``--entries 0`` and ``--certs 0`` skip parts 1–2 and 3.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "registry"))

from registry.log import checkpoint, tiles
from registry.publish import log as publish_log


def synthetic_entries(n: int) -> list[bytes]:
    """Entries shaped like event envelopes (~600 bytes), distinct per seq."""
    sig = "A" * 86
    out = []
    for seq in range(1, n + 1):
        payload = (f'{{"actor":"CQC","cert_no":"SZZZ-2024-CQC-{seq % 100000:05d}","date":"2025-05-01",'
                   f'"details":{{}},"notice":null,"prev":"{"ab" * 32}",'
                   '"reason":"监督审核通过 surveillance audit passed",'
                   f'"record_digest":"{"cd" * 32}","revision":1,"seq":{seq},"status":"valid","subject":null,'
                   '"type":"surveillance_passed"}')
        out.append(checkpoint.entry_bytes("0123456789abcdef", payload, sig))
    return out


def timed(fn):
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def bench_write(n: int, work: Path):
    entries = synthetic_entries(n)
    size = sum(len(e) for e in entries)
    print(f"[1] log of {n:,} entries, {size / n:.0f} bytes each on average ({size / 1e6:.0f} MB)")
    t_sha, _ = timed(lambda: [hashlib.sha256(e).digest() for e in entries])
    blob = work / "baseline.bin"
    t_io, _ = timed(lambda: blob.write_bytes(b"".join(entries)))
    blob.unlink()
    print(f"    baseline: SHA-256 of every entry {t_sha:.2f} s; writing the same bytes to one file {t_io:.2f} s")
    fresh = work / "fresh"
    t_fresh, root = timed(lambda: tiles.write_log(fresh, entries))
    print(f"    fresh write (leaf hashes, hash tiles, bundles): {t_fresh:.2f} s = {n / t_fresh:,.0f} entries/s "
          f"({t_fresh / (t_sha + t_io):.1f}x hashing+writing the bytes)")
    step = max(1, n // 20)
    inc = work / "incremental"
    t0 = time.perf_counter()
    done, last = 0, None
    while done < n:
        _, last = tiles.append_entries(inc, done, entries[done: done + step])
        done = min(n, done + step)
    t_inc = time.perf_counter() - t0
    assert last == root
    print(f"    incremental, {n // step} appends of {step:,}: {t_inc:.2f} s = {n / t_inc:,.0f} entries/s "
          f"(same root as the fresh write)")
    t_one, _ = timed(lambda: tiles.append_entries(inc, n, synthetic_entries(1)))
    print(f"    one more entry appended to the {n:,}-entry log: {t_one * 1000:.1f} ms")
    shutil.rmtree(inc)
    return fresh, n, root


def bench_proof_bytes(log_dir: Path, n: int):
    fetched = {}

    def fetch(rel):
        data = (log_dir / rel).read_bytes()
        fetched[rel] = len(data)
        return data

    worst, total = 0, 0
    samples = [0, n // 3, n // 2, n - 1, 123_457 % n]
    for index in samples:
        fetched.clear()
        reader = tiles.TileHashReader(n, fetch)
        reader.inclusion_proof(index)
        b = sum(fetched.values())
        worst = max(worst, b)
        total += b
    checkpoint = 200  # origin, size, root, two signature lines
    bundle = (log_dir / tiles.entries_path(0)).stat().st_size
    print(f"[2] one inclusion proof in the {n:,}-entry log: "
          f"{total / len(samples) / 1024:.1f} KiB of hash tiles on "
          f"average, {worst / 1024:.1f} KiB worst of {len(samples)} leaves, + checkpoint ~{checkpoint} B "
          "(the entry is rebuilt from the certificate file; "
          f"reading it from its bundle would add {bundle / 1024:.0f} KiB)")


def bench_audit(certs: int, work: Path):
    import registry_testkit as kit

    from registry.publish import api, changefeed
    from registry.verify import audit

    work.mkdir(parents=True, exist_ok=True)
    db, keys_dir = work / "registry.db", work / "keys"
    t0 = time.perf_counter()
    reg, ids = kit.build(db, keys_dir, products=certs)
    with reg.batch():
        numbers = [kit.issue(reg, pid, expires="2027-02-28") for pid in ids]
        for no in numbers[: certs // 10]:
            reg.suspend(no, "整改 corrective action", date="2024-06-01")
    reg.close()
    t_reg = time.perf_counter() - t0
    site = work / "site"
    now = int(datetime.datetime(2025, 6, 2, tzinfo=datetime.UTC).timestamp())
    from registry.store import schema

    dbh = schema.connect(db)
    log_signer = api.load_log_signer(dbh, keys_dir, kit.PASSPHRASE)
    ts_signer = publish_log.load_timestamp_signer(dbh, keys_dir, kit.PASSPHRASE)
    as_of = datetime.datetime.fromtimestamp(now, datetime.UTC)
    t_pub, _ = timed(lambda: (api.write_snapshot(dbh, site, log_signer, as_of=as_of),
                              changefeed.write_change_feed(dbh, site, as_of=as_of)))
    t_log, info = timed(lambda: publish_log.publish_log(dbh, site, log_signer, ts_signer, timestamp=now))
    dbh.conn.close()
    t_audit, report = timed(lambda: audit.audit(site, now=now))
    assert report.ok, report.text()
    per = t_audit / certs
    print(f"[3] registry of {certs:,} certificates, {info['size']:,} events (built in {t_reg:.0f} s); "
          f"api/ + feed {t_pub:.1f} s, log {t_log:.2f} s")
    print(f"    szzz audit: {t_audit:.1f} s = {per * 1000:.2f} ms per certificate; "
          f"extrapolated linearly to 100,000 certificates: {per * 100_000 / 60:.1f} min (one core)")


def bench_audit_site(site: str):
    import resource

    from registry.verify import audit

    t_audit, report = timed(lambda: audit.audit(site))
    certs = report.counts.get("certificate files") or 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"[4] szzz audit of the published site {site}: {'OK' if report.ok else 'FAILED'}; "
          + ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in report.counts.items()))
    print(f"    {t_audit:.1f} s" + (f" = {t_audit / certs * 1000:.2f} ms per certificate" if certs else "")
          + f" (one core); peak RSS {peak:.0f} MB")
    if not report.ok:
        print(report.text())


def bench_log_step(registry: str, keys_dir: str, work: Path):
    import sqlite3

    from registry.core import keys
    from registry.publish import api, changefeed
    from registry.store import schema
    from registry.store.operations import Registry

    work.mkdir(parents=True, exist_ok=True)
    db = work / "registry.db"
    src, dst = sqlite3.connect(registry), sqlite3.connect(db)
    src.backup(dst)
    src.close()
    dst.close()
    passphrase = keys.passphrase_from_env()
    now = int(time.time())
    dbh = schema.connect(db)
    log_signer = api.load_log_signer(dbh, keys_dir, passphrase)
    ts_signer = publish_log.load_timestamp_signer(dbh, keys_dir, passphrase)
    site1, state = work / "site1", work / "state" / "checkpoint"
    changefeed.write_change_feed(dbh, site1, as_of="2025-06-01T00:00:00Z")
    t_first, first = timed(lambda: publish_log.publish_log(dbh, site1, log_signer, ts_signer, state_file=state,
                                                           timestamp=now))
    cert_no = dbh.execute("select cert_no from certificates where status = 'valid' order by cert_no "
                          "limit 1").fetchone()[0]
    dbh.conn.close()
    with Registry.open(db, keys_dir, passphrase) as reg:
        reg.revoke(cert_no, "基准测试 benchmark")
    dbh = schema.connect(db)
    shutil.copytree(state.parent, work / "state2")
    t_full, full = timed(lambda: publish_log.publish_log(
        dbh, work / "site2", log_signer, ts_signer, previous_site=site1, state_file=state, timestamp=now + 1))
    site3 = work / "site3"
    last_seq = changefeed.write_change_feed(dbh, site3, as_of="2025-06-02T00:00:00Z",
                                            previous_dir=site1 / "api" / "events")["last_seq"]
    step = publish_log.Incremental((cert_no,), changefeed.first_written_seq(site1 / "api" / "events", last_seq))
    t_inc, inc = timed(lambda: publish_log.publish_log(
        dbh, site3, log_signer, ts_signer, previous_site=site1, state_file=work / "state2" / "checkpoint",
        timestamp=now + 1, incremental=step))
    dbh.conn.close()
    assert (full["size"], full["root"]) == (inc["size"], inc["root"]) and full["size"] == first["size"] + 1
    print(f"[5] log step on {registry} ({first['size']:,} events; fresh log {t_first:.2f} s), "
          f"after revoking {cert_no}:")
    print(f"    full build's step {t_full:.3f} s (baseline); incremental build's step {t_inc:.3f} s "
          f"= {t_inc / t_full:.3f}x, {inc['compared']:,} older events compared with the log; same tree")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--certs", type=int, default=5000)
    ap.add_argument("--site", help="also audit this published site (directory or URL)")
    ap.add_argument("--registry", help="also time the log step, full and incremental, on a copy of this registry")
    ap.add_argument("--keys", help="the key directory of --registry")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="log-bench-") as tmp:
        work = Path(tmp)
        if args.entries:
            log_dir, n, _ = bench_write(args.entries, work)
            bench_proof_bytes(log_dir, n)
            shutil.rmtree(log_dir)
        if args.certs:
            os.environ.setdefault("SZZZ_TODAY", "2025-06-01")
            bench_audit(args.certs, work / "audit")
        if args.registry:
            bench_log_step(args.registry, args.keys or str(Path(args.registry).parent / "keys"), work / "step")
    if args.site:
        bench_audit_site(args.site)  # the wall clock: a real site is audited as of now


if __name__ == "__main__":
    main()
