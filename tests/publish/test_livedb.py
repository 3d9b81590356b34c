"""The live public database: updated in place, equal to a fresh export, never down.

Datasette serves ``.<OUT>.live/registry.db`` (``registry.publish.livedb``),
brought to each build's fresh export by one write transaction. Checked here:

* one truth: after random sequences of operations (suspend, reinstate,
  revoke, withdraw, scope change, renewal, new certificates, enterprises and
  notices), each followed by a publish, the live database has the fresh
  export's schema, the same rows in every table, the same full-text index
  content and the same search results; publishing an *older* export
  (deleted rows) works too;
* after incremental builds (the previous build's file with the changed rows
  rewritten, ``registry.publish.dbdelta``) only the changed rows are
  compared, and only when the build was made from the one the live copy
  holds: a skipped build or a failed publish makes the next compare all;
* a real Datasette on 127.0.0.1 (``publish.datasette_command``, as ``serve``
  runs it) polled by several clients throughout a series of publishes: no
  refused or failed request, and every answer is the state of one publish,
  never a mix (a certificate's status, last event, event and revision counts
  and the registry's last event read in one SQL query), in publish order —
  for publishes of full exports and of incremental builds alike.
"""

import contextlib
import json
import random
import shutil
import sqlite3
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest
from builders import PORTAL_REGISTRY, make_uscc
from helpers import free_port, wait_for_http

import publish
from registry.core.exceptions import BuildError
from registry.publish import dbdelta, export, incremental, livedb, opendata
from registry.store import history, schema

FTS_SUFFIXES = ("_fts", "_fts_config", "_fts_content", "_fts_data", "_fts_docsize", "_fts_idx")
SEARCH_TERMS = ("苏州", "吴中", "有限公司", "测试", "suzhou", "丝", "范围变更", "新产品")


def export_to(db_path, target):
    db = schema.connect(db_path, readonly=True)
    try:
        export.export_public_db(db, target)
    finally:
        db.conn.close()


def publish_data(registry, data_dir):
    """A build's ``data/``: the fresh export and the metadata (as ``build`` writes them)."""
    data_dir.mkdir(exist_ok=True)
    export_to(registry.db, data_dir / "registry.db")
    (data_dir / "metadata.yml").write_text(opendata.metadata_yaml(site_url="http://127.0.0.1:8000"),
                                           encoding="utf-8")


class DataBuilds:
    """Builds' ``data/`` directories of one registry, one after another, each with
    its build state, as ``publish.build`` makes them: the first a full export,
    each next one the previous one's file with the changed rows rewritten
    (a full export when a registry-wide table changed, e.g. a new notice)."""

    def __init__(self, registry, root):
        self.registry, self.root, self.made = registry, root, []

    def next(self):
        """A new build of the registry as it is now: ``(data directory, state)``."""
        data = self.root / f"build{len(self.made)}" / "data"
        data.mkdir(parents=True)
        db = schema.connect(self.registry.db, readonly=True)
        try:
            state = incremental.state_of(db, incremental.inputs_digest(db, code="test", options={}))
            previous = self.made[-1] if self.made else None
            changes = incremental.changes_since(db, previous[1], state) if previous else None
            if changes is None:
                export.export_public_db(db, data / "registry.db")
            else:
                rows = dbdelta.changed_rows(db, changes)
                dbdelta.update_public_db(db, previous[0] / "registry.db", data / "registry.db", rows,
                                         statuses=history.replayed_statuses(db))
                incremental.record_public_db(state, previous[1], rows)
        finally:
            db.conn.close()
        (data / "metadata.yml").write_text(opendata.metadata_yaml(site_url="http://127.0.0.1:8000"),
                                           encoding="utf-8")
        self.made.append((data, state))
        return data, state


