"""Incremental publishing equals a full build, byte for byte (docs/publishing.md, "Incremental builds").

Two levels:

* **Random sequences, the site generator and the public database.** 200
  short sequences of random operator acts (issue, suspend, reinstate, revoke,
  withdraw, surveillance, renew, scope change, new product, new enterprise,
  …) on copies of one tiny real registry. After each act the changes are
  computed the way a build does (:func:`incremental.state_of`,
  :func:`incremental.changes_since`), the szzz_registry generator renders
  incrementally — from the previous step's output, hard-linked, or from the
  output of the step before it, taken (the spare build's way: moved in and
  updated in place) — and a full render of the same registry must give the
  same files with the same bytes. Lists are cut into pages of a few
  certificates on average, the sitemap into files of seven URLs and the feeds
  hold three entries, so that a handful of certificates exercises the paging,
  the sitemap's patching and the search index's update; half of the
  sequences update lists from windows around each change, as long lists do,
  half from the whole list, and pages of two to four certificates on average
  cut lists at different certificates; windows are read a few certificates at
  a time, down to one. The public database made from the same earlier
  step's (:mod:`registry.publish.dbdelta`), and a live database updated on
  the changed rows only (:func:`registry.publish.livedb.update`), must have
  the content of a full export (:func:`registry.publish.dbrows.content_digest`:
  a database is published as its rows, not its pages). The generator is
  driven through Pelican's Generator API as Pelican drives it
  (``generate_context``, ``generate_output``); Pelican's own content pages
  and static files, which every build writes whole, are left out to keep 200
  sequences near a minute.
* **Whole builds.** ``publish.build`` on a real output (Pelican, api, log,
  marks, public database, downloads) after acts, against a full build into
  another output: every file byte for byte, the public database by content
  and, table by table, by SQLite's own ``sqldiff``; a changed input (code
  digest) falls back to a full build; unchanged pages, certificate files
  and marks are hard links to the previous build's files, which stay as
  they were; from the third build on they come from the spare (its
  ``api/certificates/`` and ``marks/`` directories moved in, only the files
  of certificates changed since it replaced: one changed in the build
  before, one issued since); and the previous build's public database is
  never written to.
"""

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import builders
import jinja2
import pytest
from builders import EVALUATION, GENERAL, GROUP, SCOPE, make_uscc
from helpers import file_digests
from pelican.settings import read_settings

import publish
from registry.core import fs
from registry.core.exceptions import BuildError, RegistryError
from registry.publish import build as building
from registry.publish import changefeed, dbdelta, dbrows, export, incremental, livedb
from registry.publish.output import Output
from registry.store import history, schema
from szzz_registry import lists
from szzz_registry.generator import RegistryGenerator

SEQUENCES = 200
CHUNKS = 8
STEPS = (1, 3)  # acts per sequence, inclusive
SITE_URL = "http://127.0.0.1:8000"
# Small pages, sitemap files and feeds, so that a tiny registry has many of each.
SMALL = {"per_page": 2, "sitemap_urls": 7, "feed_entries": 3}


def assert_same_tree(incremental_dir, full_dir, where):
    """Every file of the two trees has the same bytes; but the public database
    (``registry.db``), published as its content, not its pages (docs/publishing.md,
    "The public database"), has the same content, and the build state says the
    same registry and inputs (``public_db``, how the database was made, aside)."""
    inc, full = file_digests(incremental_dir), file_digests(full_dir)
    missing, extra = sorted(set(full) - set(inc)), sorted(set(inc) - set(full))
    assert not missing and not extra, (f"{where}: files only in the full build {missing[:5]}, "
                                       f"only in the incremental one {extra[:5]}")
    for name in full:
        if Path(name).name == "registry.db":
            inc[name], full[name] = (dbrows.content_digest(Path(root) / name)
                                     for root in (incremental_dir, full_dir))
        elif name == incremental.STATE_FILE:
            inc[name], full[name] = (incremental.state_id(incremental.read_state(Path(root).resolve()))
                                     for root in (incremental_dir, full_dir))
    differ = sorted(name for name in full if full[name] != inc[name])
    assert not differ, f"{where}: incremental output differs from the full build in {differ[:8]}"


