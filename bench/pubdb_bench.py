"""Benchmark the public database step and Datasette's live update: incremental against full.

    .venv/bin/python bench/pubdb_bench.py --registry /tmp/p10k/reg-10000 [--runs 5] [--work DIR]
    .venv/bin/python bench/pubdb_bench.py --size 10000            # makes a demo registry first
    .venv/bin/python bench/pubdb_bench.py ... --file BIG.db        # file-level costs of another public database
    .venv/bin/python bench/pubdb_bench.py --registry R --previous R.db --no-full   # incremental side only

The registry (``registry.db`` and ``keys/`` in ``--registry``) is copied into
the work directory first and only the copy is changed. Then, in this process
(SQLite's work is in-process, so CPU time is ``time.process_time``):

* a full export of the registry, the previous build's public database, and
  two live copies of it (``livedb.replace``);
* ``--runs`` times: one revocation (``Registry.revoke``, as
  ``bench/publish_bench.py revoke_one``), then
  - the **full** public database step: ``export.export_public_db``;
  - the **incremental** one: ``dbdelta.changed_rows`` +
    ``dbdelta.update_public_db`` from the previous run's incremental file
    (copy + one transaction), checked to have the full export's content
    (``dbrows.content_digest``);
  - the **live update**, every row compared (``livedb.update`` on the full
    export, as before) and changed rows only (``livedb.update`` with the rows);
* what byte-for-byte equality with the full export would add to the
  incremental file: each FTS table rebuilt and optimised, then ``VACUUM
  INTO`` a new file (compared with ``VACUUM INTO`` of the full export);
* the copy of the public database by ``shutil.copyfile`` (sendfile),
  ``registry.core.fs.copy_file`` (``copy_file_range``) and ``cp
  --reflink=auto``; and ``VACUUM INTO`` of ``--file`` when given.

``--previous`` starts from an existing public database of the registry as
it is (copied), instead of a full export; ``--no-full`` measures only the
incremental side (no full export, no all-rows live update, no content check:
for sizes whose full builds are measured elsewhere). It prints wall and CPU
seconds (medians over the runs) and the ratios against the full step
measured in the same run. Absolute figures vary with
the machine's load; compare the ratios of one run.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import publish_bench  # bench/ sibling: the demo registry and the revocation

from registry.core import fs
from registry.publish import dbdelta, dbrows, export, incremental, livedb
from registry.store import history, schema


def timed(f, *args, **kwargs):
    """(wall s, CPU s of this process, result) of ``f(*args, **kwargs)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = f(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def incremental_step(db, changes, previous, out, statuses):
    """The incremental build's public database step: (changed rows, result)."""
    rows = dbdelta.changed_rows(db, changes)
    return rows, dbdelta.update_public_db(db, previous, out, rows, statuses=statuses)


def copy_registry(source: Path, target: Path) -> tuple[Path, Path]:
    """A copy of the registry in ``source`` (online backup: a WAL file included) and its keys."""
    target.mkdir(parents=True, exist_ok=True)
    db = target / "registry.db"
    if not db.exists():
        src = sqlite3.connect(f"file:{source / 'registry.db'}?mode=ro", uri=True)
        dst = sqlite3.connect(db)
        src.backup(dst)
        src.close()
        dst.close()
        shutil.copytree(source / "keys", target / "keys")
    return db, target / "keys"


def state_of(db):
    return incremental.state_of(db, incremental.inputs_digest(db, code="bench", options={}))


def byte_identical_path(incremental_db: Path, full_db: Path, work: Path) -> dict:
    """What making the incremental file byte-identical to the full export would cost."""
    copy = work / "identical.db"
    out, reference = work / "identical-vacuumed.db", work / "full-vacuumed.db"
    for path in (copy, out, reference):
        path.unlink(missing_ok=True)
    shutil.copyfile(incremental_db, copy)
    conn = sqlite3.connect(copy, isolation_level=None)
    export.fts_function(conn)

    def rebuild():
        for table in export.FTS_SOURCES:
            conn.execute(f"insert into {table}_fts({table}_fts) values ('rebuild')")
            conn.execute(f"insert into {table}_fts({table}_fts) values ('optimize')")

    fts = timed(rebuild)
    vacuum = timed(conn.execute, "vacuum into ?", [str(out)])
    conn.close()
    conn = sqlite3.connect(full_db)
    conn.execute("vacuum into ?", [str(reference)])
    conn.close()
    same = out.read_bytes() == reference.read_bytes()
    for path in (copy, out, reference):
        path.unlink()
    return {"fts": fts[:2], "vacuum": vacuum[:2], "identical": same}


def copies(path: Path, work: Path, runs: int = 3) -> dict:
    """Best wall seconds of each way to copy ``path`` (the page cache is warm when it fits: the file was just read)."""
    target = work / "copy.db"
    ways = {
        "shutil.copyfile (sendfile)": lambda: shutil.copyfile(path, target),
        "fs.copy_file (copy_file_range)": lambda: fs.copy_file(path, target),
        "cp --reflink=auto": lambda: subprocess.run(["cp", "--reflink=auto", str(path), str(target)], check=True),
    }
    best = {}
    for name, way in ways.items():
        seen = []
        for _ in range(runs):
            target.unlink(missing_ok=True)
            os.sync()
            seen.append(timed(way)[0])
        best[name] = min(seen)
    target.unlink(missing_ok=True)
    return best


def vacuum_into(path: Path, work: Path) -> float:
    target = work / "vacuum-into.db"
    target.unlink(missing_ok=True)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    took = timed(conn.execute, "vacuum into ?", [str(target)])[0]
    conn.close()
    target.unlink()
    return took


def median(values):
    return statistics.median(values)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--registry", type=Path, help="directory with registry.db and keys/ (copied, never changed)")
    ap.add_argument("--size", type=int, default=10_000, help="certificates of a demo registry made "
                    "when --registry is not given")
    ap.add_argument("--runs", type=int, default=5, help="revocations measured")
    ap.add_argument("--work", type=Path, help="work directory (default: a new temporary one)")
    ap.add_argument("--file", type=Path, help="another public database: copy and VACUUM INTO measured on it")
    ap.add_argument("--previous", type=Path, help="the public database of the registry as it is (copied; "
                    "default: a full export)")
    ap.add_argument("--no-full", action="store_true", help="measure the incremental side only")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="pubdb-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.registry:
        db_path, keys = copy_registry(args.registry, work / "registry")
    else:
        db_path, keys = publish_bench.make_registry(work, args.size)
    print(f"pubdb bench: cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} work={work} registry={db_path}")

    db = schema.connect(db_path, readonly=True)
    try:
        certificates = db.execute("select count(*) from certificates").fetchone()[0]
        # Revocations dated the bench's day, or the registry's last, whichever is later.
        today = max(publish_bench.TODAY, history.latest_event_date(db) or "")
        previous_state = state_of(db)
        previous = work / "public-0.db"
        previous.unlink(missing_ok=True)
        if args.previous:
            fs.copy_file(args.previous, previous)
        else:
            export.export_public_db(db, previous)
    finally:
        db.conn.close()
    live_all, live_rows = work / "live-all" / "registry.db", work / "live-rows" / "registry.db"
    for live in (live_rows,) if args.no_full else (live_all, live_rows):
        livedb.replace(live, previous)
    print(f"  {certificates} certificates; public database {previous.stat().st_size / 1e6:.1f} MB")

    rows_of = {"full": [], "incremental": [], "live all rows": [], "live changed rows": []}
    full_db = None
    for run in range(1, args.runs + 1):
        publish_bench.revoke_one(db_path, keys, today=today)
        db = schema.connect(db_path, readonly=True)
        try:
            statuses = history.replayed_statuses(db)  # the build has them before this step
            state = state_of(db)
            changes = incremental.changes_since(db, previous_state, state)
            assert changes is not None, "the revocation did not make an incremental change"
            full_db, inc_db = work / f"full-{run}.db", work / f"public-{run}.db"
            for path in (full_db, inc_db):
                path.unlink(missing_ok=True)
            full = None if args.no_full else timed(export.export_public_db, db, full_db, statuses=statuses)
            inc = timed(incremental_step, db, changes, previous, inc_db, statuses)
            rows = inc[2][0]
        finally:
            db.conn.close()
        changed = timed(livedb.update, live_rows, inc_db, rows)
        if args.no_full:
            rows_of["incremental"].append(inc[:2])
            rows_of["live changed rows"].append(changed[:2])
            print(f"  run {run}: incremental {inc[0]:.3f} s; live update, changed rows {changed[0]:.4f} s")
        else:
            every = timed(livedb.update, live_all, full_db)
            same = dbrows.content_digest(inc_db) == dbrows.content_digest(full_db)
            same_live = dbrows.content_digest(live_rows) == dbrows.content_digest(live_all) == \
                dbrows.content_digest(full_db)
            for name, figures in zip(rows_of, (full, inc, every, changed), strict=True):
                rows_of[name].append(figures[:2])
            print(f"  run {run}: full {full[0]:.2f} s, incremental {inc[0]:.3f} s "
                  f"(content {'equal' if same else 'DIFFERENT'}); live update: all rows {every[0]:.3f} s, "
                  f"changed rows {changed[0]:.4f} s (content {'equal' if same_live else 'DIFFERENT'})")
            if not (same and same_live):
                raise SystemExit("the incremental or live database differs from the full export")
            if run > 1:
                (work / f"full-{run - 1}.db").unlink()
        previous.unlink()  # the previous build's file: gone with its build
        previous, previous_state = inc_db, state

    print(f"\n  median of {args.runs} (wall s / CPU s):")
    for name, figures in rows_of.items():
        if not figures:
            continue
        wall, cpu = median([w for w, _c in figures]), median([c for _w, c in figures])
        baseline = rows_of["live all rows" if name.startswith("live") else "full"]
        against = median([w for w, _c in baseline]) if baseline else 0
        ratio = f"{against / wall:8.1f}× faster" if wall < against else ""
        print(f"    {name:<22} {wall:8.3f} s  {cpu:8.3f} s CPU  {ratio}")
    print(f"  after {args.runs} incremental steps the file is {previous.stat().st_size / 1e6:.1f} MB"
          + ("" if args.no_full else f", the full export {full_db.stat().st_size / 1e6:.1f} MB"))
    if args.no_full:
        previous.unlink()
        live_rows.unlink()
        return

    ident = byte_identical_path(previous, full_db, work)
    print("\n  byte-identical to the full export, on top of the incremental step:")
    print(f"    FTS rebuild + optimize   {ident['fts'][0]:8.3f} s  {ident['fts'][1]:8.3f} s CPU")
    print(f"    VACUUM INTO              {ident['vacuum'][0]:8.3f} s  {ident['vacuum'][1]:8.3f} s CPU")
    print(f"    then byte-identical to VACUUM INTO of the full export: {ident['identical']}")

    print(f"\n  copying a public database of {full_db.stat().st_size / 1e6:.1f} MB (best of 3, page cache warm):")
    for name, took in copies(full_db, work).items():
        print(f"    {name:<32} {took:8.3f} s")
    if args.file:
        size = args.file.stat().st_size / 1e6
        print(f"\n  {args.file} ({size:.1f} MB):")
        for name, took in copies(args.file, work, runs=1).items():
            print(f"    {name:<32} {took:8.3f} s")
        print(f"    {'VACUUM INTO':<32} {vacuum_into(args.file, work):8.3f} s")
    for path in (previous, full_db, live_all, live_rows):
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
