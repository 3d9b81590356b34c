"""One truth: a build publishes one committed state of the registry, everywhere.

Real processes: ``publish.py build`` runs as a subprocess; it is stopped
(SIGSTOP) right after it announces each of its steps, another process
commits a change to the registry (``szzz cert revoke``, or a status changed
in SQLite without a signed event), and the build is continued. Whatever the
step, every output — the certificate page, its JSON-LD, the status lists, the
public database, the downloads, the api files, the status statement and
snapshot, the change feed, the Atom feed, the site search index and the
log — must tell the same story, and ``szzz audit`` must pass. Then
``szzz check`` and a build run while two processes issue and revoke.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import builders
import pytest
from builders import PASSPHRASE, PORTAL_REGISTRY, copy_registry
from helpers import file_digests

from registry import verify
from registry.core import clock, rules
from registry.store import history, schema
from registry.verify import audit

ROOT = Path(__file__).resolve().parents[2]
SITE_URL = "https://szzz.example.cn"
STEPS = ("snapshot", "validate", "public database", "pelican", "validation result", "verify page",
         "api", "log", "marks", "downloads", "status files", "switch", "spare")
WRITER = Path(__file__).with_name("registry_writer.py")


@pytest.fixture(scope="module")
def base(make_registry):
    return make_registry(**PORTAL_REGISTRY)


def env():
    return dict(os.environ, SZZZ_PASSPHRASE=PASSPHRASE.decode(),
                PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def build_interrupted(db, keys_dir, out, step, act, *, summary=None):
    """Run ``publish.py build``; at ``step``'s announcement stop it, ``act()``, continue it.
    ``summary`` (a list) receives the build's summary line."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "publish.py"), "build", "--db", str(db), "--keys", str(keys_dir),
         "--out", str(out), "--site-url", SITE_URL, "--progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line.rstrip("\n"))
            if line.strip() == f"· {step}":
                os.kill(proc.pid, signal.SIGSTOP)
                try:
                    act()
                finally:
                    os.kill(proc.pid, signal.SIGCONT)
                break
        stdout, stderr = proc.communicate(timeout=300)
        if summary is not None:
            summary.extend(stdout.strip().splitlines()[-1:])
    finally:
        if proc.poll() is None:
            proc.kill()
    assert f"  · {step}" in seen, seen
    return proc.returncode, stderr


def revoke_in_another_process(db, keys_dir, cert_no):
    subprocess.run([sys.executable, "-m", "registry", "cert", "revoke", cert_no, "--db", str(db),
                    "--keys", str(keys_dir), "--reason", "撤销：检测报告造假 forged test report"],
                   check=True, capture_output=True, env=env(), cwd=ROOT)


def tamper_in_another_process(db, cert_no):
    subprocess.run([sys.executable, "-c", ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                    "c.execute(\"update certificates set status = 'revoked' where cert_no = ?\", [sys.argv[2]]); "
                    "c.commit()"), str(db), cert_no], check=True, env=env())


