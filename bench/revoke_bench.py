"""Revocation → visible, measured where users see it, with ``publish.py serve`` running.

    .venv/bin/python bench/revoke_bench.py [--size N | --db REG --keys KEYS] [--runs 5] [--work DIR]

It copies the registry (``--db``/``--keys``, or a demo registry of ``--size``
certificates made by ``bench/publish_bench.py``'s ``make_registry``) into a
work directory, starts ``publish.py serve`` on it (a build, then the site on
127.0.0.1 and Datasette on the next port, rebuilding on every commit), and
then, ``--runs`` times: opens the verify page of a valid certificate's mark
in Chromium (Debian's ``chromium``, Playwright) and checks it says valid;
revokes the certificate (``Registry.revoke``, committed in this process);
and from the commit polls (every 50 ms) three places until each says revoked,
each in its own process so that no observer waits for another's look:

* the verify page (its verdict box, ``data-verdict``), scanned again each time
  the served ``log/checkpoint`` changes (a conditional request: every build
  signs a new checkpoint), as a person scanning the mark once the new build
  is served would; reloading it 20 times a second would take the CPU the
  build needs;
* ``api/status.json``, fetched and parsed when the checkpoint changes (the
  time taken: when the download that said revoked ended; the bench's own
  parse of 33 MB at 100k, ~1 s, is not the publisher's delay);
* Datasette's row JSON of the certificate (the live database), every poll.

It prints each run's seconds for the three and their medians, and the
build's own summary lines (``publish.py serve`` prints one per rebuild).
Figures, not assertions: the issue's goal is a median ≤ 5 s at 100,000
certificates, ≤ 30 s at 1,000,000.
"""

import argparse
import contextlib
import json
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "tests")]

import publish_bench
from helpers import CHROMIUM_ARGS, chromium_executable

from registry.store import queries, schema
from registry.store.operations import Registry

POLL = 0.05