def content(path) -> dict:
    """Everything a reader can see: schema, every table's rows (sorted), each FTS
    table's (key, indexed text) and the keys each search term finds."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = {"schema": conn.execute(
            "select type, name, tbl_name, sql from sqlite_master where name not like 'sqlite_%' "
            "order by type, name").fetchall()}
        for (name,) in conn.execute("select name from sqlite_master where type = 'table' "
                                    "and name not like 'sqlite_%' order by name").fetchall():
            if not name.endswith(FTS_SUFFIXES):
                out[name] = sorted(conn.execute(f'select * from "{name}"').fetchall(), key=repr)
        for table, (key, _columns) in export.FTS_SOURCES.items():
            out[f"{table}_fts"] = sorted(conn.execute(
                f'select t."{key}", f.text, f."{key}" from "{table}_fts" f '
                f'join "{table}" t on t.rowid = f.rowid').fetchall(), key=repr)
            out[f"{table}_fts rows"] = conn.execute(f'select count(*) from "{table}_fts"').fetchone()[0]
            for term in SEARCH_TERMS:
                out[f"{table} search {term}"] = sorted(r[0] for r in conn.execute(
                    f'select t."{key}" from "{table}_fts" f join "{table}" t on t.rowid = f.rowid '
                    f'where "{table}_fts" match ?', [export.fts_query(term)]))
        return out
    finally:
        conn.close()


def assert_same(live, fresh):
    a, b = content(live), content(fresh)
    assert a.keys() == b.keys()
    different = [k for k in a if a[k] != b[k]]
    assert not different, f"live differs from the fresh export in {different}"


def random_operation(reg, rng, n):
    """One operator's act on the registry; returns what it did."""
    by_status = {}
    for no, status in reg.db.execute("select cert_no, status from certificates order by cert_no"):
        by_status.setdefault(status, []).append(no)
    valid, suspended = by_status.get("valid", []), by_status.get("suspended", [])
    choices = ["issue", "enterprise", "notice"]
    if valid:
        choices += ["suspend", "revoke", "withdraw", "scope", "renew", "suspend"]
    if suspended:
        choices += ["reinstate", "reinstate"]
    op = rng.choice(choices)
    if op == "suspend":
        reg.suspend(rng.choice(valid), f"监督审核未通过 {n}")
    elif op == "reinstate":
        reg.reinstate(rng.choice(suspended), f"整改完成 {n}")
    elif op == "revoke":
        reg.revoke(rng.choice(valid), f"监督抽查不合格 {n}")
    elif op == "withdraw":
        reg.withdraw(rng.choice(valid), f"企业申请注销 {n}")
    elif op == "scope":
        reg.change_scope(rng.choice(valid), f"范围变更：丝绸制品 {n}", "范围调整 scope changed")
    elif op == "renew":
        reg.renew(rng.choice(valid), "2030-12-31")
    elif op == "notice":
        reg.publish_notice("notice", f"苏州制造通报 {n}", f"测试通报正文 Suzhou notice {n}")
    else:
        if op == "enterprise":
            enterprise = reg.add_enterprise({"uscc": make_uscc(900_000 + n), "name_zh": f"苏州新测试有限公司{n}",
                                             "district": "吴中区", "industry": "C1751"})
        else:
            enterprise = rng.choice([r[0] for r in reg.db.execute("select uscc from enterprises")])
        product = reg.add_product({"enterprise": enterprise, "name_zh": f"新产品丝巾{n}",
                                   "models": [f"LIVE-{n}"]})
        body = rng.choice([r[0] for r in reg.db.execute("select code from bodies order by code")])
        standard = reg.db.execute("select code from standards order by code limit 1").fetchone()[0]
        reg.issue(product=product, body=body, standards=[standard], scope="测试范围", expires="2029-12-31",
                  evaluation={"innovation": 80, "quality": 81, "service": 82, "reputation": 83,
                              "recognition": 84})
    return op