def what_each_output_says(out: Path, cert_no: str) -> dict:
    """The status of ``cert_no`` according to every published output."""
    site, said = out / "site", {}
    page = (site / "certificates" / cert_no / "index.html").read_text(encoding="utf-8")
    said["page"] = re.search(r'data-status="([a-z]+)"', page).group(1)
    said["page JSON-LD"] = "valid" if "schema.org/CertificationActive" in page else "not valid"
    said["mark download"] = "valid" if f'marks/{cert_no}.png"' in page else "not valid"
    said["mark file"] = "valid" if (site / "marks" / f"{cert_no}.png").exists() else "not valid"
    listed = [s for s in ("valid", "suspended", "revoked", "withdrawn", "expired")
              if f"certificates/{cert_no}/" in "".join(
                  p.read_text(encoding="utf-8") for p in (site / "lists" / "status" / s).rglob("index.html"))]
    said["status lists"] = ",".join(listed)
    for name in ("data/registry.db", "site/downloads/registry.db"):
        conn = sqlite3.connect(f"file:{out / name}?mode=ro", uri=True)
        said[name] = conn.execute("select status from certificates where cert_no = ?", [cert_no]).fetchone()[0]
        conn.close()
    with open(site / "downloads" / "certificates.csv", encoding="utf-8-sig", newline="") as f:
        said["certificates.csv"] = next(r["status"] for r in csv.DictReader(f) if r["cert_no"] == cert_no)
    doc = json.loads((site / "api" / "certificates" / f"{cert_no}.json").read_text())
    said["api file"] = doc["status"]
    statement = json.loads((site / "api" / "status" / f"{rules.status_bucket(cert_no)}.json").read_text())
    said["status statement"] = json.loads(statement["payload"])["certificates"][cert_no]["status"]
    snap = json.loads(json.loads((site / "api" / "status.json").read_text())["payload"])
    said["api/status.json"] = next(c["status"] for c in snap["certificates"] if c["cert_no"] == cert_no)
    events = []
    for page_file in sorted((site / "api" / "events").glob("[0-9]*.json")):
        events += [json.loads(e["payload"]) for e in json.loads(page_file.read_text())["events"]]
    said["change feed"] = "revoked" if any(e["cert_no"] == cert_no and e["type"] == "revoked"
                                           for e in events) else "valid"
    atom = (site / "feeds" / "all.atom.xml").read_text(encoding="utf-8")
    said["atom feed"] = "revoked" if re.search(rf"<title>{cert_no} 撤销", atom) else "valid"
    meta = json.loads((site / "search" / "index" / "meta.json").read_text())
    facets = json.loads((site / "search" / "index" / "facets.json").read_text())
    cert_nos = sorted(p.name for p in (site / "certificates").iterdir() if p.is_dir())
    said["search index"] = meta["facets"]["status"][facets[cert_nos.index(cert_no)][1]][0]
    checkpoint = (site / "log" / "checkpoint").read_text().splitlines()
    said["log"] = "revoked" if int(checkpoint[1]) == len(events) and said["change feed"] == "revoked" \
        else ("valid" if int(checkpoint[1]) == len(events) else f"log {checkpoint[1]} != feed {len(events)}")
    return said


def assert_one_story(out: Path, cert_no: str, root_key: str):
    said = what_each_output_says(out, cert_no)
    story = said["api file"]
    expected = dict.fromkeys(said, story)
    expected.update({"page JSON-LD": "valid" if story == "valid" else "not valid",
                     "mark download": "valid" if story == "valid" else "not valid",
                     "mark file": "valid" if story == "valid" else "not valid",
                     "status lists": story,
                     "change feed": "revoked" if story == "revoked" else "valid",
                     "atom feed": "revoked" if story == "revoked" else "valid",
                     "log": "revoked" if story == "revoked" else "valid"})
    assert said == expected
    report = audit.audit(out / "site", root_key=root_key, now=int(time.time()))
    failed = [f for f in report.findings if "fresh" not in f.message and "stale" not in f.message]
    assert not failed, report.text()
    return story


def root_key_of(out):
    return json.loads((out / "site" / "api" / "root-key.json").read_text())["public_key"]


@pytest.mark.parametrize("step", STEPS)
def test_revocation_committed_during_any_build_step_is_all_or_nothing(base, tmp_path, step):
    db = copy_registry(base.db, tmp_path / "registry.db")
    cert_no = base.valid[0]
    out = tmp_path / "out"
    code, stderr = build_interrupted(db, base.keys, out, step,
                                     lambda: revoke_in_another_process(db, base.keys, cert_no))
    assert code == 0, stderr
    story = assert_one_story(out, cert_no, root_key_of(out))
    # The snapshot is taken at the "snapshot" step: from "validate" on, the
    # revocation belongs to the next build.
    if step != "snapshot":
        assert story == "valid"
    # The next build publishes it, everywhere.
    subprocess.run([sys.executable, str(ROOT / "publish.py"), "build", "--db", str(db), "--keys",
                    str(base.keys), "--out", str(out), "--site-url", SITE_URL],
                   check=True, capture_output=True, env=env())
    assert assert_one_story(out, cert_no, root_key_of(out)) == "revoked"


