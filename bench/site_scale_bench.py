"""What is left of O(registry) in an incremental Pelican step, timed at 100k and 1M certificates.

    .venv/bin/python bench/site_scale_bench.py [--copies 10,100] [--step] [--work DIR]

An incremental build's Pelican step renders only what a change feeds
(docs/publishing.md, "Incremental builds"), but it still asks a few questions
of the whole registry in SQL: list sizes and statistics (one scan), the
certificates of the lists a change touches (to cut them into pages), ranks
in the sitemap and search index. This bench times each of them, and the
O(changed) reads, on a public database made of ``K`` copies of the 10,000-
certificate demo's (``publish_bench.make_registry``, exported once): copy k
has its own certificate numbers (years 2100 + 10k + …), product ids, USCCs and event
numbers, and no full-text tables or signed payloads, which the site never
reads. The last valid certificate is then revoked by SQL, the way the public
database shows a revocation.

``--step`` also runs the generator's incremental step itself (Pelican's
``generate_context`` and ``generate_output``, taking the pages of a previous
tree) at the first size: the previous tree holds only what the step reads of
it — the search index and sitemap of the registry before the revocation,
written by the generator's own functions (not timed) — so no page of the
registry is rendered whole. Each figure is the median of three runs; the
synthetic databases are kept in ``--work`` for the next run.
"""

import argparse
import json
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
sys.path[:0] = [str(ROOT), str(ROOT / "plugins" / "pelican"), str(ROOT / "bench")]

import jinja2
import publish_bench  # the 10k demo registry, made once
from pelican.settings import read_settings

import publish
from registry.publish import export, sitesearch
from registry.store import schema
from szzz_registry import data, paging, queries, reuse, search, sitemap, stats
from szzz_registry.dirty import Dirty
from szzz_registry.figures import Figures
from szzz_registry.generator import DEFAULTS, RegistryGenerator
from szzz_registry.lists import WINDOW_COST

# Copy k's certificates are of the years 2101 + 10k … 2109 + 10k (2021 … 2029 in the demo).
_OTHER_CERT = ("substr(cert_no, 1, instr(cert_no, '-')) || (2080 + 10 * {k} + "
               "substr(cert_no, instr(cert_no, '-') + 3, 2)) || substr(cert_no, instr(cert_no, '-') + 5)")
_OTHER_USCC = "substr({col}, 1, 8) || printf('%02d', {k}) || substr({col}, 11)"
COPY = {  # table: {column: its value in copy k}; rows: certificate events only
    "enterprises": {"uscc": _OTHER_USCC.format(col="uscc", k="{k}")},
    "products": {"id": "id + {k} * 1000000", "enterprise": _OTHER_USCC.format(col="enterprise", k="{k}")},
    "certificates": {"cert_no": _OTHER_CERT, "product": "product + {k} * 1000000",
                     "last_seq": "last_seq + {k} * 1000000"},
    "certificate_standards": {"cert_no": _OTHER_CERT},
    "events": {"seq": "seq + {k} * 1000000", "cert_no": _OTHER_CERT},
}
REVOKED_ON = "2025-06-30"


def public_10k(work: Path) -> Path:
    out = work / "public-10000.db"
    if not out.exists():
        db, _ = publish_bench.make_registry(work, 10_000)
        src = schema.connect(db, readonly=True)
        try:
            export.export_public_db(src, out)
        finally:
            src.conn.close()
    return out


def synthetic(work: Path, copies: int) -> Path:
    """The public database of ``copies`` copies of the demo's (made once)."""
    out = work / f"public-x{copies}.db"
    if out.exists():
        return out
    tmp = out.with_suffix(".tmp")
    shutil.copyfile(public_10k(work), tmp)
    conn = sqlite3.connect(tmp)
    for (name,) in conn.execute("select name from sqlite_master where type = 'table' "
                                "and sql like 'create virtual table%'").fetchall():
        conn.execute(f'drop table "{name}"')
    conn.execute("delete from certificate_revisions")
    conn.execute("update certificates set record = ''")
    conn.execute("update events set payload = ''")
    for table, changed in COPY.items():
        columns = [r[1] for r in conn.execute(f"pragma table_info({table})")]
        last = conn.execute(f"select max(rowid) from {table}").fetchone()[0]
        only = " and cert_no is not null" if table == "events" else ""
        for k in range(1, copies):
            values = ", ".join(changed.get(c, c).format(k=k) for c in columns)
            conn.execute(f"insert into {table} ({', '.join(columns)}) select {values} from {table} "
                         f"where rowid <= ?{only}", (last,))
    conn.commit()
    conn.execute("vacuum")
    conn.close()
    os.replace(tmp, out)
    return out