def free_port_pair() -> int:
    """A port P with P and P+1 free on 127.0.0.1 (the site and Datasette)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65000:
            with socket.socket() as t, contextlib.suppress(OSError):
                t.bind(("127.0.0.1", port + 1))
                return port
    raise SystemExit("no free pair of ports")


def get(url: str, headers=None, timeout=10):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.headers, response.read()


def wait_ready(site: str, datasette: str, proc, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"publish.py serve exited with {proc.returncode}")
        with contextlib.suppress(OSError, urllib.error.URLError):
            get(site + "/api/trust-list.json")
            get(datasette + "/registry.json")
            return
        time.sleep(0.5)
    raise SystemExit("publish.py serve did not come up")


class StatusJson:
    """``api/status.json`` as a poller sees it: fetched again only when its ETag
    changes; ``fetched``: the ``time.monotonic()`` its last download ended."""

    def __init__(self, url: str):
        self.url, self.etag, self.statuses, self.fetched = url, None, {}, 0.0

    def status(self, cert_no: str) -> str | None:
        try:
            _, headers, body = get(self.url, {"If-None-Match": self.etag} if self.etag else {})
        except urllib.error.HTTPError as e:
            if e.code != 304:
                raise
        else:
            self.fetched = time.monotonic()
            self.etag = headers.get("ETag")
            snapshot = json.loads(json.loads(body)["payload"])
            self.statuses = {c["cert_no"]: c["status"] for c in snapshot["certificates"]}
        return self.statuses.get(cert_no)


class Checkpoint:
    """The served ``log/checkpoint``: :meth:`changed` is True when its ETag is not
    the one seen last (every build signs a new one)."""

    def __init__(self, url: str):
        self.url, self.etag = url, None
        self.changed()

    def changed(self) -> bool:
        try:
            _, headers, _ = get(self.url, {"If-None-Match": self.etag} if self.etag else {})
        except urllib.error.HTTPError as e:
            if e.code != 304:
                raise
            return False
        except (OSError, urllib.error.URLError):
            return False
        etag = headers.get("ETag")
        if etag == self.etag and etag is not None:
            return False
        self.etag = etag
        return True


def datasette_status(datasette: str, cert_no: str) -> str | None:
    url = f"{datasette}/registry/certificates/{urllib.parse.quote(cert_no)}.json?_shape=objects"
    try:
        _, _, body = get(url)
    except (OSError, urllib.error.URLError):
        return None
    rows = json.loads(body).get("rows") or []
    return rows[0]["status"] if rows else None


def watch(seen: dict, name: str, committed: float, look) -> None:
    """Call ``look()`` every POLL seconds until it is true (30 minutes at most);
    ``seen[name]``: the seconds from the commit."""
    while time.monotonic() - committed < 1800:
        if look():
            seen[name] = time.monotonic() - committed
            return
        time.sleep(POLL)


def observe(name: str, site: str, datasette: str, cert_no: str, conn) -> None:
    """Observer ``name`` ("api/status.json" or "datasette") in a process of its
    own (parsing 33 MB of status.json holds a thread's interpreter for a
    second, which would delay the verify page's look): waits for the commit's
    ``time.monotonic()`` (the same clock in every process) on ``conn``, then
    sends the seconds until ``cert_no`` is revoked there (None: not within 30 minutes)."""
    if name == "api/status.json":
        status_json, checkpoint = StatusJson(site + "/api/status.json"), Checkpoint(site + "/log/checkpoint")
        status_json.status(cert_no)

        def look():
            return checkpoint.changed() and status_json.status(cert_no) == "revoked"
    else:
        def look():
            return datasette_status(datasette, cert_no) == "revoked"
    conn.send("ready")
    committed = conn.recv()
    seen: dict = {}
    watch(seen, name, committed, look)
    if name == "api/status.json" and name in seen:
        # When the served file said revoked: its download's end. Parsing its
        # 33 MB here (~1 s at 100k) is this poller's work, not the publisher's.
        seen[name] = status_json.fetched - committed
    conn.send(seen.get(name))


def page_verdict(page, *, reload=True) -> str | None:
    """Reload the verify page (unless ``reload`` is False: it was just opened)
    and wait for its verdict (None: none within 10 s)."""
    if reload:
        page.reload(wait_until="commit")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        verdict = page.evaluate("() => document.getElementById('verdict')?.dataset.verdict || null")
        if verdict:
            return verdict
        time.sleep(0.02)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=10_000, help="demo registry size (without --db)")
    ap.add_argument("--db", help="a registry to copy (its keys: --keys)")
    ap.add_argument("--keys")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work", help="work directory (kept)")
    ap.add_argument("--port", type=int, help="the site's port (Datasette: the next one); the same port "
                    "in a kept --work lets serve's first build be incremental")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="revoke-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.db:
        source_db, source_keys = Path(args.db), Path(args.keys or Path(args.db).parent / "keys")
    else:
        source_db, source_keys = publish_bench.make_registry(work / "made", args.size)
    db, keys = work / "registry.db", work / "keys"
    if not db.exists():
        schema.snapshot_to(source_db, db)
        shutil.copytree(source_keys, keys)
    # The revocations' date: the bench's day, or the registry's last event's
    # when that is later (events are in date order; a reused registry has them).
    conn = schema.connect(db, readonly=True)
    try:
        today = max(publish_bench.TODAY, conn.execute("select max(date) from events").fetchone()[0] or "")
    finally:
        conn.conn.close()
    port = args.port or free_port_pair()
    site, datasette = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
    env = dict(os.environ, SZZZ_PASSPHRASE=publish_bench.PASSPHRASE, SZZZ_TODAY=today)
    log = open(work / "serve.log", "w")  # noqa: SIM115 - open while serve runs
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(ROOT / "publish.py"), "serve", "--db", str(db),
                             "--keys", str(keys), "--out", str(work / "output"), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    runs = []
    spawn = multiprocessing.get_context("spawn")
    try:
        wait_ready(site, datasette, proc, time.monotonic() + 3600)
        print(f"serve up after {time.monotonic() - started:.1f} s (its first build included)", flush=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_executable(), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page()
            conn = schema.connect(db, readonly=True)
            try:
                valid = [no for (no,) in conn.execute(
                    "select cert_no from certificates where status = 'valid' order by cert_no")]
                marks = {no: text for no, _programme, text in queries.mark_rows(conn, valid[:args.runs * 3])}
            finally:
                conn.conn.close()
            for cert_no in list(marks)[:args.runs]:
                page.goto(f"{site}/v/#{marks[cert_no]}", wait_until="commit")
                before = page_verdict(page, reload=False)
                if before != "valid":
                    raise SystemExit(f"{cert_no}: the verify page says {before!r} before the revocation")
                # Three observers at once, each in its own process (the page's:
                # this one, through Playwright), so that none waits for
                # another's look. The site's files are fetched and the page
                # scanned again only when the served checkpoint changed (a new
                # build is served): reloading the page 20 times a second would
                # take the CPU the build needs, which no real scanner does.
                page_checkpoint = Checkpoint(site + "/log/checkpoint")
                observers = {}
                for name in ("api/status.json", "datasette"):
                    ours, theirs = spawn.Pipe()
                    observer = spawn.Process(target=observe, args=(name, site, datasette, cert_no, theirs), daemon=True)
                    observer.start()
                    ours.recv()  # "ready": started and looked once before the commit
                    observers[name] = (observer, ours)
                reg = Registry.open(db, keys, publish_bench.PASSPHRASE.encode())
                try:
                    reg.today_override = today
                    reg.revoke(cert_no, "benchmark revocation", date=today)
                finally:
                    reg.close()
                committed = time.monotonic()
                for _, ours in observers.values():
                    ours.send(committed)
                seen = {}
                watch(seen, "verify page", committed,
                      lambda c=page_checkpoint: c.changed() and page_verdict(page) == "revoked")
                for name, (observer, ours) in observers.items():
                    if (seconds := ours.recv()) is not None:
                        seen[name] = seconds
                    observer.join()
                runs.append(seen)
                print(f"{cert_no}: " + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(seen.items())), flush=True)
                time.sleep(1)  # let serve's own follow-up (live database, re-cosign) settle
            browser.close()
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(30)
        if proc.poll() is None:
            proc.kill()
        log.close()
    for where in ("verify page", "api/status.json", "datasette"):
        values = [r[where] for r in runs if where in r]
        if values:
            print(f"median {where}: {statistics.median(values):.2f} s over {len(values)} runs "
                  f"(min {min(values):.2f}, max {max(values):.2f})")
    builds = [line.strip() for line in (work / "serve.log").read_text(encoding="utf-8").splitlines()
              if line.startswith("built ")]
    print("builds:", *builds[-args.runs:], sep="\n  ")


if __name__ == "__main__":
    main()