def assert_same_rows(a, b, where):
    """sqldiff (SQLite's own tool, not ours) pairs the rows of every ordinary
    table by primary key and finds no difference between the two public databases."""
    conn = sqlite3.connect(f"file:{a}?mode=ro", uri=True)
    try:
        tables = dbrows.content_tables(conn)
    finally:
        conn.close()
    for table in tables:
        diff = subprocess.run(["sqldiff", "--primarykey", "--table", table, str(a), str(b)],
                              capture_output=True, text=True, check=True).stdout
        assert diff == "", f"{where}: sqldiff finds table {table} different:\n{diff[:2000]}"


class MemoryBytecodeCache(jinja2.BytecodeCache):
    """Templates compiled once for the whole module (jinja2 checks each source's checksum):
    compiling them is three quarters of a tiny registry's render."""

    def __init__(self):
        self.compiled = {}

    def load_bytecode(self, bucket):
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket):
        self.compiled[bucket.key] = bucket.bytecode_to_string()


BYTECODE = MemoryBytecodeCache()


class Site:
    """The szzz_registry generator of Pelican, rendering registry ``db`` into ``out``."""

    def __init__(self, db, per_page=SMALL["per_page"]):
        self.db = db
        self.per_page = per_page

    def render(self, out, changes=None, previous=None, *, take=False) -> RegistryGenerator:
        settings = read_settings(str(publish.PELICAN_CONF))
        incremental_settings = None
        if changes:
            incremental_settings = {**changes.as_settings(previous, take=take), "figures": str(figures_of(previous))}
        settings = read_settings(str(publish.PELICAN_CONF), override={
            "JINJA_ENVIRONMENT": {**settings["JINJA_ENVIRONMENT"], "bytecode_cache": BYTECODE},
            "OUTPUT_PATH": str(out),
            "SZZZ": {"db": str(self.db), "site_url": SITE_URL, "datasette_url": "/datasette/",
                     "build_time": "2025-06-01T15:59:59Z", **SMALL, "per_page": self.per_page,
                     "figures": str(figures_of(out)),
                     "incremental": incremental_settings}})
        generator = RegistryGenerator(context=settings.copy(), settings=settings,
                                      path=settings["PATH"], theme=settings["THEME"],
                                      output_path=str(out))
        generator.generate_context()
        generator.generate_output(None)
        return generator


def figures_of(site):
    """Where the generator records the registry-wide figures of the site in ``site``."""
    return Path(f"{site}.figures.json")


def state(db):
    return incremental.state_of(db, incremental.inputs_digest(db, code="test", options={}))


# ------------------------------------------------------------ random acts

def _certs(reg, *statuses):
    marks = ",".join("?" * len(statuses))
    return [r[0] for r in reg.db.execute(
        f"select cert_no from certificates where status in ({marks}) order by cert_no", statuses)]


def _new_product(reg, rng, n):
    enterprises = [r[0] for r in reg.db.execute("select uscc from enterprises order by uscc")]
    return reg.add_product({"enterprise": rng.choice(enterprises), "name_zh": f"随机产品{n}",
                            "models": [f"R-{n}"]})


def _free_products(reg):
    return [r[0] for r in reg.db.execute(
        "select id from products where id not in (select product from certificates "
        "where status in ('valid', 'suspended')) order by id")]