def revoke(db: Path) -> dict:
    """Revoke the last valid certificate by number (by SQL, as the public database
    shows it; the last, so that its ranks in the sitemap and the search index
    cost the most to count); the generator's ``SZZZ["incremental"]`` changes."""
    conn = sqlite3.connect(db)
    try:
        cert_no, body = conn.execute("select cert_no, body from certificates where status = 'valid' "
                                     "order by cert_no desc limit 1").fetchone()
        since = conn.execute("select max(seq) from events").fetchone()[0]
        key_id = conn.execute("select key_id from events where cert_no = ? order by seq desc limit 1",
                              (cert_no,)).fetchone()[0]
        conn.execute("insert into events (seq, type, cert_no, date, actor, reason, key_id, payload, signature) "
                     "values (?, 'revoked', ?, ?, ?, 'benchmark revocation', ?, '', ?)",
                     (since + 1, cert_no, REVOKED_ON, body, key_id, "0" * 86))
        conn.execute("update certificates set status = 'revoked', status_date = ?, last_seq = ? where cert_no = ?",
                     (REVOKED_ON, since + 1, cert_no))
        conn.commit()
    finally:
        conn.close()
    return {"since_seq": since, "certificates": [cert_no], "products": [], "enterprises": []}


def timed(fn, runs=3):
    """(median seconds of ``runs`` calls, the last result)."""
    seconds, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def parts(db: Path, changes: dict, figures_file: Path) -> list:
    """(what, seconds, O(...)) of the registry-wide questions of the step."""
    conn = data.open_readonly(db)
    try:
        out = []

        def add(what, order, fn):
            t, result = timed(fn)
            out.append((what, t, order))
            return result

        last_seq = queries.facts(conn)["last_seq"]
        dirty = add("Dirty.of (the dependency map)", "changed", lambda: Dirty.of(conn, changes))
        add("load_records (the changed records' enterprises)", "changed",
            lambda: data.load_records(conn, dirty.enterprises))

        def updated():
            figures = Figures.read(figures_file, changes["since_seq"])
            assert figures.update(conn, dirty, last_seq)
            return figures
        figures = add("figures: the earlier build's, brought up to date", "changed", updated)
        counted = add("figures: counted anew (full builds)", "registry", lambda: Figures.compute(conn, last_seq))
        assert counted.__dict__ == figures.__dict__, "updated figures differ from counted ones"
        bodies = data.load_records(conn, []).bodies
        index = add("the lists' sizes, the statistics (from the figures)", "1",
                    lambda: (figures.list_index(bodies), stats.compute(figures))[0])
        per_page = DEFAULTS["per_page"]

        def lists():  # as Lists.write reads them: windows of long lists, short ones whole
            certificates = sum(index["status"].values())
            for (kind, key), change in dirty.lists.items():
                total = index[kind][key]
                if WINDOW_COST * per_page * certificates < total * total:
                    for cert_no in change.joined | change.left | change.changed:
                        for op in ("<=", ">"):
                            queries.list_window(conn, kind, key, figures, cert_no, op, 4 * per_page)
                else:
                    paging.pages(queries.list_numbers(conn, kind, key, figures), per_page)
        add(f"the {len(dirty.lists)} lists it is on: windows of long lists, short ones whole", "√registry",
            lists)
        add("feeds: all events, its body's", "changed",
            lambda: [queries.events(conn, limit=200), *(queries.events(conn, limit=200, body=b)
                                                       for b in dirty.bodies)])
        add("ranks in the sitemap and the search index", "rank", lambda: [conn.execute(
            "select count(*) from certificates where cert_no < ?", (no,)).fetchone() for no in dirty.certificates])

        add("sitemap written whole (a new record only)", "registry", lambda: sitemap.entries(
            conn, index, data.load_records(conn, []), []))
        return out
    finally:
        conn.close()