def a_valid_certificate(reg):
    return reg.db.execute("select cert_no from certificates where status = 'valid' "
                          "order by cert_no limit 1").fetchone()[0]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_live_database_equals_a_fresh_export_after_each_publish(make_registry, tmp_path, seed):
    registry = make_registry(**PORTAL_REGISTRY)
    rng = random.Random(seed)
    live_dir = tmp_path / "live"
    data = tmp_path / "data"
    publish_data(registry, data)
    first = livedb.publish(data, live_dir)
    assert first["restart"]  # created
    assert sqlite3.connect(live_dir / "registry.db").execute("pragma journal_mode").fetchone()[0] == "wal"
    assert_same(live_dir / "registry.db", data / "registry.db")
    shutil.copy(data / "registry.db", tmp_path / "before.db")
    done = []
    for n in range(8):
        with contextlib.closing(registry.open()) as reg:
            done.append(random_operation(reg, rng, n))
        publish_data(registry, data)
        result = livedb.publish(data, live_dir)
        assert not result["restart"] and result["changes"], done
        assert_same(live_dir / "registry.db", data / "registry.db")
    # Going back to an older export (a restored backup): rows are deleted too.
    shutil.copy(tmp_path / "before.db", data / "registry.db")
    result = livedb.publish(data, live_dir)
    assert result["changes"]["events"]["deleted"] == 8, result
    assert_same(live_dir / "registry.db", data / "registry.db")
    # Nothing to do: nothing written.
    assert livedb.publish(data, live_dir)["changes"] == {}


def test_after_an_incremental_build_only_its_changed_rows_are_compared(make_registry, tmp_path):
    """The live database follows builds made incrementally, each one compared on
    its changed rows only (its state names them and the build it was made from);
    a full build, a skipped build or a publish that failed compares every row.
    Each time the live database equals the build's."""
    registry = make_registry(**PORTAL_REGISTRY)
    rng = random.Random(11)
    live_dir = tmp_path / "live"
    builds = DataBuilds(registry, tmp_path)
    data, state = builds.next()
    assert livedb.publish(data, live_dir, state=state)["restart"]
    assert livedb.mirrored(live_dir) == incremental.state_id(state)
    compared = []
    for n in range(8):
        with contextlib.closing(registry.open()) as reg:
            op = random_operation(reg, rng, n)
        data, state = builds.next()
        result = livedb.publish(data, live_dir, state=state)
        expected = "changed rows" if "public_db" in state else "all rows"
        assert result["compared"] == expected and result["changes"], (op, result)
        assert_same(live_dir / "registry.db", data / "registry.db")
        compared.append(result["compared"])
    assert "changed rows" in compared
    # A build skipped: the next one was not made from the build the live copy holds.
    for n in (8, 9):
        with contextlib.closing(registry.open()) as reg:
            reg.suspend(a_valid_certificate(reg), f"监督审核未通过 {n}")
        data, state = builds.next()
    assert "public_db" in state
    assert livedb.publish(data, live_dir, state=state)["compared"] == "all rows"
    assert_same(live_dir / "registry.db", data / "registry.db")
    # A publish that fails leaves the live copy as it was, and the next compares every row.
    with contextlib.closing(registry.open()) as reg:
        reg.revoke(a_valid_certificate(reg), "监督抽查不合格")
    data, state = builds.next()
    assert "public_db" in state
    bad = {**state, "public_db": {**state["public_db"], "rows": {"secret_notes": [1]}}}
    with pytest.raises(BuildError, match="secret_notes"):
        livedb.publish(data, live_dir, state=bad)
    assert_same(live_dir / "registry.db", builds.made[-2][0] / "registry.db")
    assert livedb.mirrored(live_dir) is None
    assert livedb.publish(data, live_dir, state=state)["compared"] == "all rows"
    assert_same(live_dir / "registry.db", data / "registry.db")


def test_a_new_schema_or_metadata_replaces_the_live_database(make_registry, tmp_path):
    registry = make_registry(**PORTAL_REGISTRY)
    data, live_dir = tmp_path / "data", tmp_path / "live"
    publish_data(registry, data)
    livedb.publish(data, live_dir)
    stopped = []
    (data / "metadata.yml").write_text("title: changed\n", encoding="utf-8")
    assert livedb.publish(data, live_dir, stop_readers=lambda: stopped.append(1))["restart"]
    assert stopped == [1] and (live_dir / "metadata.yml").read_text(encoding="utf-8") == "title: changed\n"
    with contextlib.closing(sqlite3.connect(data / "registry.db")) as conn:
        conn.execute("create index idx_extra on certificates (scope)")
    assert livedb.publish(data, live_dir, stop_readers=lambda: stopped.append(2))["restart"]
    assert stopped == [1, 2]
    assert_same(live_dir / "registry.db", data / "registry.db")


# ------------------------------------------------------ a real Datasette