def act(reg, rng, n) -> str:
    """One random operator act that the registry accepts; its name."""
    acts = ["issue", "suspend", "reinstate", "revoke", "withdraw", "surveil", "fail", "renew",
            "scope", "product", "enterprise", "issue_new"]
    while True:
        name = rng.choice(acts)
        valid, suspended = _certs(reg, "valid"), _certs(reg, "suspended")
        try:
            if name == "issue" and _free_products(reg):
                reg.issue(product=rng.choice(_free_products(reg)), body=rng.choice(("CQC", "TUVSUD")),
                          standards=rng.choice(([GENERAL], [GENERAL, GROUP])), scope=SCOPE,
                          expires="2028-05-31", evaluation=EVALUATION,
                          programme=rng.choice(("SZZZ", "SZSC")))
            elif name == "issue_new":
                reg.issue(product=_new_product(reg, rng, n), body="TUVSUD", standards=[GROUP],
                          scope=SCOPE, expires="2028-05-31", evaluation=EVALUATION)
            elif name == "suspend" and valid:
                reg.suspend(rng.choice(valid), f"随机暂停 {n}")
            elif name == "reinstate" and suspended:
                reg.reinstate(rng.choice(suspended), f"随机恢复 {n}")
            elif name == "revoke" and valid + suspended:
                reg.revoke(rng.choice(valid + suspended), f"随机撤销 {n}",
                           notice=rng.choice((None, f"公告 {n}")))
            elif name == "withdraw" and valid + suspended:
                reg.withdraw(rng.choice(valid + suspended), f"随机注销 {n}")
            elif name in ("surveil", "fail") and valid:
                reg.record_surveillance(rng.choice(valid), name == "surveil", reason=f"监督 {n}")
            elif name == "renew" and valid:
                reg.renew(rng.choice(valid), "2029-05-31")
            elif name == "scope" and valid:
                reg.change_scope(rng.choice(valid), f"{SCOPE}（范围 {n}）", f"范围变更 {n}")
            elif name == "product":
                _new_product(reg, rng, n)
            elif name == "enterprise":
                uscc = make_uscc(100 + n)
                if reg.db.execute("select 1 from enterprises where uscc = ?", [uscc]).fetchone():
                    continue
                reg.add_enterprise({"uscc": uscc, "name_zh": f"苏州随机企业{n}有限公司",
                                    "district": rng.choice(("姑苏区", "吴江区", "吴中区")),
                                    "industry": rng.choice(("C3562", "C3989", "C1781"))})
            else:
                continue
        except RegistryError:
            continue  # an act the lifecycle refuses here (e.g. renewing too early): pick again
        return name


@pytest.fixture(scope="module")
def base(make_registry, tmp_path_factory):
    """A tiny registry (two bodies, five products, four certificates, one suspended),
    its state, its full render with pages of ``per_page`` (made once each) and its
    public database: the start of every sequence."""
    built = make_registry(certificates=4, products=5, programmes=("SZZZ", "SZSC"), suspend=True)
    sites = {}

    def site_for(per_page):
        if per_page not in sites:
            sites[per_page] = tmp_path_factory.mktemp(f"base-site-{per_page}") / "site"
            Site(built.db, per_page).render(sites[per_page])
        return sites[per_page]

    db = schema.connect(built.db, readonly=True)
    try:
        public = tmp_path_factory.mktemp("base-public") / "registry.db"
        export.export_public_db(db, public)
        return built, site_for, state(db), public
    finally:
        db.conn.close()


def public_step(db, changes, previous, out_dir, name):
    """The public database of an incremental build from ``previous`` and of a full
    one, for registry ``db``; (incremental file, full file, changed rows)."""
    incremental_db, full_db = out_dir / f"inc-{name}.db", out_dir / f"full-{name}.db"
    rows = dbdelta.changed_rows(db, changes)
    dbdelta.update_public_db(db, previous, incremental_db, rows, statuses=history.replayed_statuses(db))
    export.export_public_db(db, full_db)
    return incremental_db, full_db, rows