@pytest.mark.parametrize("step", ["validate", "public database", "pelican", "api", "log"])
def test_revocation_committed_during_an_incremental_build_is_all_or_nothing(base, tmp_path, step):
    """An incremental build reads the registry through one pinned read
    transaction, not a copy: a revocation committed meanwhile is the next build's."""
    db = copy_registry(base.db, tmp_path / "registry.db")
    out = tmp_path / "out"
    subprocess.run([sys.executable, str(ROOT / "publish.py"), "build", "--db", str(db), "--keys",
                    str(base.keys), "--out", str(out), "--site-url", SITE_URL],
                   check=True, capture_output=True, env=env())
    first, second = base.valid[0], base.valid[1]
    revoke_in_another_process(db, base.keys, first)  # what the incremental build is about
    summary = []
    code, stderr = build_interrupted(db, base.keys, out, step,
                                     lambda: revoke_in_another_process(db, base.keys, second), summary=summary)
    assert code == 0, stderr
    assert summary and "incremental, 1 certificate(s) changed" in summary[0], summary
    assert assert_one_story(out, first, root_key_of(out)) == "revoked"
    assert assert_one_story(out, second, root_key_of(out)) == "valid"
    subprocess.run([sys.executable, str(ROOT / "publish.py"), "build", "--db", str(db), "--keys",
                    str(base.keys), "--out", str(out), "--site-url", SITE_URL],
                   check=True, capture_output=True, env=env())
    assert assert_one_story(out, second, root_key_of(out)) == "revoked"


# publish.build (as `publish.py build` runs it) that stops itself (SIGSTOP) as it announces a step.
STOPPING_BUILD = """
import os, signal, sys
import publish
db, keys_dir, out, site_url, step = sys.argv[1:]
def progress(name):
    if name == step:
        os.kill(os.getpid(), signal.SIGSTOP)
publish.build(db, out, keys_dir=keys_dir, site_url=site_url, progress=progress)
"""


def publish_build(db, keys_dir, out):
    subprocess.run([sys.executable, str(ROOT / "publish.py"), "build", "--db", str(db), "--keys",
                    str(keys_dir), "--out", str(out), "--site-url", SITE_URL],
                   check=True, capture_output=True, env=env())


@pytest.mark.parametrize("step", ["log", "downloads"])
def test_a_build_killed_after_taking_from_the_spare_leaves_out_whole(base, tmp_path, step):
    """From the second incremental build on, a build moves the spare's pages,
    certificate files (step "api") and marks (step "marks") into its own
    directory and rewrites the changed ones there (docs/publishing.md,
    "Incremental builds"); the spare's files may be hard links shared with
    the served build. Killed (SIGKILL) after taking them, it leaves OUT as
    it was, byte for byte, and the next build publishes the change."""
    db = copy_registry(base.db, tmp_path / "registry.db")
    out = tmp_path / "out"
    first, second = base.valid[0], base.valid[1]
    publish_build(db, base.keys, out)
    revoke_in_another_process(db, base.keys, first)
    publish_build(db, base.keys, out)  # keeps the first build as the spare
    spare = tmp_path / ".out.spare"
    taken = {part: (spare / "site" / part).stat().st_ino for part in ("api/certificates", "marks")}
    served, before = os.readlink(out), file_digests(out)
    revoke_in_another_process(db, base.keys, second)
    # The build stops itself as it announces the step (SIGSTOP from its own
    # progress callback), then is killed: killing it when its progress line
    # was read let a fast build reach its switch first on a loaded machine.
    proc = subprocess.Popen(
        [sys.executable, "-c", STOPPING_BUILD, str(db), str(base.keys), str(out), SITE_URL, step],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env(), cwd=ROOT, start_new_session=True)
    try:
        _, status = os.waitpid(proc.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), proc.communicate()[1].decode()
        os.killpg(proc.pid, signal.SIGKILL)  # the build and its workers
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # The killed build had moved the spare's directories into its own.
    killed = [p for p in tmp_path.glob(".out.build-*") if p.name != served]
    assert len(killed) == 1 and not spare.exists()
    assert (killed[0] / "site" / "api" / "certificates").stat().st_ino == taken["api/certificates"]
    if step == "downloads":
        assert (killed[0] / "site" / "marks").stat().st_ino == taken["marks"]
    # OUT is the build it was, every file with its bytes (the second
    # certificate's file and mark, rewritten in the taken tree, included).
    assert os.readlink(out) == served and file_digests(out) == before
    assert assert_one_story(out, second, root_key_of(out)) == "valid"
    # The next build (no spare left: it links the served build's files) publishes it.
    publish_build(db, base.keys, out)
    assert assert_one_story(out, second, root_key_of(out)) == "revoked"
    assert assert_one_story(out, first, root_key_of(out)) == "revoked"