def previous_tree(db: Path, tree: Path) -> None:
    """The search index and sitemap of registry ``db``, as a full build writes them."""
    conn = data.open_readonly(db)
    try:
        records = data.load_records(conn)
        index = Figures.compute(conn, queries.facts(conn)["last_seq"]).list_index(records.bodies)
        search.write(tree / "search" / "index", records, search.labels(index, records.bodies))
        sitemap.write(tree, sitemap.entries(conn, index, records, []), "http://127.0.0.1:8000",
                      DEFAULTS["sitemap_urls"], replace=False)
    finally:
        conn.close()


def step(db: Path, changes: dict, tree: Path, figures: Path, work: Path) -> tuple:
    """The generator's incremental step (take), on a hard-linked copy of ``tree``: seconds, ways."""
    previous = work / "previous"
    shutil.rmtree(previous, ignore_errors=True)
    subprocess.run(["cp", "-al", str(tree), str(previous)], check=True)
    out = work / "site"
    shutil.rmtree(out, ignore_errors=True)
    templates = work / "templates"
    templates.mkdir(exist_ok=True)
    settings = read_settings(str(publish.PELICAN_CONF))
    settings = read_settings(str(publish.PELICAN_CONF), override={
        # Compiled templates kept across runs, as publish.py keeps them across builds.
        "JINJA_ENVIRONMENT": {**settings["JINJA_ENVIRONMENT"],
                              "bytecode_cache": jinja2.FileSystemBytecodeCache(str(templates))},
        "OUTPUT_PATH": str(out),
        "SZZZ": {"db": str(db), "site_url": "http://127.0.0.1:8000",
                 "incremental": {**changes, "previous": str(previous), "take": True,
                                 "figures": str(figures)}}})
    start = time.perf_counter()
    generator = RegistryGenerator(context=settings.copy(), settings=settings, path=settings["PATH"],
                                  theme=settings["THEME"], output_path=str(out))
    generator.generate_context()
    generator.generate_output(None)
    return time.perf_counter() - start, generator


def index_update(db: Path, changes: dict, tree: Path, work: Path, factor: int) -> float:
    """Seconds :func:`sitesearch.update_index` takes for the revoked certificate on the
    index of ``tree`` scaled ``factor`` times: every document ``factor`` times (doc
    ``n`` becomes ``factor·n`` … ``factor·n + factor − 1``), so each term's postings,
    ``facets.json`` and the document count grow ``factor`` times and the shards stay
    1,024 (at 100k already). Only the files the update reads are written: meta,
    facets, the changed document's chunk and the shards of the terms it changes."""
    source, out = tree / "search" / "index", work / f"index-x{factor}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    conn = data.open_readonly(db)
    try:
        cert_no = changes["certificates"][0]
        records = data.load_records(conn, Dirty.of(conn, changes).enterprises)
        new = search.certificate_document(next(c for c in records.certificates if c["cert_no"] == cert_no))
        n = conn.execute("select count(*) from certificates where cert_no < ?", (cert_no,)).fetchone()[0]
    finally:
        conn.close()
    meta = json.loads((source / "meta.json").read_text())
    chunk = sitesearch.CHUNK
    old = json.loads((source / f"docs-{n // chunk}.json").read_text())[n % chunk]
    touched = {sitesearch.shard_of(t, meta["shards"]) for t in
               sitesearch.terms(old[1] + " " + old[3]) ^ sitesearch.terms(new.title + " " + new.text)}
    for k in touched:
        shard = json.loads((source / f"terms-{k}.json").read_text())
        scaled = {term: [i * factor + j for i in sitesearch.decode_postings(d) for j in range(factor)]
                  for term, d in shard.items()}
        (out / f"terms-{k}.json").write_text(sitesearch.index_json(
            {term: sitesearch.encode_postings(ids) for term, ids in scaled.items()}))
    rows = json.loads((source / "facets.json").read_text())
    (out / "facets.json").write_text(sitesearch.index_json([r for r in rows for _ in range(factor)]))
    (out / f"docs-{n * factor // chunk}.json").write_text(sitesearch.index_json([old] * chunk))
    (out / "meta.json").write_text(sitesearch.index_json(
        {**meta, "docs": meta["docs"] * factor, "postings": meta["postings"] * factor}))
    labels = {name: {v: tuple(names) for v, *names in values} for name, values in meta["facets"].items()}
    start = time.perf_counter()
    assert sitesearch.update_index(out, {n * factor: new}, labels, docs=meta["docs"] * factor) is not None
    return time.perf_counter() - start