def hard_link_copy(site, target):
    """A copy of ``site`` made of hard links (what a clone of the served build is)."""
    shutil.copytree(site, target, copy_function=os.link)
    shutil.copyfile(figures_of(site), figures_of(target))
    return target


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_random_sequences_incremental_equals_full(base, tmp_path, chunk, monkeypatch):
    built, base_site_for, base_state, base_public = base
    # Half of the chunks update every list from windows around its changes (what
    # the long lists of a large registry do), half from the whole list.
    monkeypatch.setattr(lists, "WINDOW_COST", 0 if chunk % 2 else 10**9)
    # Windows read a few certificates at a time, down to one (a batch ends at a page start).
    monkeypatch.setattr(lists, "WINDOW_BATCH", (4, 0.5, 1, 0.5)[chunk // 2 % 4])
    # Pages start at different certificates for each per_page (paging.py).
    per_page = (2, 2, 3, 3, 4, 4, 2, 3)[chunk % 8]
    base_site = base_site_for(per_page)
    reused = incremental_steps = 0
    ways = set()
    for sequence in range(chunk, SEQUENCES, CHUNKS):
        rng = random.Random(sequence)
        work = built.copy_to(tmp_path / f"seq{sequence}")
        # Earlier outputs of this sequence, newest last: [site, state, whole,
        # public database]. A taken output gives up its pages: it is no longer whole.
        outputs = [[hard_link_copy(base_site, tmp_path / f"base{sequence}"), base_state, True, base_public]]
        # Datasette's live database follows the same builds, given only their changed rows.
        live = tmp_path / f"live{sequence}" / "registry.db"
        livedb.replace(live, base_public)
        for step in range(rng.randint(*STEPS)):
            with work.open() as reg:
                name = act(reg, rng, sequence * 10 + step)
            whole = [o for o in outputs[-2:] if o[2]]
            source = rng.choice(whole)
            take = rng.random() < 0.5
            where = (f"sequence {sequence}, step {step} ({name}), from {len(outputs) - outputs.index(source)} "
                     f"step(s) back, {'taken' if take else 'hard-linked'}")
            db = schema.connect(work.db, readonly=True)
            try:
                now = state(db)
                changes = incremental.changes_since(db, source[1], now)
                assert changes is not None, f"{where}: no incremental build was possible"
                public, full_public, rows = public_step(db, changes, source[3], tmp_path, f"{sequence}-{step}")
            finally:
                db.conn.close()
            site, full = tmp_path / f"inc{sequence}-{step}", tmp_path / f"full{sequence}-{step}"
            generator = Site(work.db, per_page).render(site, changes, source[0], take=take)
            source[2] = source[2] and not take
            Site(work.db, per_page).render(full)
            assert_same_tree(site, full, where)
            assert figures_of(site).read_bytes() == figures_of(full).read_bytes(), \
                f"{where}: the figures brought up to date differ from those counted anew"
            expected = dbrows.content_digest(full_public)
            assert dbrows.content_digest(public) == expected, f"{where}: public database differs"
            # The live database holds the previous step's rows; the changed rows
            # counted from an older output include the last step's.
            livedb.update(live, public, rows)
            assert dbrows.content_digest(live) == expected, f"{where}: live database differs"
            reused += generator.reused
            ways |= {f"{what} {how}" for what, how in generator.ways.items()}
            incremental_steps += 1
            shutil.rmtree(full)
            full_public.unlink()
            outputs.append([site, now, True, public])
        shutil.rmtree(work.base)
    # Not a full render in disguise: most pages came from an earlier step, the
    # sitemap and search index were patched in place as well as rewritten, and
    # the figures brought up to date.
    assert incremental_steps and reused > 10 * incremental_steps
    assert {"sitemap patched", "sitemap written", "search updated", "search written",
            "figures updated"} <= ways, ways


def test_public_database_follows_renamed_products_and_enterprises(make_registry, tmp_path):
    """Rows that change without an event (an operator corrects a product's or an
    enterprise's name): their certificates' rows (``product_name_zh``,
    ``enterprise_name_zh``) and search text change with them. With a new
    certificate in the same build (new rows, new index rows), the incremental
    public database, and the live database given only the changed rows,
    equal a full export; the new names are found by search."""
    built = make_registry(certificates=4, products=5, programmes=("SZZZ", "SZSC"), suspend=True)
    db = schema.connect(built.db, readonly=True)
    try:
        before = state(db)
        previous = tmp_path / "previous.db"
        export.export_public_db(db, previous)
        product, enterprise = db.execute(
            "select c.product, p2.enterprise from certificates c, certificates c2 "
            "join products p2 on p2.id = c2.product where c.cert_no = ? and c2.cert_no = ?",
            built.cert_nos[:2]).fetchone()
    finally:
        db.conn.close()
    live = tmp_path / "live" / "registry.db"
    livedb.replace(live, previous)
    with built.open() as reg:
        reg.issue(product=_new_product(reg, random.Random(1), 1), body="TUVSUD", standards=[GROUP],
                  scope=SCOPE, expires="2028-05-31", evaluation=EVALUATION)
        with schema.write_transaction(reg.db):
            reg.db.execute("update products set name_zh = '更正名称围巾' where id = ?", [product])
            reg.db.execute("update enterprises set name_zh = '苏州更正名称有限公司' where uscc = ?", [enterprise])
    db = schema.connect(built.db, readonly=True)
    try:
        changes = incremental.changes_since(db, before, state(db))
        assert changes.products and changes.enterprises == (enterprise,)
        public, full, rows = public_step(db, changes, previous, tmp_path, "renamed")
        renamed = sorted(r[0] for r in db.execute(
            "select cert_no from certificates where product = ? or product in "
            "(select id from products where enterprise = ?)", [product, enterprise]))
    finally:
        db.conn.close()
    assert dbrows.content_digest(public) == dbrows.content_digest(full)
    assert set(renamed) <= set(rows["certificates"]) and len(renamed) >= 2
    assert_same_rows(public, full, "renamed product and enterprise")
    livedb.update(live, public, rows)
    assert dbrows.content_digest(live) == dbrows.content_digest(full)
    for path in (public, live):
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            for term in ("更正名称围巾", "更正名称有限"):
                found = sorted(r[0] for r in conn.execute(
                    "select c.cert_no from certificates_fts f join certificates c on c.rowid = f.rowid "
                    "where certificates_fts match ?", [export.fts_query(term)]))
                assert found and set(found) <= set(renamed), (path, term, found)
        finally:
            conn.close()


# ------------------------------------------------------------ whole builds

def run_build(built, out, **kwargs):
    """A whole build, published on the registry's today: the cosignature carries
    its signing time, so builds seconds apart would differ in that line only."""
    with builders.signed_on(builders.TODAY):
        return publish.build(built.db, out, keys_dir=built.keys, site_url=SITE_URL,
                             passphrase=built.passphrase, **kwargs)


def reusable_files(build_dir) -> dict:
    """What an incremental build may reuse of the build ``build_dir``: for the
    api's certificate files and the marks, the directory's inode and each
    file's ``(inode, bytes)``."""
    site = Path(build_dir) / "site"
    return {part: (directory.stat().st_ino,
                   {p.name: (p.stat().st_ino, p.read_bytes()) for p in directory.iterdir()})
            for part, directory in (("api", site / "api" / "certificates"), ("marks", site / "marks"))}


def test_whole_build_incremental_equals_full(make_registry, tmp_path):
    built = make_registry(certificates=4, products=5, programmes=("SZZZ", "SZSC"), suspend=True)
    out = tmp_path / "out"
    spare_path = Output(out).spare
    assert run_build(built, out)["incremental"] is False  # no previous build
    # A full build leaves a hard-link copy of itself as the spare (the build
    # before it, of other code, is no use), without what no build takes from
    # a spare: the next revocation need not clone the served pages.
    served = Path(os.path.realpath(out))
    assert {".build-state.json", "site"} <= {p.name for p in spare_path.iterdir()}
    assert not (spare_path / "data").exists()
    assert not (spare_path / "site" / "api" / "status").exists()
    assert not (spare_path / "site" / "downloads").exists() and not (spare_path / "site" / "log").exists()
    assert all((spare_path / p.relative_to(served)).stat().st_ino == p.stat().st_ino
               for p in (served / "site" / "certificates").glob("*/index.html"))
    # The first step goes without it (as after a build killed after claiming
    # it): the served build's files are then linked one by one.
    shutil.rmtree(spare_path)
    # The reference: full builds of the same states into an output of its own.
    # It must have published the same checkpoints, whose partial tiles the log
    # keeps until their full tile exists (C2SP tlog-tiles): the log's history,
    # not only the registry, decides which files a build holds.
    full = tmp_path / "full"
    assert run_build(built, full, full=True)["incremental"] is False
    rng = random.Random(7)
    # Acts that leave the spare behind: a certificate changed in the build
    # before (its file and mark in the spare are stale), one issued since the
    # spare (in no file of it), one that leaves or regains the mark.
    scripted = {1: "issue_new", 2: "reinstate"}
    history_of_reuse = [reusable_files(os.path.realpath(out))]
    status_inodes = [status_files(os.path.realpath(out))]
    for step in range(4):
        before = Path(os.path.realpath(out))
        page = before / "site" / "certificates"
        old_pages = {p: (p.stat().st_ino, p.read_bytes()) for p in page.glob("*/index.html")}
        old_status = status_files(before)
        # A second name for the previous build's public database: it outlives
        # that build's deletion after the switch, and shows any write into it.
        kept = tmp_path / f"previous-{step}.db"
        os.link(before / "data" / "registry.db", kept)
        old_public = kept.read_bytes()
        with built.open() as reg:
            name = act(reg, rng, step) if step not in scripted else scripted_act(reg, scripted[step], step)
        summary = run_build(built, out)
        where = f"step {step} ({name})"
        assert summary["incremental"] is True and summary["public_db"] == "updated", where
        # The first incremental build links the pages, certificate files and
        # marks of the build before it; the next ones take those of the spare
        # (the build before that one).
        source = "current" if step == 0 else "spare"
        assert (summary["pages_from"], summary["api_from"], summary["marks_from"]) == (source,) * 3, where
        assert run_build(built, full, full=True)["public_db"] == "exported"
        assert_same_tree(out, full, where)
        assert summary["marks"] * 2 == len(os.listdir(out / "site" / "marks")), where  # an SVG and a PNG each
        assert_same_rows(out / "data" / "registry.db", full / "data" / "registry.db", where)
        # The previous build's public database (being served) was copied, never written.
        assert kept.read_bytes() == old_public, where
        assert (out / "site" / "downloads" / "registry.db").samefile(out / "data" / "registry.db")
        # The build that was served until the switch (now the spare) was never
        # written through a shared file: its pages, certificate files and marks
        # have the bytes they had.
        assert spare_path.is_dir(), where
        for p, (_, data) in old_pages.items():
            assert (spare_path / p.relative_to(before)).read_bytes() == data, \
                f"{where}: {p.relative_to(before)} of the previous build was changed in place"
        for part, (_, files) in history_of_reuse[-1].items():
            directory = spare_path / "site" / ("api/certificates" if part == "api" else "marks")
            assert {n: data for n, (_, data) in files.items()} == \
                {p.name: p.read_bytes() for p in directory.iterdir()}, f"{where}: the previous build's {part} changed"
        # Reused pages are the previous build's files (hard links).
        after = Path(os.path.realpath(out)) / "site" / "certificates"
        shared = [p for p, (ino, _) in old_pages.items()
                  if (after / p.relative_to(page)).stat().st_ino == ino]
        assert shared, f"{where}: no page was reused from the previous build"
        # Certificate files and marks change only with their certificate: the
        # others are the reused build's files — linked from the previous build,
        # or the spare's directory itself, moved in (the same inode), in which
        # only the changed certificates' files were replaced.
        now = reusable_files(os.path.realpath(out))
        reused = history_of_reuse[-1] if step == 0 else history_of_reuse[-2]
        for part, (dir_ino, files) in now.items():
            was_dir_ino, was_files = reused[part]
            if step > 0:
                assert dir_ino == was_dir_ino, f"{where}: {part} was not the spare's directory, moved in"
            unchanged = [n for n, (_, data) in was_files.items() if n in files and files[n][1] == data]
            assert unchanged, f"{where}: no {part} file was reused"
            rewritten = [n for n in unchanged if files[n][0] != was_files[n][0]]
            assert not rewritten, f"{where}: unchanged {part} files written again instead of reused: {rewritten}"
        history_of_reuse.append(now)
        # The status buckets, signed anew each build, are the spare's files
        # rewritten in place (not one new inode each); the served build's keep their bytes.
        assert {n: data for n, (_, data) in old_status.items()} == \
            {n: data for n, (_, data) in status_files(spare_path).items()}, f"{where}: the served status files changed"
        status_inodes.append(status_files(os.path.realpath(out)))
        if step > 0:  # a bucket new since the spare (a new certificate's) is a new file
            now_status, spare_status = status_inodes[-1], status_inodes[-3]
            assert [n for n in spare_status if now_status[n][0] != spare_status[n][0]] == [], \
                f"{where}: not the spare's files"


def status_files(build) -> dict:
    """``{name: (inode, bytes)}`` of the status buckets of ``build`` (a build directory)."""
    return {p.name: (p.stat().st_ino, p.read_bytes()) for p in (Path(build) / "site" / "api" / "status").iterdir()}


def test_a_full_build_whose_spare_cannot_be_made_is_published_and_says_so(make_registry, tmp_path, monkeypatch):
    """The spare is made after the switch: when its copy fails (a full disk),
    the build is served all the same and the error says both, leaving no
    half-made spare; the next build does without one."""
    built = make_registry(certificates=2, products=2)
    out = tmp_path / "out"

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fs, "link_copy", full_disk)
    with pytest.raises(BuildError, match="now points at the new build, but its spare could not be made"):
        run_build(built, out)
    monkeypatch.undo()
    assert (out / "site" / "api" / "status.json").is_file() and not Output(out).spare.exists()
    assert [p.name for p in tmp_path.glob(".out.build-*")] == [os.readlink(out)]  # no half-made copy left
    with built.open() as reg:
        reg.suspend(_certs(reg, "valid")[0], "暂停 spare")
    summary = run_build(built, out)
    assert summary["incremental"] and summary["pages_from"] == "current"


def scripted_act(reg, name, n) -> str:
    """The act ``name`` of :func:`act`, on the first certificate it applies to."""
    if name == "issue_new":
        reg.issue(product=_new_product(reg, random.Random(n), n), body="TUVSUD", standards=[GROUP],
                  scope=SCOPE, expires="2028-05-31", evaluation=EVALUATION)
    elif name == "reinstate" and _certs(reg, "suspended"):
        reg.reinstate(_certs(reg, "suspended")[0], f"恢复 {n}")
    elif name == "reinstate":  # the random act before revoked the suspended one
        reg.suspend(_certs(reg, "valid")[0], f"暂停 {n}")
        return "suspend"
    else:
        raise AssertionError(f"no scripted act {name!r}")
    return name


def test_changed_code_or_options_make_a_full_build(make_registry, tmp_path):
    built = make_registry(certificates=2)
    out = tmp_path / "out"
    os.environ["SZZZ_PASSPHRASE"] = built.passphrase.decode()
    common = {"render_site": publish.run_pelican, "assets": publish.ASSETS, "keys_dir": built.keys,
              "site_url": SITE_URL}
    building.build(built.db, out, code_digest="one", **common)
    with built.open() as reg:
        reg.suspend(built.cert_nos[0], "暂停")
    assert building.build(built.db, out, code_digest="two", **common)["incremental"] is False
    with built.open() as reg:
        reg.reinstate(built.cert_nos[0], "恢复")
    assert building.build(built.db, out, code_digest="two", **common)["incremental"] is True
    assert building.build(built.db, out, code_digest="two", datasette_url="http://127.0.0.1:9/",
                          **common)["incremental"] is False


def test_changed_certificates_since(make_registry):
    built = make_registry(certificates=3)
    db = schema.connect(built.db, readonly=True)
    try:
        last = db.execute("select max(seq) from events").fetchone()[0]
    finally:
        db.conn.close()
    with built.open() as reg:
        reg.suspend(built.cert_nos[2], "暂停")
        reg.revoke(built.cert_nos[0], "撤销")
    db = schema.connect(built.db, readonly=True)
    try:
        assert incremental.changed_certificates(db, last) == sorted([built.cert_nos[0], built.cert_nos[2]])
        assert incremental.changed_certificates(db, last + 2) == []
    finally:
        db.conn.close()


def test_watch_publishes_a_revocation_made_by_another_process(make_registry, tmp_path):
    """``publish.py watch`` on a real registry: ``szzz cert revoke`` in another
    process, and the published certificate file says revoked, by an
    incremental build, without anyone asking."""
    built = make_registry(certificates=3)
    out = tmp_path / "out"
    env = dict(os.environ, SZZZ_PASSPHRASE=built.passphrase.decode(), PYTHONPATH=str(publish.ROOT),
               SZZZ_TODAY=built.today)
    log_path = tmp_path / "watch.log"
    with open(log_path, "w") as log_file:
        watcher = subprocess.Popen(
            [sys.executable, str(publish.ROOT / "publish.py"), "watch", "--db", str(built.db),
             "--out", str(out), "--keys", str(built.keys), "--site-url", SITE_URL],
            stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=publish.ROOT)
    try:
        def built_lines():
            return [line for line in log_path.read_text().splitlines() if line.startswith("built ")]

        deadline = time.monotonic() + 300
        while not built_lines():
            assert watcher.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "no first build: " + log_path.read_text()
            time.sleep(0.2)
        cert_no = built.cert_nos[1]
        api_file = out / "site" / "api" / "certificates" / f"{cert_no}.json"
        assert json.loads(api_file.read_text())["status"] == "valid"
        subprocess.run([sys.executable, "-m", "registry", "cert", "revoke", "--db", str(built.db),
                        "--keys", str(built.keys), cert_no, "--reason", "监督抽查不合格"],
                       check=True, env=env, cwd=publish.ROOT, capture_output=True)
        while json.loads(api_file.read_text())["status"] != "revoked":
            assert watcher.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the revocation was never published: " + \
                log_path.read_text()
            time.sleep(0.2)
        page = (out / "site" / "certificates" / cert_no / "index.html").read_text()
        assert "不得使用认证标志" in page
        # The line is printed once the build returns, just after its switch.
        while len(built_lines()) < 2:
            assert watcher.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "no line for the second build: " + log_path.read_text()
            time.sleep(0.2)
        assert "incremental, 1 certificate(s) changed" in built_lines()[1], built_lines()
    finally:
        watcher.terminate()
        watcher.wait(timeout=120)


def test_change_feed_links_complete_pages_of_the_previous_build(make_registry, tmp_path, monkeypatch):
    """A complete change-feed page never changes: an incremental build links it
    from the previous build, and the feed equals one written whole."""
    monkeypatch.setattr(changefeed, "PAGE_SIZE", 4)
    built = make_registry(certificates=3, surveillance="2023-03-01")
    db = schema.connect(built.db, readonly=True)
    try:
        changefeed.write_change_feed(db, tmp_path / "before", as_of="2025-06-01T15:59:59Z")
    finally:
        db.conn.close()
    with built.open() as reg:
        for cert_no in built.cert_nos:
            reg.suspend(cert_no, "暂停")
    db = schema.connect(built.db, readonly=True)
    try:
        previous = tmp_path / "before" / "api" / "events"
        changefeed.write_change_feed(db, tmp_path / "inc", as_of="2025-06-02T15:59:59Z",
                                     previous_dir=previous)
        changefeed.write_change_feed(db, tmp_path / "full", as_of="2025-06-02T15:59:59Z")
    finally:
        db.conn.close()
    assert_same_tree(tmp_path / "inc", tmp_path / "full", "change feed")
    linked = [p.name for p in (tmp_path / "inc" / "api" / "events").iterdir()
              if (previous / p.name).exists() and p.stat().st_ino == (previous / p.name).stat().st_ino]
    assert linked and "index.json" not in linked