def test_a_product_renamed_during_an_incremental_build_is_the_next_builds(base, tmp_path):
    """The public database's rows of a changed certificate are read on a second
    connection to the registry; a commit after the build pinned its state
    (here the certificate's product renamed, between its revocation and the
    public database step) must not reach them: the page and the row of one
    build give the same name, the pinned one, and the next build the new one."""
    db = copy_registry(base.db, tmp_path / "registry.db")
    out = tmp_path / "out"
    subprocess.run([sys.executable, str(ROOT / "publish.py"), "build", "--db", str(db), "--keys",
                    str(base.keys), "--out", str(out), "--site-url", SITE_URL],
                   check=True, capture_output=True, env=env())
    cert_no = base.valid[0]
    product, old_name = sqlite3.connect(db).execute(
        "select p.id, p.name_zh from certificates c join products p on p.id = c.product where c.cert_no = ?",
        [cert_no]).fetchone()
    revoke_in_another_process(db, base.keys, cert_no)

    def rename():
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            conn.execute("update products set name_zh = '更名后的产品' where id = ?", [product])

    summary = []
    code, stderr = build_interrupted(db, base.keys, out, "public database", rename, summary=summary)
    assert code == 0, stderr
    assert summary and "incremental, 1 certificate(s) changed" in summary[0], summary

    def names(out):
        page = (out / "site" / "certificates" / cert_no / "index.html").read_text(encoding="utf-8")
        conn = sqlite3.connect(f"file:{out / 'data' / 'registry.db'}?mode=ro", uri=True)
        try:
            row = conn.execute("select product_name_zh, status from certificates where cert_no = ?",
                               [cert_no]).fetchone()
        finally:
            conn.close()
        return ("更名后的产品" in page, old_name in page), row

    assert names(out) == ((False, True), (old_name, "revoked"))
    subprocess.run([sys.executable, str(ROOT / "publish.py"), "build", "--db", str(db), "--keys",
                    str(base.keys), "--out", str(out), "--site-url", SITE_URL],
                   check=True, capture_output=True, env=env())
    assert names(out) == ((True, False), ("更名后的产品", "revoked"))


@pytest.mark.parametrize("step", STEPS)
def test_status_changed_without_an_event_during_a_build_is_never_published(base, tmp_path, step):
    db = copy_registry(base.db, tmp_path / "registry.db")
    cert_no = base.valid[0]
    out = tmp_path / "out"
    code, stderr = build_interrupted(db, base.keys, out, step, lambda: tamper_in_another_process(db, cert_no))
    if code != 0:
        # Before the snapshot's copy: the build refuses in one line naming the
        # certificate, and publishes nothing.
        assert step == "snapshot" and stderr.count("\nError: ") + stderr.startswith("Error: ") == 1, stderr
        assert cert_no in stderr and "Traceback" not in stderr and not out.exists()
        return
    # After it: never in the output.
    assert assert_one_story(out, cert_no, root_key_of(out)) == "valid"
    # A verifier of the published site and batch verification agree.
    mark = sqlite3.connect(db).execute("select mark_payload from certificates where cert_no = ?",
                                       [cert_no]).fetchone()[0]
    result = verify.verification_result(mark, out / "site", root_public_key=root_key_of(out),
                                        today=clock.today())
    assert result.verdict in ("valid", "status_unknown"), result.reason  # stale is fine; never revoked
    # The next build refuses the tampered registry, naming the certificate, and signs nothing.
    done = subprocess.run([sys.executable, str(ROOT / "publish.py"), "build", "--db", str(db), "--keys",
                           str(base.keys), "--out", str(out), "--site-url", SITE_URL],
                          capture_output=True, text=True, env=env(), check=False)
    assert done.returncode == 1 and cert_no in done.stderr and "Traceback" not in done.stderr