STATE_SQL = ("select c.status, c.last_seq, "
             "(select count(*) from events e where e.cert_no = c.cert_no) as events, "
             "(select count(*) from certificate_revisions r where r.cert_no = c.cert_no) as revisions, "
             "(select max(seq) from events) as latest, (select count(*) from certificates) as certificates "
             "from certificates c where c.cert_no = :n")


def state_of(path, cert_no):
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.execute(STATE_SQL, {"n": cert_no}).fetchone())
    finally:
        conn.close()


class Poller(threading.Thread):
    """Asks Datasette for the tracked certificate's state until stopped; each request on a new connection."""

    def __init__(self, base, cert_no, stop):
        super().__init__(daemon=True)
        self.url = f"{base}/registry.json?" + urllib.parse.urlencode(
            {"sql": STATE_SQL, "n": cert_no, "_shape": "array"})
        self.row_url = f"{base}/registry/certificates/{urllib.parse.quote(cert_no)}.json?_shape=array"
        self.stop, self.seen, self.failures = stop, [], []

    def run(self):
        while not self.stop.is_set():
            for url in (self.url, self.row_url):
                try:
                    with urllib.request.urlopen(url, timeout=30) as response:
                        body = json.load(response)
                except Exception as e:  # noqa: BLE001 - every failure is recorded and asserted on
                    self.failures.append(f"{url}: {e!r}")
                    continue
                if url == self.url:
                    self.seen.append(list(body[0].values()))
                else:
                    self.seen.append(("row", body[0]["status"], body[0]["last_seq"]))


@pytest.mark.parametrize("builds", ["full", "incremental"])
def test_datasette_answers_every_request_during_publishes(make_registry, tmp_path, builds):
    """Publishes of full exports (every row compared), or of incremental builds
    (only their changed rows compared): either way one transaction each."""
    registry = make_registry(**PORTAL_REGISTRY)
    cert_no = registry.valid[0]
    rng = random.Random(7)
    live_dir = tmp_path / "live"
    made = DataBuilds(registry, tmp_path)

    def new_build():
        if builds == "incremental":
            return made.next()
        publish_data(registry, tmp_path / "data")
        return tmp_path / "data", None

    data, state = new_build()
    livedb.publish(data, live_dir, state=state)
    states = [state_of(data / "registry.db", cert_no)]
    compared = []
    port = free_port()
    server = publish.datasette_command(live_dir, port)
    proc = subprocess.Popen(server, cwd=publish.ROOT)
    stop = threading.Event()
    pollers = []
    try:
        wait_for_http(f"http://127.0.0.1:{port}/-/versions.json", timeout=60)
        pollers = [Poller(f"http://127.0.0.1:{port}", cert_no, stop) for _ in range(4)]
        for p in pollers:
            p.start()
        time.sleep(0.5)
        for n in range(6):
            with contextlib.closing(registry.open()) as reg:
                # The tracked certificate changes every time; others now and then.
                if states[-1][0] == "valid":
                    reg.suspend(cert_no, f"监督审核未通过 {n}")
                else:
                    reg.reinstate(cert_no, f"整改完成 {n}")
                random_operation(reg, rng, n)
            data, state = new_build()
            states.append(state_of(data / "registry.db", cert_no))
            result = livedb.publish(data, live_dir, state=state)
            assert not result["restart"]
            compared.append(result["compared"])
            time.sleep(0.3)
    finally:
        stop.set()
        for p in pollers:
            p.join(timeout=60)
        proc.terminate()
        proc.wait(timeout=20)
    assert len({tuple(s) for s in states}) == len(states)  # every publish changed the tracked state
    assert ("changed rows" in compared) == (builds == "incremental"), compared
    for p in pollers:
        assert not p.failures, p.failures[:5]
        answers = [s for s in p.seen if s[0] != "row"]
        assert len(answers) >= 6, len(answers)
        # Each answer is the state of one publish, and they come in publish order.
        order = [states.index(s) if s in states else None for s in answers]
        assert None not in order, [s for s, o in zip(answers, order, strict=True) if o is None][:3]
        assert order == sorted(order)
        for _row, status, last_seq in (s for s in p.seen if s[0] == "row"):
            assert [status, last_seq] in [s[:2] for s in states]
    assert states[-1] in [s for p in pollers for s in p.seen]