def reuse_ways(site: Path, work: Path) -> None:
    """The three ways an incremental build gets the earlier build's pages, on the
    generator's entries of ``site`` (a real build's site directory): one
    ``mkdir`` + ``link`` per file in Python (before), one ``cp -al`` (the clone of
    the served build), one rename per entry (the spare's pages taken). Each on
    its own hard-linked copy, in new directories: nothing is deleted until all
    are timed (creating inodes right after deleting many is slower on ext4,
    publish_bench.py)."""
    names = reuse.owned_entries(site)
    made = []
    for way in ("python link", "cp -al", "take"):
        source, target = (work / f"reuse-{part}-{way.replace(' ', '-')}-{os.getpid()}"
                          for part in ("source", "target"))
        source.mkdir()
        target.mkdir()
        made += [source, target]
        subprocess.run(["cp", "-al", "-t", str(source), *(str(site / n) for n in names)], check=True)
        start = time.perf_counter()
        if way == "python link":
            for root, _dirs, files in os.walk(source):
                into = target / os.path.relpath(root, source)
                into.mkdir(exist_ok=True)
                for name in files:
                    os.link(os.path.join(root, name), into / name)
        elif way == "cp -al":
            reuse.Clone(source, target).wait()
        else:
            reuse.take(source, target)
        seconds = time.perf_counter() - start
        count = sum(len(f) + len(d) for _, d, f in os.walk(target))
        print(f"  {seconds * 1000:9.1f} ms  {way}: {count:,} files and directories")
    for path in made:
        shutil.rmtree(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", default="10,100", help="sizes, as copies of the 10k demo")
    ap.add_argument("--step", action="store_true", help="run the generator's step at the first size")
    ap.add_argument("--work", help="work directory (kept: the databases are reused)")
    ap.add_argument("--reuse-site", metavar="SITE", help="only time the ways of reusing the pages of "
                    "SITE (a build's site directory)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="site-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"site scale bench: cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} work={work}")
    if args.reuse_site:
        reuse_ways(Path(args.reuse_site), work)
        return
    for n, copies in enumerate(int(c) for c in args.copies.split(",")):
        t = time.monotonic()
        base = synthetic(work, copies)
        db = work / f"revoked-x{copies}.db"
        shutil.copyfile(base, db)
        conn = sqlite3.connect(db)
        certificates = conn.execute("select count(*) from certificates").fetchone()[0]
        conn.close()
        print(f"\n== {certificates:,} certificates ({copies} copies; database {time.monotonic() - t:.0f} s, "
              f"{db.stat().st_size / 1e6:.0f} MB)")
        figures = work / f"figures-x{copies}.json"
        conn = data.open_readonly(db)
        Figures.compute(conn, queries.facts(conn)["last_seq"]).write(figures)
        conn.close()
        if args.step and n == 0:
            tree = work / f"tree-x{copies}"
            if not tree.exists():
                previous_tree(db, tree)
        changes = revoke(db)
        print(f"  revoked {changes['certificates'][0]}")
        for what, seconds, order in parts(db, changes, figures):
            print(f"  {seconds * 1000:9.1f} ms  O({order:8}) {what}")
        if args.step and n == 0:
            runs = [step(db, changes, tree, figures, work) for _ in range(3)]
            seconds = statistics.median(r[0] for r in runs)
            print(f"  {seconds * 1000:9.1f} ms  the generator's incremental step (take; median of 3): "
                  f"{runs[-1][1].written} files written, {json.dumps(runs[-1][1].ways)}")
            for factor in (1, 10):
                seconds = statistics.median(index_update(db, changes, tree, work, factor) for _ in range(3))
                print(f"  {seconds * 1000:9.1f} ms  its search index update, on the index scaled {factor}× "
                      f"({certificates * factor:,} certificates' worth)")


if __name__ == "__main__":
    main()