def test_check_and_build_during_concurrent_issuing_and_revoking(base, tmp_path):
    db = copy_registry(base.db, tmp_path / "registry.db")
    stop = tmp_path / "stop"
    writers = [subprocess.Popen([sys.executable, str(WRITER), mode, str(db), str(base.keys), str(stop)],
                                env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for mode in ("issue", "revoke")]
    try:
        time.sleep(1.0)
        checks = []
        for _ in range(4):
            done = subprocess.run([sys.executable, "-m", "registry", "check", "--db", str(db)],
                                  capture_output=True, text=True, env=env(), cwd=ROOT, check=False)
            checks.append((done.returncode, done.stdout + done.stderr))
        out = tmp_path / "out"
        built = subprocess.run([sys.executable, str(ROOT / "publish.py"), "build", "--db", str(db), "--keys",
                                str(base.keys), "--out", str(out), "--site-url", SITE_URL],
                               capture_output=True, text=True, env=env(), check=False)
    finally:
        stop.touch()
        results = [w.communicate(timeout=120) for w in writers]
    assert all(w.returncode == 0 for w in writers), results
    counts = [int(r[0].split()[-1]) for r in results]
    assert all(n > 0 for n in counts), counts   # both writers really wrote meanwhile
    assert all(code == 0 and "registry is sound" in text for code, text in checks), checks
    assert built.returncode == 0, built.stderr
    report = audit.audit(out / "site", root_key=root_key_of(out), now=int(time.time()))
    assert not [f for f in report.findings if "fresh" not in f.message and "stale" not in f.message], report.text()
    # The public database says exactly what the signed api files say.
    conn = sqlite3.connect(f"file:{out / 'data' / 'registry.db'}?mode=ro", uri=True)
    for cert_no, status in conn.execute("select cert_no, status from certificates"):
        assert report.statuses[cert_no] == status, cert_no
    conn.close()


def test_event_columns_that_disagree_with_the_signed_payload_stop_the_build(base, tmp_path):
    """Statuses are replayed from the events' type and date columns
    (history.replayed_statuses), which validation checks against the signed
    payloads before anything is signed: a revocation whose column was
    rewritten to a harmless event never publishes the certificate as valid."""
    db = copy_registry(base.db, tmp_path / "registry.db")
    cert_no, seq = sqlite3.connect(db).execute(
        "select cert_no, seq from events where type = 'revoked' order by seq limit 1").fetchone()
    builders.tamper(db, "update events set type = 'surveillance_passed' where seq = ?", [seq])
    # The cached status follows the rewritten column, so only the signatures can tell.
    conn = schema.connect(db)
    status, since, _last = history.replayed_statuses(conn)[cert_no]
    conn.conn.close()
    assert status == "valid"
    builders.tamper(db, "update certificates set status = ?, status_date = ? where cert_no = ?",
                    [status, since, cert_no])
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(ROOT / "publish.py"), "build", "--db", str(db), "--keys",
                           str(base.keys), "--out", str(out), "--site-url", SITE_URL],
                          capture_output=True, text=True, env=env(), check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "the registry failed validation" in done.stderr and "column says 'surveillance_passed'" in done.stderr
    assert not os.path.lexists(out)
